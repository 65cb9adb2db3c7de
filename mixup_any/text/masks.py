"""Attention-mask rules for a mixed pair of sequences (pure functions, no transformers needed).

Which positions a row mixed with row ``index[i]`` attends to; rows whose ``lam`` is exactly 1 keep their own
mask, so an unmixed row's forward is bit for bit the plain one. Mask rules:
    ``"union"`` (default): ``mask | mask[index]``, every position that holds a token of either sentence.
    ``"own"``: the row's own mask; positions where only the partner has tokens are ignored.
    ``"intersection"``: ``mask & mask[index]``, only positions where both sentences have tokens.
    a callable ``fn(mask, params) -> mask`` of the same shape and dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..exceptions import MixupError
from ..functional import check_same_device, gather_rows
from ..params import MixParams

__all__: list[str] = []  # internal: the public names are re-exported by the package

MASK_RULES = ("union", "own", "intersection")
MaskRule = str | Callable[[Tensor, MixParams], Tensor]


def check_mask_rule(rule: MaskRule) -> None:
    """Raise early for an unknown mask rule."""
    if not callable(rule) and rule not in MASK_RULES:
        raise MixupError(f"Unknown attention-mask rule {rule!r}; expected one of {MASK_RULES} "
                         "or a callable fn(mask, params) -> mask.")


def mix_attention_mask(mask: Tensor, params: MixParams, rule: MaskRule = "union") -> Tensor:
    """The attention mask of the mixed batch, ``(B, L)``, same dtype and device as ``mask``.

    Args:
        mask: ``(B, L)`` attention mask (1 = attend, 0 = padding), int, bool or float.
        params: the batch's plan; row ``i`` is mixed with ``params.index[i]``.
        rule: ``"union"``, ``"own"``, ``"intersection"`` or a callable (see the module docstring).

    Returns:
        A new tensor; ``mask`` is never modified. Rows with ``lam == 1`` keep their own mask.

    Example:
        >>> m = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]])
        >>> p = MixParams(lam=torch.tensor([0.6, 0.6]), index=torch.tensor([1, 0]))
        >>> mix_attention_mask(m, p)
        tensor([[1, 1, 1, 0],
                [1, 1, 1, 0]])
        >>> mix_attention_mask(m, p, "intersection")
        tensor([[1, 1, 0, 0],
                [1, 1, 0, 0]])
    """
    check_mask_rule(rule)
    if not isinstance(mask, Tensor) or mask.ndim != 2:
        got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise MixupError(f"attention_mask must be a (B, L) tensor to be mixed, got {got}. Custom 3-D/4-D masks "
                         "cannot be combined by a mask rule; pass mask='own' to leave them alone.")
    if mask.shape[0] != params.batch_size:
        raise MixupError(f"attention_mask has batch size {mask.shape[0]} (shape {tuple(mask.shape)}), but the "
                         f"mixing plan is for {params.batch_size} rows: every tensor of a batch must share dim 0.")
    if not params.mixed or rule == "own":
        return mask
    if callable(rule):
        out = rule(mask, params)
        if not isinstance(out, Tensor) or out.shape != mask.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise MixupError(f"A mask rule must return a tensor of shape {tuple(mask.shape)}, got {got}.")
        return out.to(mask.dtype)
    check_same_device(mask, params.index, "attention_mask")
    partner = gather_rows(mask, params.index)
    combined = torch.maximum(mask, partner) if rule == "union" else torch.minimum(mask, partner)
    if isinstance(params.lam, float):  # one λ for the batch: every row is mixed, unless λ is 1 (an empty box)
        return combined if params.lam < 1 else mask
    mixed_rows = (params.lam < 1).unsqueeze(1)
    return torch.where(mixed_rows, combined, mask)
