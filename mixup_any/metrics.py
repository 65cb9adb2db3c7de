"""Classification metrics for comparing runs: accuracy, log loss, Brier score, calibration error.

Pure torch, computed from predicted probabilities ``(N, C)`` and class indices ``(N,)``; they are
evaluation helpers (each returns a Python ``float``), not part of the per-batch training path.
``mean_std`` formats a metric over seeds as ``"0.912 ± 0.011"`` (sample standard deviation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .exceptions import MixupError

__all__ = ["accuracy", "log_loss", "brier_score", "expected_calibration_error", "mean_std"]


def _check(probs: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(probs, Tensor) or not isinstance(y, Tensor):
        raise MixupError(f"metrics need tensors, got {type(probs).__name__} and {type(y).__name__}.")
    if probs.ndim != 2 or not probs.is_floating_point():
        raise MixupError(
            f"probs must be a float tensor of shape (N, C) (softmax outputs), got {probs.dtype} of shape "
            f"{tuple(probs.shape)}."
        )
    if y.ndim != 1 or y.is_floating_point() or y.shape[0] != probs.shape[0]:
        raise MixupError(
            f"y must hold N={probs.shape[0]} integer class indices (N,), got {y.dtype} of shape {tuple(y.shape)}."
        )
    if probs.shape[0] == 0:
        raise MixupError("metrics need at least one row; got N=0.")
    y = y.long().to(probs.device)
    if int(y.min()) < 0 or int(y.max()) >= probs.shape[1]:
        raise MixupError(f"y holds a class index outside [0, C={probs.shape[1]}).")
    return probs.detach().double(), y


def accuracy(probs: Tensor, y: Tensor) -> float:
    """Fraction of rows whose most probable class is ``y``.

    Example:
        >>> accuracy(torch.tensor([[0.9, 0.1], [0.4, 0.6]]), torch.tensor([0, 0]))
        0.5
    """
    p, y = _check(probs, y)
    return float((p.argmax(-1) == y).double().mean())


def log_loss(probs: Tensor, y: Tensor, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the true class, ``-mean(log p[y])`` (probabilities clipped at ``eps``).

    Example:
        >>> round(log_loss(torch.tensor([[0.5, 0.5]]), torch.tensor([1])), 4)
        0.6931
    """
    p, y = _check(probs, y)
    return float(-p.gather(1, y[:, None]).clamp_min(eps).log().mean())


def brier_score(probs: Tensor, y: Tensor) -> float:
    """Mean over rows of ``Σ_c (p_c - onehot(y)_c)²`` (the multi-class Brier score, in ``[0, 2]``).

    Example:
        >>> brier_score(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), torch.tensor([0, 0]))
        0.25
    """
    p, y = _check(probs, y)
    onehot = torch.zeros_like(p).scatter_(1, y[:, None], 1.0)
    return float((p - onehot).pow(2).sum(-1).mean())


def expected_calibration_error(probs: Tensor, y: Tensor, n_bins: int = 15) -> float:
    """Top-label expected calibration error with ``n_bins`` equal-width confidence bins.

    ``ECE = Σ_b (n_b / N) · |acc_b - conf_b|`` where a row falls in bin ``b`` if its confidence
    ``max_c p_c`` lies in ``(b/n_bins, (b+1)/n_bins]`` (Guo et al., 2017; confidence 0 goes to bin 0).

    Example:
        >>> round(expected_calibration_error(torch.tensor([[0.8, 0.2], [0.8, 0.2]]), torch.tensor([0, 1])), 6)
        0.3
    """
    if not isinstance(n_bins, int) or n_bins < 1:
        raise MixupError(f"n_bins must be a positive int, got {n_bins!r}.")
    p, y = _check(probs, y)
    conf, pred = p.max(-1)
    correct = (pred == y).double()
    bins = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, bins, conf)
    acc_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, bins, correct)
    return float((acc_sum - conf_sum).abs().sum() / p.shape[0])


def mean_std(values: Sequence[float], digits: int = 3) -> str:
    """``"mean ± std"`` of ``values`` (sample standard deviation, ``ddof=1``; ``± 0`` for one value).

    Example:
        >>> mean_std([0.90, 0.92, 0.91])
        '0.910 ± 0.010'
    """
    vals = [float(v) for v in values]
    if not vals:
        raise MixupError("mean_std needs at least one value.")
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return f"{m:.{digits}f} ± {sd:.{digits}f}"
