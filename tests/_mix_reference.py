"""Slow, obviously-correct per-sample loop references for the vectorized mixers (test helper)."""

from __future__ import annotations

import torch

from mixup_any.params import MixParams


def loop_reference(x: torch.Tensor, params: MixParams, axes: tuple[int, ...] = (2, 3)) -> torch.Tensor:
    """Row by row: lerp with the row's own weight outside its box, the partner's values inside it."""
    if not params.mixed:
        return x
    b = x.shape[0]
    box = params.extras.get("box")
    cut = params.extras.get("cut")
    if cut is None:
        cut = torch.full((b,), box is not None)
    out = torch.empty_like(x)
    for i in range(b):
        j = int(params.index[i])
        w = 1.0 if bool(cut[i]) else float(params.lam[i])
        row = torch.lerp(x[j], x[i], torch.tensor(w, dtype=x.dtype)) if w != 1.0 else x[i].clone()
        if box is not None:
            sl = [slice(None)] * (x.ndim - 1)
            for d, a in enumerate(axes):
                sl[a - 1] = slice(int(box[i, 2 * d]), int(box[i, 2 * d + 1]))
            row[tuple(sl)] = x[j][tuple(sl)]
        out[i] = row
    return out
