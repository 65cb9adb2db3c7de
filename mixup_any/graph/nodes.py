"""Node-level manifold mixup (node classification): a plan that mixes only the training nodes. Hand it to
the handle at a hidden layer and take the loss on the masked rows (docs/graphs.md)::

    mix.arm(data.y, params=node_plan(mixer, data.y, data.train_mask))
    out = model(data.x, data.edge_index)
    loss = mix.loss(F.cross_entropy, out, data.y, reduction="none")[data.train_mask].mean()
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import MixParams, MixupError
from ..sites import describe

__all__ = ["node_plan"]


def node_plan(mixer: Any, y: Tensor, mask: Tensor) -> MixParams:
    """A plan for the ``N`` nodes of a graph that mixes the masked nodes among themselves.

    Args:
        mixer: draws λ and partners for the ``K`` masked nodes (``mixer.sample((K,), labels=y[mask])``), so
            class-aware pairings and per-row λ work as for any batch.
        y: ``(N, ...)`` targets of every node (rows outside the mask are never read as partners).
        mask: ``(N,)`` bool, or ``(K,)`` integer indices of the nodes to mix (indices avoid reading ``K``
            from the device each step).

    Returns:
        ``MixParams`` with ``N`` rows: masked rows carry the drawn λ and a masked partner, the others
        λ = 1 and themselves; the identity plan when the mixer does not mix (eval mode, ``alpha=0``).

    Example:
        >>> from mixup_any import MixUp
        >>> p = node_plan(MixUp(lam=0.5, pairing="flip"), torch.tensor([0, 1, 2, 3]), torch.tensor([0, 2]))
        >>> p.lam.tolist(), p.index.tolist()
        ([0.5, 1.0, 0.5, 1.0], [2, 1, 0, 3])
    """
    if not isinstance(y, Tensor) or y.ndim == 0:
        raise MixupError(f"node_plan needs the targets of every node, a (N, ...) tensor, got {describe(y)}.")
    n = y.shape[0]
    if not isinstance(mask, Tensor) or mask.ndim != 1 or mask.is_floating_point():
        raise MixupError(f"node_plan needs a mask of the nodes to mix: (N,) bool or (K,) integer indices, "
                         f"got {describe(mask)}.")
    if mask.dtype == torch.bool:
        if mask.shape[0] != n:
            raise MixupError(f"node_plan: the mask has {mask.shape[0]} entries but y has {n} nodes; a bool mask "
                             "has one entry per node (a plan for graphs needs GraphMixer or IfMixup).")
        mask = mask.nonzero().squeeze(1)
    elif mask.device.type == "cpu" and mask.numel() and not (0 <= int(mask.min()) and int(mask.max()) < n):
        raise MixupError(f"node_plan: the mask's node indices must lie in [0, {n}), got {int(mask.min())}.."
                         f"{int(mask.max())}.")
    if mask.numel() == 0:
        raise MixupError("node_plan: the mask selects no node; there is nothing to mix.")
    inner = mixer.sample((mask.shape[0],), labels=y[mask], device=y.device)
    if not inner.mixed:
        return MixParams.identity(n, y.device)
    if inner.extra is not None:
        raise MixupError(f"node_plan interpolates node rows; the mixer drew a {type(inner.extra).__name__} record "
                         "(CutMix boxes, RandomChoice, swaps), which node rows have no use for. Use MixUp.")
    lam = torch.ones(n, device=y.device).index_copy(0, mask, inner.lam_rows())
    index = torch.arange(n, device=y.device).index_copy(0, mask, mask[inner.index])
    tl = None if inner.target_lam is None else torch.ones_like(lam).index_copy(0, mask, inner.target_rows())
    return MixParams(lam=lam, index=index, target_lam=tl)
