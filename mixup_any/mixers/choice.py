"""Choose between mixers (e.g. MixUp and CutMix) per batch or per sample, by composition instead of flags."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from numbers import Real
from typing import Any

import torch
from torch import Tensor, nn

from ..exceptions import MixupError
from ..functional import mix_batch
from ..params import Box, Choice, MixParams, check_extra
from ..policies import TargetSpec, check_flags
from .base import Mixer, check_draw, check_lifecycle
from .cutmix import CutMix, _map_float_leaves, cut_mix
from .mixup import MixUp

__all__ = ["RandomChoice"]


class RandomChoice(Mixer):
    """Apply one of several mixers, chosen at random with probabilities ``weights``.

    Per batch (timm's and torchvision's switch) one member's own plan is used; per sample, each row takes
    the plan of the member it drew (:class:`MixUp` and :class:`CutMix` members with one shared ``axis``),
    applied in one pass. The plan records the choice as a :class:`~mixup_any.params.Choice`. Each member
    keeps its own policy; all randomness comes from this mixer's generators, so one seed replays
    everything. The members must agree on their targets (``target_spec``).

    Args:
        mixers: the members, e.g. ``[MixUp(alpha=0.8), CutMix(alpha=1.0)]``.
        weights: probability of each member (must sum to 1); ``None`` means uniform.
        per_sample_member: choose a member per row instead of per batch (a member's own ``per_sample``
            decides whether its λ is drawn per row).
        seed: seed of this mixer's generator (the members' own generators are not used).

    Example:
        >>> mixer = RandomChoice([MixUp(alpha=0.8), CutMix(alpha=1.0)], weights=[0.5, 0.5], seed=0)
        >>> x, target = mixer(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
        >>> x.shape, target.lam_rows().shape
        (torch.Size([4, 3, 8, 8]), torch.Size([4]))
    """

    def __init__(
        self,
        mixers: Sequence[Mixer],
        weights: Sequence[float] | None = None,
        *,
        per_sample_member: bool = False,
        seed: int | None = None,
    ) -> None:
        self.mixers = mixers  # stored as given, so sklearn.clone sees its own arguments back
        self.weights = weights
        self.per_sample_member = per_sample_member
        self.seed = seed
        self._check()
        self._start()

    @property
    def target_spec(self) -> TargetSpec:
        """The members' shared target spec (checked equal on construction)."""
        return self.mixers[0].target_spec

    def _check(self) -> None:
        if not isinstance(self.mixers, (list, tuple)) or not self.mixers:
            raise MixupError(f"RandomChoice needs a non-empty list of mixers, got {self.mixers!r}.")
        first = self.mixers[0]
        for m in self.mixers:
            if not isinstance(m, Mixer):
                raise MixupError(f"RandomChoice members must be Mixer instances, got {type(m).__name__}.")
            if m.target_spec != first.target_spec:
                raise MixupError(f"All members must agree on their targets: {first!r} has {first.target_spec}, "
                                 f"{m!r} has {m.target_spec}.")
        if self.weights is not None:
            _check_weights(self.weights, len(self.mixers))
        check_flags(per_sample_member=self.per_sample_member)
        if self.per_sample_member:
            _check_row_members(self.mixers)
        check_lifecycle(None, self.seed)

    def needs_labels(self) -> bool:
        return any(m.needs_labels() for m in self.mixers)

    def _weights(self) -> list[float]:
        n = len(self.mixers)
        return [float(v) for v in self.weights] if self.weights is not None else [1.0 / n] * n

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
        super().set_epoch(epoch)
        for m in self.mixers:
            m.set_epoch(epoch)

    def sample(
        self,
        shape: torch.Size | Sequence[int],
        *,
        labels: Tensor | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        rng: random.Random | None = None,
    ) -> MixParams:
        """The chosen member's plan (per batch) or a row-wise combination of all members' plans."""
        b, dev = check_draw(shape, labels, device)
        if not self.active():
            return MixParams.identity(b, dev)
        gen = generator if generator is not None else self.generator_for(dev)
        rng = rng if rng is not None else self.host_rng(generator)  # the members draw from it too: one seed
        if not self.per_sample_member:  # which member mixes is a host decision: a Python int
            k = rng.choices(range(len(self.mixers)), weights=self._weights())[0]
            params = self.mixers[k].sample(shape, labels=labels, device=dev, generator=gen, rng=rng)
            return replace(params, extra=Choice(k, params.extra))
        # member k for rows whose uniform draw falls in [P(<k), P(<=k)); thresholds are Python floats, nothing is copied
        u = torch.rand(b, generator=gen, device=dev, dtype=torch.float64)
        choice = torch.zeros(b, dtype=torch.int64, device=dev)
        for threshold in list(itertools.accumulate(self._weights()))[:-1]:
            choice += u >= threshold
        plans = [m.sample(shape, labels=labels, device=dev, generator=gen, rng=rng) for m in self.mixers]
        lam = torch.ones(b, device=dev)
        index = torch.arange(b, device=dev)
        box, size = None, None
        for k, pk in enumerate(plans):
            if not pk.mixed:
                continue
            rows = choice == k
            lam = torch.where(rows, pk.lam_rows(), lam)
            index = torch.where(rows, pk.index, index)
            if isinstance(pk.extra, Box):
                bk, size = pk.extra.rows(b, dev), pk.extra.size
                box = torch.where(rows[:, None], bk, 0 if box is None else box)
        return MixParams(lam=lam, index=index, extra=Choice(choice, Box(box, size) if box is not None and size is not None else None))

    def mix(self, x: Any, params: MixParams, *, inplace: bool = False) -> Any:
        """Apply a plan from :meth:`sample` to a tensor ``(B, ...)`` or a nested batch."""
        if not params.mixed:
            return self.mixers[0]._unmixed(x)
        check_extra(params, (Choice,), "RandomChoice")
        choice = params.extra
        assert isinstance(choice, Choice)  # for mypy: check_extra raised otherwise
        if isinstance(choice.member, int):
            if not 0 <= choice.member < len(self.mixers):
                raise MixupError(f"The plan chose member {choice.member}, but this RandomChoice has "
                                 f"{len(self.mixers)} members.")
            return self.mixers[choice.member].mix(x, replace(params, extra=choice.inner), inplace=inplace)
        if choice.inner is None:  # no CutMix row: a plain per-row lerp
            return mix_batch(x, params.lam, params.index, inplace=inplace, path="x", keep_unmixed=True)
        cutmix = next((m for m in self.mixers if isinstance(m, CutMix)), None)
        if cutmix is None or not isinstance(choice.inner, Box):
            raise MixupError("A per-row Choice with boxes needs a CutMix member to paste them; this RandomChoice "
                             f"has {self.mixers!r}.")
        cut = torch.zeros_like(params.index, dtype=torch.bool)
        for k, m in enumerate(self.mixers):  # a few members, compared as scalars
            if isinstance(m, CutMix):
                cut |= choice.member == k
        # CutMix rows: blend weight 1 outside the box (pure paste); MixUp rows: an empty box and their lam
        blend = torch.where(cut, 1.0, params.lam_rows())
        record = choice.inner

        def one(t: Tensor, path: str) -> Tensor:
            axes = cutmix.axes_for(t.shape)
            record.check_fits([t.shape[a] for a in axes], f"RandomChoice ({path})")
            return cut_mix(t, params.index, record.rows(params.batch_size, params.device), axes, blend=blend,
                           inplace=inplace)

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
        extra = f", weights={self.weights!r}" if self.weights is not None else ""
        extra += ", per_sample_member=True" if self.per_sample_member else ""
        extra += f", seed={self.seed!r}" if self.seed is not None else ""
        return f"RandomChoice([{', '.join(map(repr, self.mixers))}]{extra})"


def _check_row_members(mixers: Sequence[Mixer]) -> None:
    """Rows can combine MixUp and CutMix members only (one pass: a lerp outside a shared kind of box)."""
    cut_axes = {tuple(m.axis) if not isinstance(m.axis, int) else (m.axis,) for m in mixers if isinstance(m, CutMix)}
    if any(type(m) not in (MixUp, CutMix) for m in mixers) or len(cut_axes) > 1:
        raise MixupError(
            "per_sample_member=True combines MixUp and CutMix members (CutMix members with one shared axis) "
            f"in one pass; got {mixers!r}. Use per_sample_member=False to switch between other mixers."
        )


def _check_weights(weights: Any, n: int) -> None:
    if not isinstance(weights, (list, tuple)) or not all(isinstance(v, Real) and not isinstance(v, bool)
                                                         for v in weights):
        raise MixupError(f"weights must be a list of probabilities, one per mixer, got {weights!r}.")
    if len(weights) != n:
        raise MixupError(f"weights has {len(weights)} probabilities for {n} mixers; give one each.")
    if any(v < 0 for v in weights) or not math.isclose(sum(weights), 1.0, rel_tol=0, abs_tol=1e-6):
        raise MixupError(
            f"weights must be non-negative probabilities that sum to 1, got {weights} (sum {sum(weights):.6g}). "
            "Normalise them, e.g. weights=[v / sum(weights) for v in weights]."
        )
