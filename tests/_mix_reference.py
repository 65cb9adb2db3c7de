"""Slow, obviously-correct per-sample loop references for the vectorized mixers (test helper)."""

from __future__ import annotations

import torch

from mixup_any.params import Box, Choice, MixParams


def bounds_rows(box: Box, b: int) -> torch.Tensor:
    """``(B, 2k)`` int64 bounds of a box record (one batch box repeated)."""
    if isinstance(box.bounds, torch.Tensor):
        return box.bounds
    return torch.tensor(box.bounds, dtype=torch.int64).repeat(b, 1)


def loop_reference(x: torch.Tensor, params: MixParams, axes: tuple[int, ...] = (2, 3),
                   cut_members: tuple[int, ...] = (1,)) -> torch.Tensor:
    """Row by row: lerp with the row's own weight outside its box, the partner's values inside it.

    For a per-row :class:`Choice`, rows whose member is in ``cut_members`` are CutMix rows (pure paste).
    """
    if not params.mixed:
        return x
    b = x.shape[0]
    extra, member = params.extra, None
    if isinstance(extra, Choice):
        extra, member = extra.inner, extra.member
    box = bounds_rows(extra, b) if isinstance(extra, Box) else None
    lam = params.lam_rows()
    out = torch.empty_like(x)
    for i in range(b):
        j = int(params.index[i])
        per_row = isinstance(member, torch.Tensor)
        cut = box is not None and (not per_row or int(member[i]) in cut_members)
        w = 1.0 if cut else float(lam[i])
        row = torch.lerp(x[j], x[i], torch.tensor(w, dtype=x.dtype)) if w != 1.0 else x[i].clone()
        if box is not None:
            sl = [slice(None)] * (x.ndim - 1)
            for d, a in enumerate(axes):
                sl[a - 1] = slice(int(box[i, 2 * d]), int(box[i, 2 * d + 1]))
            row[tuple(sl)] = x[j][tuple(sl)]
        out[i] = row
    return out
