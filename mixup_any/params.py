"""One draw of mixing parameters (:class:`MixParams`), shared by every site of a batch.

Convention, fixed for the whole library: ``lam`` is the weight of each row's *own* sample,
``x̃[i] = lam[i] * x[i] + (1 - lam[i]) * x[index[i]]`` (as in timm and torchvision). The samplers that
draw a plan are in :mod:`mixup_any.sampling`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError

__all__ = ["MixParams"]


@dataclass(frozen=True)
class MixParams:
    """One draw of mixing parameters, shared by every site of a batch.

    ``x̃[i] = lam[i] * x[i] + (1 - lam[i]) * x[index[i]]``: ``lam`` weighs the row's own sample.

    Attributes:
        lam: ``(B,)`` float32 weight of each row's own sample, in ``[0, 1]``; a per-batch draw
            is one value repeated, so every consumer handles one shape.
        index: ``(B,)`` int64; row ``i`` is mixed with row ``index[i]``.
        extras: mixer-specific draws, e.g. ``{"box": (B, 4) tensor}`` for CutMix.
        site: name of the site that mixes (hooks), or ``None`` for the input.
        mixed: ``False`` when the plan is known to be the identity (eval mode, ``alpha=0``,
            ``p=0``, schedule off); mixers then return their input untouched.

    Example:
        >>> p = MixParams(lam=torch.tensor([0.7, 1.0]), index=torch.tensor([1, 0]))
        >>> p.mix(torch.tensor([[10.0], [20.0]]))
        tensor([[13.],
                [20.]])
    """

    lam: Tensor
    index: Tensor
    extras: Mapping[str, Any] = field(default_factory=dict)
    site: str | None = None
    mixed: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.lam, Tensor) or not isinstance(self.index, Tensor):
            raise MixupError(
                f"MixParams needs tensors for lam and index, got {type(self.lam).__name__} and "
                f"{type(self.index).__name__}."
            )
        if self.lam.ndim != 1 or self.index.shape != self.lam.shape:
            raise MixupError(
                f"MixParams needs lam and index of the same shape (B,), got lam {tuple(self.lam.shape)} "
                f"and index {tuple(self.index.shape)}."
            )
        if not self.lam.is_floating_point():
            raise MixupError(f"MixParams.lam must be a float tensor, got {self.lam.dtype}.")
        if self.index.dtype not in (torch.int64, torch.int32):
            raise MixupError(f"MixParams.index must be an integer tensor, got {self.index.dtype}.")

    @property
    def batch_size(self) -> int:
        return self.lam.shape[0]

    @property
    def device(self) -> torch.device:
        return self.lam.device

    @classmethod
    def identity(cls, batch_size: int, device: torch.device | str | None = None) -> MixParams:
        """The plan that mixes nothing: ``lam = 1`` and every row paired with itself."""
        return cls(
            lam=torch.ones(batch_size, device=device),
            index=torch.arange(batch_size, device=device),
            mixed=False,
        )

    def mix(self, x: Tensor, *, out: Tensor | None = None, inplace: bool = False) -> Tensor:
        """Mix ``x`` of shape ``(B, ...)`` with this plan (see :func:`mixup_any.functional.mix`).

        Only plans that are a λ and a pairing: a plan with extras (a CutMix box, a RandomChoice choice) is
        replayed by the mixer that drew it, ``mixer.mix(x, params)``; a lerp would silently ignore the box.
        """
        from .functional import mix

        if self.extras:
            raise MixupError(
                f"This plan has extras {sorted(self.extras)}: replay it with the mixer that drew it "
                "(mixer.mix(x, params)); MixParams.mix only interpolates with lam and index."
            )
        if not self.mixed:
            return x
        return mix(x, self.lam, self.index, out=out, inplace=inplace)

    def at_site(self, site: str | None) -> MixParams:
        """This plan labelled with ``site`` (a copy; the tensors are shared)."""
        return self if site == self.site else replace(self, site=site)

    def to(self, device: torch.device | str) -> MixParams:
        """This plan on ``device`` (extras that are tensors move too)."""
        extras = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.extras.items()}
        return replace(self, lam=self.lam.to(device), index=self.index.to(device), extras=extras)

    def state_dict(self) -> dict[str, Any]:
        """A plain dict (CPU tensors) for logging or saving; :meth:`from_state_dict` replays it."""
        extras = {k: v.detach().cpu() if isinstance(v, Tensor) else v for k, v in self.extras.items()}
        return {
            "lam": self.lam.detach().cpu(),
            "index": self.index.detach().cpu(),
            "extras": extras,
            "site": self.site,
            "mixed": self.mixed,
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], device: torch.device | str | None = None) -> MixParams:
        p = cls(
            lam=state["lam"],
            index=state["index"],
            extras=dict(state.get("extras", {})),
            site=state.get("site"),
            mixed=state.get("mixed", True),
        )
        return p.to(device) if device is not None else p

    def __repr__(self) -> str:  # readable in logs; a repr is not on the per-batch path
        lam = self.lam.detach().float().cpu()
        if lam.numel() and bool((lam == lam[0]).all()):
            lam_s = f"{lam[0].item():.4f} (per batch)"
        else:
            lam_s = "[" + ", ".join(f"{v:.3f}" for v in lam[:8].tolist()) + (", ...]" if lam.numel() > 8 else "]")
        idx = self.index.detach().cpu().tolist()
        idx_s = str(idx[:8])[:-1] + (", ...]" if len(idx) > 8 else "]")
        extras = f", extras={sorted(self.extras)}" if self.extras else ""
        site = f", site={self.site!r}" if self.site is not None else ""
        return f"MixParams(B={self.batch_size}, lam={lam_s}, index={idx_s}{extras}{site}, mixed={self.mixed})"
