"""Metrics for comparing runs: accuracy, log loss, Brier score, calibration error, and the paired t-interval.

Each metric takes probabilities ``(N, C)`` and class indices ``(N,)`` and returns a Python ``float``;
``paired_t_interval`` is the one rule for "beyond the noise".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .exceptions import MixupError

__all__ = ["accuracy", "log_loss", "expected_calibration_error", "paired_t_interval"]


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
    """The Brier score as scikit-learn's ``brier_score_loss`` defines it.

    Two classes (``C == 2``): the mean squared error of the positive class's probability,
    ``mean((p_1 - [y == 1])²)``, in ``[0, 1]``. More classes: the mean over rows of
    ``Σ_c (p_c - onehot(y)_c)²``, in ``[0, 2]``. (For two classes the second formula gives twice the first.)

    Example:
        >>> brier_score(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), torch.tensor([0, 0]))
        0.125
    """
    p, y = _check(probs, y)
    if p.shape[1] == 2:
        return float((p[:, 1] - (y == 1).double()).pow(2).mean())
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


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0 for one value).

    Example:
        >>> mean_sd([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    vals = [float(v) for v in values]
    if not vals:
        raise MixupError("a mean and standard deviation need at least one value; got none.")
    m = sum(vals) / len(vals)
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0


def mean_std(values: Sequence[float], digits: int = 3) -> str:
    """``"mean ± std"`` of ``values`` (sample standard deviation, ``ddof=1``; ``± 0`` for one value).

    Example:
        >>> mean_std([0.90, 0.92, 0.91])
        '0.910 ± 0.010'
    """
    m, sd = mean_sd(values)
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


# Student t 0.975 quantiles for 1..30 degrees of freedom (scipy.stats.t.ppf(0.975, df), 6 decimals).
_T975 = (12.706204736175, 4.302652729749, 3.182446305284, 2.776445105198, 2.570581835636, 2.446911851145,
         2.364624251593, 2.306004135204, 2.262157162798, 2.228138851986, 2.200985160092, 2.178812829667,
         2.160368656463, 2.144786687918, 2.131449545560, 2.119905299221, 2.109815577833, 2.100922040241,
         2.093024054408, 2.085963447266, 2.079613844728, 2.073873067904, 2.068657610419, 2.063898561628,
         2.059538552753, 2.055529438643, 2.051830516480, 2.048407141795, 2.045229642133, 2.042272456301)


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (the half-width factor of a 95% interval).

    Exact to 12 decimals for ``df <= 30`` (a table); beyond, the Cornish-Fisher expansion around the normal
    quantile 1.959964 (error below 1e-6 there).

    Example:
        >>> round(t_quantile_975(4), 6)
        2.776445
    """
    if not isinstance(df, int) or df < 1:
        raise MixupError(f"df must be a positive int, got {df!r}.")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = 1.959963984540054, float(df)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4))


@dataclass(frozen=True)
class PairedInterval:
    """Mean paired difference ``a - b`` and its 95% t-interval ``[low, high]`` (``n`` pairs, standard error ``se``)."""

    diff: float
    low: float
    high: float
    se: float
    n: int

    @property
    def beyond_noise(self) -> bool:
        """Whether the interval excludes 0 (``False`` when it cannot be computed, ``n < 2``)."""
        return not (math.isnan(self.low) or self.low <= 0.0 <= self.high)

    def verdict(self, higher_is_better: bool | None = None) -> str:
        """``"within noise"``, ``"beyond noise"`` (or ``"better"`` / ``"worse"`` given the metric's direction),
        or ``"n/a (one pair)"``."""
        if self.n < 2:
            return "n/a (one pair)"
        if not self.beyond_noise:
            return "within noise"
        if higher_is_better is None:
            return "beyond noise"
        return "better" if (self.diff > 0) == higher_is_better else "worse"

    def __str__(self) -> str:
        return f"{self.diff:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def paired_t_interval(a: Sequence[float], b: Sequence[float], *, test_over_train: float = 0.0) -> PairedInterval:
    """95% paired t-interval of ``mean(a - b)`` over matched runs (same seed, split or fold in ``a[i]`` and ``b[i]``).

    ``d = a - b``; interval ``mean(d) ± t_{0.975, n-1} · se`` with ``se = sd(d) · sqrt(1/n + test_over_train)``.
    ``test_over_train = 0`` is the ordinary paired t-interval (independent seeds). For the folds of repeated
    k-fold cross-validation, which share training rows, pass ``n_test / n_train`` (``1 / (k - 1)``): the
    corrected resampled t of Nadeau & Bengio (2003), whose plain version is too narrow. A difference is
    *beyond the noise* when the interval excludes 0.

    Example:
        >>> iv = paired_t_interval([0.91, 0.93, 0.92], [0.90, 0.90, 0.91])
        >>> round(iv.diff, 4), round(iv.low, 4), round(iv.high, 4), iv.verdict(higher_is_better=True)
        (0.0167, -0.012, 0.0454, 'within noise')
    """
    if len(a) != len(b):
        raise MixupError(f"paired_t_interval needs runs in matched pairs, got {len(a)} and {len(b)} values.")
    if len(a) == 0:
        raise MixupError("paired_t_interval needs at least one pair of values.")
    if not (test_over_train >= 0.0 and math.isfinite(test_over_train)):
        raise MixupError(f"test_over_train must be a finite number >= 0, got {test_over_train!r}.")
    n = len(a)
    m, sd = mean_sd([float(x) - float(y) for x, y in zip(a, b, strict=True)])
    if n < 2:
        return PairedInterval(m, math.nan, math.nan, math.nan, n)
    se = sd * math.sqrt(1.0 / n + test_over_train)
    h = t_quantile_975(n - 1) * se
    return PairedInterval(m, m - h, m + h, se, n)
