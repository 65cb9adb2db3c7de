"""Mix inside DataLoader workers: a ``collate_fn`` that collates, converts images, and mixes the batch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError
from .functional import map_tensors
from .mixers.base import Mixer

__all__ = ["MixupCollate"]

class MixupCollate:
    """A ``collate_fn`` that collates a list of samples, then mixes the batch with ``mixer`` in the
    DataLoader's workers; the loop receives ``(x_mixed, target)`` (a :class:`~mixup_any.MixedTarget`).

    Integer inputs (``uint8`` images) raise unless ``to_float`` converts them. Each worker reseeds its copy
    of the mixer from ``get_worker_info().seed`` (new each epoch, following ``DataLoader(generator=...)``)
    and the mixer's ``seed``, so workers never draw the same plans; with ``num_workers=0`` the mixer's
    generator is used as it is. A worker's copy does not see ``mixer.eval()``: use this collate on the
    training DataLoader only.

    Args:
        mixer: any :class:`~mixup_any.Mixer` (``MixUp``, ``CutMix``, ``RandomChoice`` ...).
        collate_fn: how samples become a batch; ``torch.utils.data.default_collate`` by default.
        to_float: convert integer inputs to ``float32`` (``True``) or to this float dtype, times ``scale``.
        scale: ``None`` means ``1/255`` for ``uint8`` (pixels in ``[0, 1]``) and 1 otherwise.
        input_key: where the inputs are in the collated batch (an index or a dict key).
        target_key: where the targets are.

    Example:
        >>> from mixup_any import MixUp
        >>> collate = MixupCollate(MixUp(alpha=0.4, num_classes=3, seed=0), to_float=True)
        >>> samples = [(torch.full((3, 4, 4), 255, dtype=torch.uint8), 0), (torch.zeros(3, 4, 4, dtype=torch.uint8), 2)]
        >>> x, target = collate(samples)
        >>> x.dtype, float(x.max()) <= 1.0, target.soft().shape
        (torch.float32, True, torch.Size([2, 3]))
    """

    def __init__(
        self,
        mixer: Mixer,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        *,
        to_float: bool | torch.dtype = False,
        scale: float | None = None,
        input_key: int | str = 0,
        target_key: int | str = 1,
    ) -> None:
        if not isinstance(mixer, Mixer):
            raise MixupError(f"MixupCollate needs a Mixer (e.g. MixUp, CutMix), got {type(mixer).__name__}.")
        if not (isinstance(to_float, bool) or (isinstance(to_float, torch.dtype) and to_float.is_floating_point)):
            raise MixupError(f"to_float must be True/False or a float dtype, got {to_float!r}.")
        self.mixer = mixer
        self.collate_fn = collate_fn
        self.to_float = to_float
        self.scale = scale
        self.input_key = input_key
        self.target_key = target_key
        self._worker: int | None = None

    def _reseed_for_worker(self) -> None:
        info = torch.utils.data.get_worker_info()
        if info is None or self._worker == info.id:
            return
        # info.seed = base_seed + worker id: distinct per worker, new each epoch, set by the DataLoader's RNG
        own = self.mixer.seed if self.mixer.seed is not None else 0
        self.mixer.manual_seed((info.seed * 1_000_003 + own) % (2**63 - 1))
        self._worker = info.id

    def _convert(self, x: Tensor, path: str) -> Tensor:
        if x.is_floating_point():
            return x
        if x.is_complex():
            raise MixupError(f"to_float converts integer or bool inputs; {path} is a {x.dtype} tensor.")
        dtype = torch.float32 if self.to_float is True else self.to_float
        scale = self.scale if self.scale is not None else (1.0 / 255.0 if x.dtype == torch.uint8 else 1.0)
        return x.to(dtype).mul_(scale)

    def __call__(self, samples: list[Any]) -> Any:
        self._reseed_for_worker()
        collate = self.collate_fn or torch.utils.data.default_collate
        if not isinstance(samples, Sequence) or len(samples) == 0:
            raise MixupError(f"MixupCollate needs a non-empty list of samples, got {samples!r:.60}.")
        try:
            batch = collate(samples)
        except (RuntimeError, IndexError) as err:  # e.g. samples of different shapes cannot be stacked
            raise MixupError(f"collate_fn could not batch these {len(samples)} samples: {err}") from err
        is_dict = isinstance(batch, Mapping)
        keys = list(batch) if is_dict else range(len(batch)) if isinstance(batch, (tuple, list)) else []
        for name, key in (("input_key", self.input_key), ("target_key", self.target_key)):
            if key not in keys:
                raise MixupError(f"{name}={key!r} is not in the collated batch (a {type(batch).__name__} with keys "
                                 f"{list(keys)}); MixupCollate needs a tuple/list (inputs, targets) or a dict "
                                 "holding input_key and target_key.")
        x = batch[self.input_key]
        x_mixed, target = self.mixer(map_tensors(x, self._convert, "x") if self.to_float else x, batch[self.target_key])
        out: Any = dict(batch) if is_dict else list(batch)
        out[self.input_key], out[self.target_key] = x_mixed, target
        return out if is_dict else tuple(out)

    def __repr__(self) -> str:
        conv = f", to_float={self.to_float!r}" if self.to_float else ""
        return f"MixupCollate({self.mixer!r}{conv})"
