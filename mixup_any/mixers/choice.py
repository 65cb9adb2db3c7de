"""Choose between mixers (e.g. MixUp and CutMix) per batch or per sample, by composition instead of flags."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from numbers import Real
from typing import Any

import torch
from torch import Tensor, nn

from ..exceptions import MixupError
from ..params import MixParams
from .base import Mixer
from .cutmix import CutMix, _map_float_leaves, cut_mix
from .mixup import MixUp

__all__ = ["RandomChoice"]


class RandomChoice(Mixer):
    """Apply one of several mixers, chosen at random with probabilities ``p``.

    Per batch (``per_sample=False``, timm's and torchvision's switch): one member is drawn for the
    batch and its own plan is used. Per sample (``per_sample=True``): every member draws a plan for the
    whole batch and each row takes the plan of the member it drew, so one batch holds CutMix rows (a box,
    pure paste) and MixUp rows (a ``lerp``), applied in one pass. Per-sample choice supports
    :class:`MixUp` and :class:`CutMix` members (CutMix members must share ``axis``).

    Each member keeps its own policy (``alpha``, ``p``, pairing, ``min_area`` ...); all randomness comes
    from this mixer's generator, so one seed replays everything. Targets (``num_classes``, ``target``,
    ``label_smoothing``) must agree between members; they are taken from the first one.

    Args:
        mixers: the members, e.g. ``[MixUp(alpha=0.8), CutMix(alpha=1.0)]``.
        p: probability of each member (must sum to 1); ``None`` means uniform.
        per_sample: choose per row instead of per batch.
        seed: seed of this mixer's generator (the members' own generators are not used).

    Example:
        >>> mixer = RandomChoice([MixUp(alpha=0.8), CutMix(alpha=1.0)], p=[0.5, 0.5], seed=0)
        >>> x, target = mixer(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
        >>> x.shape, target.lam.shape
        (torch.Size([4, 3, 8, 8]), torch.Size([4]))
    """

    # RandomChoice bends the Mixer contract: ``p`` holds one probability per member (Mixer: one apply
    # probability) and the target settings are read-only views of the first member's.
    p: Sequence[float] | None  # type: ignore[assignment]

    def __init__(
        self,
        mixers: Sequence[Mixer],
        p: Sequence[float] | None = None,
        *,
        per_sample: bool = False,
        seed: int | None = None,
    ) -> None:
        self.mixers = mixers  # stored as given, so sklearn.clone sees its own arguments back
        self.p = p
        self.per_sample = per_sample
        self.seed = seed
        self.schedule = None
        self._validate()
        self.training = True
        self.enabled = True
        self._model_ref = None
        self._seed = None
        self._generators = {}

    @classmethod
    def _param_names(cls) -> list[str]:
        return ["mixers", "p", "per_sample", "seed"]

    def _validate(self) -> None:
        if not isinstance(self.mixers, (list, tuple)) or not self.mixers:
            raise MixupError(f"RandomChoice needs a non-empty list of mixers, got {self.mixers!r}.")
        for m in self.mixers:
            if not isinstance(m, Mixer):
                raise MixupError(f"RandomChoice members must be Mixer instances, got {type(m).__name__}.")
        if self.p is not None:
            if not isinstance(self.p, (list, tuple)) or not all(isinstance(v, Real) and not isinstance(v, bool)
                                                       for v in self.p):
                raise MixupError(f"p must be a list of probabilities, one per mixer, got {self.p!r}.")
            if len(self.p) != len(self.mixers):
                raise MixupError(f"p has {len(self.p)} probabilities for {len(self.mixers)} mixers; give one each.")
            if any(v < 0 for v in self.p) or not math.isclose(sum(self.p), 1.0, rel_tol=0, abs_tol=1e-6):
                raise MixupError(
                    f"p must be non-negative probabilities that sum to 1, got {self.p} (sum {sum(self.p):.6g}). "
                    "Normalise them, e.g. p=[w / sum(w) for w in w]."
                )
        first = self.mixers[0]
        for m in self.mixers[1:]:
            for name in ("num_classes", "target", "label_smoothing"):
                if getattr(m, name) != getattr(first, name):
                    raise MixupError(
                        f"All members must agree on {name}: {first!r} has {getattr(first, name)!r}, "
                        f"{m!r} has {getattr(m, name)!r}."
                    )
        if self.per_sample:
            cut_axes = {tuple(m.axis) if not isinstance(m.axis, int) else (m.axis,)
                        for m in self.mixers if isinstance(m, CutMix)}
            bad = [m for m in self.mixers if type(m) not in (MixUp, CutMix)]
            if bad or len(cut_axes) > 1:
                raise MixupError(
                    "per_sample=True combines MixUp and CutMix members (CutMix members with one shared axis) "
                    f"in one pass; got {self.mixers!r}. Use per_sample=False to switch between other mixers."
                )
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise MixupError(f"seed must be an int or None, got {self.seed!r}.")

    # targets are configured on the members
    @property
    def num_classes(self) -> Any:  # type: ignore[override]  # read-only: see the class comment
        return self.mixers[0].num_classes

    @property
    def target(self) -> Any:  # type: ignore[override]  # read-only: see the class comment
        return self.mixers[0].target

    @property
    def label_smoothing(self) -> Any:  # type: ignore[override]  # read-only: see the class comment
        return self.mixers[0].label_smoothing

    @property
    def pairing(self) -> Any:
        return self.mixers[0].pairing

    @property
    def exclude_classes(self) -> Any:  # type: ignore[override]  # read-only: see the class comment
        return None

    def _weights(self) -> list[float]:
        n = len(self.mixers)
        return [float(v) for v in self.p] if self.p is not None else [1.0 / n] * n

    def train(self, mode: bool = True) -> RandomChoice:
        self.training = mode
        for m in self.mixers:
            m.train(mode)
        return self

    def follow(self, model: nn.Module | None) -> RandomChoice:
        super().follow(model)
        for m in self.mixers:
            m.follow(model)
        return self

    def set_epoch(self, epoch: int) -> None:
        for m in self.mixers:
            m.set_epoch(epoch)

    def active(self) -> bool:
        return self.enabled and self.is_training

    def sample(
        self,
        shape: torch.Size | Sequence[int],
        *,
        labels: Tensor | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> MixParams:
        """Draw the plan: the chosen member's plan (per batch) or a row-wise combination (per sample).

        The plan records the choice in ``extras["choice"]``: an int (per batch) or a ``(B,)`` tensor.
        """
        if len(shape) == 0 or int(shape[0]) == 0:
            raise MixupError(f"Cannot mix a batch of shape {tuple(shape)}; expected (B, ...) with B >= 1.")
        b = int(shape[0])
        dev = torch.device(labels.device if labels is not None else (device if device is not None else "cpu"))
        if not self.active():
            return MixParams.identity(b, dev)
        gen = generator if generator is not None else self.generator_for(dev)
        if not self.per_sample:
            # which member mixes is a host decision, drawn on the CPU (a CPU generator given for this call, else
            # the mixer's own), so reading it is no device sync
            host = generator if generator is not None and generator.device.type == "cpu" else self.generator
            k = int(torch.multinomial(torch.tensor(self._weights()), 1, generator=host))
            params = self.mixers[k].sample(shape, labels=labels, device=dev, generator=gen)
            return replace(params, extras={**params.extras, "choice": k})
        # member k for rows whose uniform draw falls in [P(<k), P(<=k)); thresholds are Python floats, nothing is copied
        u = torch.rand(b, generator=gen, device=dev, dtype=torch.float64)
        choice = torch.zeros(b, dtype=torch.int64, device=dev)
        for threshold in list(itertools.accumulate(self._weights()))[:-1]:
            choice += u >= threshold
        plans = [m.sample(shape, labels=labels, device=dev, generator=gen) for m in self.mixers]
        lam = torch.ones(b, device=dev)
        index = torch.arange(b, device=dev)
        cut = torch.zeros(b, dtype=torch.bool, device=dev)
        box = None
        for k, (m, pk) in enumerate(zip(self.mixers, plans, strict=True)):
            rows = choice == k
            if not pk.mixed:
                continue
            lam = torch.where(rows, pk.lam, lam)
            index = torch.where(rows, pk.index, index)
            if isinstance(m, CutMix):
                bk = pk.extras["box"]
                box = torch.zeros_like(bk) if box is None else box
                box = torch.where(rows[:, None], bk, box)
                cut = cut | rows
        extras: dict[str, Any] = {"choice": choice, "cut": cut}
        if box is not None:
            extras["box"] = box
        return MixParams(lam=lam, index=index, extras=extras)

    def mix(self, x: Any, params: MixParams, *, inplace: bool = False) -> Any:
        """Apply a plan from :meth:`sample` to a tensor ``(B, ...)`` or a nested batch."""
        if not params.mixed:
            return self.mixers[0]._unmixed(x)
        choice = params.extras.get("choice")
        if choice is None:
            raise MixupError("These params were not drawn by RandomChoice.sample (no 'choice' in extras).")
        if isinstance(choice, int):
            return self.mixers[choice].mix(x, params, inplace=inplace)
        cutmix = next((m for m in self.mixers if isinstance(m, CutMix)), None)
        box = params.extras.get("box")
        if cutmix is None or box is None:  # only MixUp members: a plain per-row lerp
            return Mixer.mix(self, x, params, inplace=inplace)
        # CutMix rows: blend weight 1 outside the box (pure paste); MixUp rows: an empty box and their lam
        blend = torch.where(params.extras["cut"], torch.ones_like(params.lam), params.lam)

        def one(t: Tensor, path: str) -> Tensor:
            return cut_mix(t, params.index, box, cutmix.axes_for(t.shape), blend=blend, inplace=inplace)

        return _map_float_leaves(x, one, "x")

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["mixers"] = [m.state_dict() for m in self.mixers]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        for m, s in zip(self.mixers, state.get("mixers", []), strict=False):
            m.load_state_dict(s)

    def __repr__(self) -> str:
        extra = f", p={self.p!r}" if self.p is not None else ""
        extra += ", per_sample=True" if self.per_sample else ""
        extra += f", seed={self.seed!r}" if self.seed is not None else ""
        return f"RandomChoice([{', '.join(map(repr, self.mixers))}]{extra})"
