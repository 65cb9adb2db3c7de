"""Temperature scaling (Guo et al., 2017): one scalar ``T`` fitted on held-out logits, ``softmax(z / T)``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__: list[str] = []  # internal: the public names are re-exported by the package

#: misclassified held-out rows (label decisions, for multilabel) needed to fit a temperature
MIN_ERRORS = 2


def fit_temperature(logits: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor]) -> float | None:
    """The temperature ``T`` minimising ``loss_fn(logits / T, y)`` on held-out rows, or ``None``.

    With no misclassified row the loss keeps falling as ``T → 0``; with one, that row alone decides ``T``
    (docs/tabular.md). So this returns ``None`` (keep ``T = 1``) with fewer than :data:`MIN_ERRORS`
    misclassified rows (label decisions, for multilabel), non-finite logits, or a fit outside ``(0.01, 100)``.

    Args:
        logits: ``(n, C)`` held-out logits (never the rows the model was trained on).
        y: ``(n,)`` class ids, or ``(n, L)`` 0/1 floats for multilabel.
        loss_fn: the mean loss, e.g. ``F.cross_entropy`` or ``F.binary_cross_entropy_with_logits``.

    Example:
        >>> import torch.nn.functional as F
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]]).repeat(3, 1)
        >>> fit_temperature(logits, torch.tensor([0, 1, 0, 1, 0, 1]), F.cross_entropy) is None  # no error
        True
        >>> round(fit_temperature(logits, torch.tensor([0, 1, 0, 1, 1, 0]), F.cross_entropy), 2)  # 2 of 6 wrong
        2.88
    """
    if not bool(torch.isfinite(logits).all()):
        return None  # a diverged model: no temperature can be fitted to it
    wrong = (logits > 0) != (y > 0.5) if y.is_floating_point() else logits.argmax(1) != y
    if int(wrong.sum()) < MIN_ERRORS:
        return None
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")
    logits = logits.detach()

    def closure() -> Tensor:
        opt.zero_grad()
        loss = loss_fn(logits / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return t if np.isfinite(t) and 1e-2 < t < 1e2 else None
