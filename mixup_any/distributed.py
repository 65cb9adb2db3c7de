"""Mixup under ``torch.distributed``: per-rank seeds (:func:`seed_mixer`) and cross-rank pairing.

Every mixer works under DDP unchanged, each rank mixing its local batch; ``docs/scaling.md`` says when
these help and what they cost. Without an initialised process group everything here is single-process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError
from .functional import batch_size_of, map_float_leaves, map_tensors, tensor_leaves
from .mixers import Mixer
from .params import MixParams, appended_partners_index, doubled_plan

__all__ = ["seed_mixer", "CrossRankMixer"]

_MASK64 = (1 << 64) - 1


def _dist() -> Any | None:
    """``torch.distributed`` if a process group is initialised, else ``None``."""
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return None
    return torch.distributed


def get_rank(group: Any = None) -> int:
    """This process's rank (``0`` without an initialised process group)."""
    d = _dist()
    return d.get_rank(group) if d is not None else 0


def get_world_size(group: Any = None) -> int:
    """The number of processes (``1`` without an initialised process group)."""
    d = _dist()
    return d.get_world_size(group) if d is not None else 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def seed_for_rank(seed: int, rank: int | None = None) -> int:
    """A seed for ``rank`` derived from the run's ``seed``: fixed, and different for every rank.

    Args:
        seed: the run's seed (any int).
        rank: the rank; ``None`` means this process's rank (``0`` outside ``torch.distributed``).

    Returns:
        A non-negative int below ``2**63`` (a valid ``torch.Generator`` seed). The mapping is a
        splitmix64 hash of ``(seed, rank)``, so neighbouring seeds and ranks give unrelated streams.

    Example:
        >>> seed_for_rank(0, 0) == seed_for_rank(0, 0), seed_for_rank(0, 0) == seed_for_rank(0, 1)
        (True, False)
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise MixupError(f"seed must be an int, got {seed!r}.")
    if rank is None:
        rank = get_rank()
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
        raise MixupError(f"rank must be a non-negative int, got {rank!r}.")
    return _splitmix64(_splitmix64(seed & _MASK64) ^ rank) >> 1


def seed_mixer(mixer: Any, seed: int, *, rank: int | None = None, same_on_all_ranks: bool = False) -> Any:
    """Reseed ``mixer``'s generator for this rank; returns the mixer.

    Args:
        mixer: any :class:`~mixup_any.mixers.base.Mixer`.
        seed: the run's seed, the same on every rank.
        rank: the rank (default: this process's).
        same_on_all_ranks: give every rank the same stream (identical plans on every rank).

    Example:
        >>> from mixup_any import MixUp
        >>> a, b = seed_mixer(MixUp(), 7, rank=0), seed_mixer(MixUp(), 7, rank=1)
        >>> torch.equal(a.sample((8, 2)).index, b.sample((8, 2)).index)
        False
    """
    if not isinstance(mixer, Mixer):
        raise MixupError(f"seed_mixer() needs a Mixer (it calls mixer.manual_seed), got {type(mixer).__name__}.")
    return mixer.manual_seed(seed_for_rank(seed, 0 if same_on_all_ranks else rank))


class CrossRankMixer:
    """Wrap a mixer so each row is paired with a partner drawn from the batches of **all** ranks.

    ``lam`` (and any record such as a CutMix box) comes from ``mixer.sample`` on the local batch; the
    partners are ``B`` distinct rows drawn uniformly from the global batch, gathered with ``all_gather``
    (inputs and targets; batch sizes may differ between ranks). Gathered partners carry no gradient;
    only ``pairing="permute"`` is supported. Costs and limits are in ``docs/scaling.md``. Outside
    ``torch.distributed`` (or with one process) this is the wrapped mixer itself.

    Args:
        mixer: the mixer that draws ``lam`` and applies its kernel (``MixUp``, CutMix, ...).
        group: the process group (default: the world).

    Attributes:
        params: the last plan, as :class:`MixParams` whose ``index`` points into the global batch
            (the concatenation of every rank's batch, in rank order, without padding); ``None`` before
            any call or when the last call fell back to local mixing.

    Example:
        >>> from mixup_any import MixUp
        >>> cross = CrossRankMixer(MixUp(alpha=0.4, num_classes=3, seed=0))
        >>> x, target = cross(torch.randn(4, 5), torch.tensor([0, 1, 2, 0]))   # one process: local mixing
        >>> x.shape, target.lam_rows().shape
        (torch.Size([4, 5]), torch.Size([4]))
    """

    def __init__(self, mixer: Any, *, group: Any = None) -> None:
        if not isinstance(mixer, Mixer):
            raise MixupError(f"CrossRankMixer needs a Mixer (e.g. MixUp, CutMix), got {type(mixer).__name__}.")
        for m in getattr(mixer, "mixers", [mixer]):  # a RandomChoice's members, or the mixer itself
            pairing = getattr(m, "pairing_policy", None)
            if pairing is not None and pairing.strategy != "permute":
                raise MixupError(
                    f"CrossRankMixer supports pairing='permute' only, got pairing={pairing.strategy!r}: class-aware "
                    "pairings need a global plan. Use local mixing (the plain mixer) for them."
                )
            if pairing is not None and pairing.exclude_classes:
                raise MixupError("CrossRankMixer does not support exclude_classes; use local mixing (the plain "
                                 "mixer).")
        self.mixer = mixer
        self.group = group
        self.params: MixParams | None = None

    # mixer state and phase pass through, so the wrapper can stand in for the mixer in a loop
    def __getattr__(self, name: str) -> Any:
        if name in ("mixer", "group", "params"):
            raise AttributeError(name)
        return getattr(self.mixer, name)

    def __call__(self, x: Any, y: Tensor | Mapping[str, Tensor] | None = None, *,
                 generator: torch.Generator | None = None) -> Any:
        if y is None:
            raise MixupError("CrossRankMixer(x, y) needs the targets y: it returns (x_mixed, target).")
        d = _dist()
        world = d.get_world_size(self.group) if d is not None else 1
        if world == 1:
            self.params = None
            return self.mixer(x, y, generator=generator)
        b = batch_size_of(x, "x")
        map_float_leaves(x, lambda t, path: t, "x")  # integer leaves raise here, before any collective
        if batch_size_of(y, "y") != b:
            raise MixupError(f"The inputs have batch size {b} but the targets have {batch_size_of(y, 'y')} rows.")
        first = tensor_leaves(x, "x")[0][1]
        labels = y if isinstance(y, Tensor) else None
        local = self.mixer.sample(first.shape, labels=labels, device=first.device, generator=generator)
        if not local.mixed:  # identical on every rank (same phase and schedule), so no rank waits
            self.params = local
            return self.mixer.mix(x, local), self.mixer.mix_target(y, local)
        sizes = self._gather_sizes(b, first.device, d, world)
        bmax = max(sizes)
        # global row g of the unpadded concatenation lives at padded position pos[g]
        pos = torch.cat([r * bmax + torch.arange(s, device=first.device) for r, s in enumerate(sizes)])
        gen = generator if generator is not None else self.mixer.generator_for(first.device)
        gidx = torch.randperm(pos.numel(), generator=gen, device=first.device)[:b]
        gather_at = pos[gidx]
        def partners(t: Tensor) -> Tensor:
            return self._gather(t, bmax, d, world).index_select(0, gather_at)

        # Rows b..2b-1 of the stacked batch are the partners, paired with themselves (lam = 1), so any
        # mixer's kernel (CutMix boxes included) is exact on rows 0..b-1 and the identity on the rest.
        stacked = doubled_plan(local, appended_partners_index(b, first.device), mixed_first=True)
        out = map_tensors(x, lambda t, _: self.mixer.mix(torch.cat([t, partners(t)]), stacked)[:b])
        self.params = dataclasses.replace(local, index=gidx.to(local.index.dtype))
        target = self.mixer.mix_target(map_tensors(y, lambda t, _: torch.cat([t, partners(t)])), stacked)
        return out, ({k: t.first(b) for k, t in target.items()} if isinstance(target, Mapping) else target.first(b))

    def _gather_sizes(self, b: int, device: torch.device, d: Any, world: int) -> list[int]:
        """Every rank's batch size: read on the host for CPU batches; on an accelerator (where a read waits
        for the device) taken to be equal, as ``DistributedSampler`` gives, and checked asynchronously."""
        mine = torch.full((1,), b, dtype=torch.int64, device=device)
        got = [torch.empty_like(mine) for _ in range(world)]
        d.all_gather(got, mine, group=self.group)
        if device.type == "cpu":
            return [int(s) for s in got]
        torch._assert_async((torch.cat(got) == b).all(), "CrossRankMixer on an accelerator needs the same batch "
                            "size on every rank (use DistributedSampler, and drop_last=True if needed)")
        return [b] * world

    def _gather(self, t: Tensor, bmax: int, d: Any, world: int) -> Tensor:
        t = t.detach()
        if t.shape[0] < bmax:
            t = torch.cat([t, t.new_zeros((bmax - t.shape[0], *t.shape[1:]))])
        got = [torch.empty_like(t, memory_format=torch.contiguous_format) for _ in range(world)]
        d.all_gather(got, t.contiguous(), group=self.group)
        return torch.cat(got)

    def __repr__(self) -> str:
        return f"CrossRankMixer({self.mixer!r})"

