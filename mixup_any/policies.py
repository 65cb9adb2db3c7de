"""The small policies a mixer is built from: how λ is drawn, how partners are paired, how targets are read.

Each is a frozen dataclass that validates itself on construction and has one method.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, overload

import torch
from torch import Tensor

from .exceptions import MixupError
from .params import MixParams
from .sampling import MIN_CONCENTRATION, PAIRINGS, class_ids, host_lambda, sample_index, sample_lambda
from .targets import TARGET_KINDS, MixedTarget, mix_target

__all__ = ["LamPolicy", "Pairing", "TargetSpec"]


def _is_real(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _check_fixed_lam(lam: Any) -> None:
    lams = list(lam) if isinstance(lam, (tuple, list)) else [lam]
    if len(lams) not in (1, 2) or not all(_is_real(v) and 0 <= v <= 1 for v in lams) or (
        len(lams) == 2 and lams[0] > lams[1]
    ):
        raise MixupError(f"lam must be a float in [0, 1] or a (low, high) range inside [0, 1], got {lam!r}.")


def check_flags(**flags: Any) -> None:
    """Raise a :class:`MixupError` for a flag that is not a bool (``per_sample="no"`` would read as true)."""
    for name, v in flags.items():
        if not isinstance(v, bool):
            raise MixupError(f"{name} must be True or False, got {v!r}.")


@dataclass(frozen=True)
class LamPolicy:
    """How λ is drawn: Beta(α, β), a fixed value or a uniform range, folded or not, per batch or per row,
    applied with probability ``p``.

    Args:
        alpha: Beta(α, α) concentration; ``alpha=0`` is exactly no mixing (ERM).
        beta: second concentration, Beta(α, beta); ``None`` means ``alpha``.
        lam: fixed λ (float) or ``(low, high)`` for a uniform draw; overrides ``alpha``.
        fold: use ``max(λ, 1-λ)`` so each row's own sample dominates.
        per_sample: one λ per row instead of one per batch.
        p: probability of mixing (the only probability knob); ``p=0`` is exactly ERM.
        per_sample_p: apply ``p`` to each row (unmixed rows have λ = 1) instead of to the batch.

    Example:
        >>> LamPolicy(alpha=0.4, per_sample=True).draw(3, rng=random.Random(0))[0].shape
        torch.Size([3])
    """

    alpha: float = 1.0
    beta: float | None = None
    lam: float | tuple[float, float] | None = None
    fold: bool = False
    per_sample: bool = False
    p: float = 1.0
    per_sample_p: bool = False

    def __post_init__(self) -> None:
        if not _is_real(self.alpha) or not 0 <= self.alpha < math.inf:
            raise MixupError(
                f"alpha must be a float >= 0 and finite (the Beta(alpha, alpha) concentration), got {self.alpha!r}. "
                "alpha=0 disables mixing."
            )
        if 0 < self.alpha < MIN_CONCENTRATION:
            raise MixupError(f"alpha must be 0 (no mixing) or at least {MIN_CONCENTRATION:g}, got {self.alpha!r}: "
                             "below that a Beta draw is a coin flip on {0, 1} in float64.")
        if self.beta is not None and (not _is_real(self.beta) or not MIN_CONCENTRATION <= self.beta < math.inf):
            raise MixupError(f"beta must be a finite float of at least {MIN_CONCENTRATION:g}, or None (meaning "
                             f"beta = alpha), got {self.beta!r}.")
        if self.lam is not None:
            _check_fixed_lam(self.lam)
        if not _is_real(self.p) or not 0 <= self.p <= 1:
            raise MixupError(f"p must be a probability in [0, 1], got {self.p!r}.")
        check_flags(fold=self.fold, per_sample=self.per_sample, per_sample_p=self.per_sample_p)

    @property
    def mixes(self) -> bool:
        """``False`` when every draw is λ = 1 (``p=0``, or ``alpha=0`` without a fixed ``lam``)."""
        return not (self.p == 0 or (self.lam is None and self.alpha == 0))

    def draw(self, batch_size: int, *, rng: random.Random, alpha_scale: float = 1.0,
             generator: torch.Generator | None = None,
             device: torch.device | str | None = None) -> tuple[float | Tensor, Tensor | None]:
        """``(lam, rows)``: a Python float per batch from the host generator ``rng`` (``1.0`` when ``p``
        skips the batch) or a ``(B,)`` float32 tensor per row drawn with ``generator`` on ``device``; and,
        with ``per_sample_p``, the ``(B,)`` bool rows that mix, else ``None``. ``alpha_scale`` multiplies
        ``alpha`` (a schedule's warm-up).

        Example:
            >>> LamPolicy(lam=0.25).draw(3, rng=random.Random(0))
            (0.25, None)
        """
        if self.p < 1 and not self.per_sample_p and rng.random() >= self.p:
            return 1.0, None
        alpha = max(self.alpha * alpha_scale, MIN_CONCENTRATION)  # a warm-up's first steps stay drawable
        lam: float | Tensor
        if self.per_sample:
            lam = sample_lambda(batch_size, alpha=alpha, beta=self.beta, lam=self.lam, fold=self.fold,
                                per_sample=True, generator=generator, device=device)
        else:
            lam = host_lambda(rng, alpha=alpha, beta=self.beta, lam=self.lam, fold=self.fold)
        if self.per_sample_p and self.p < 1:
            return lam, torch.rand(batch_size, generator=generator, device=device) < self.p
        return lam, None


@dataclass(frozen=True)
class Pairing:
    """How partners are chosen: the ``index`` of a plan, and rows that are never mixed.

    Args:
        strategy: ``"permute"``, ``"flip"``, ``"roll"``, ``"same_class"``, ``"different_class"``,
            ``"label_distance"`` (C-Mixup) or a callable (see :func:`mixup_any.sampling.sample_index`).
        bandwidth: σ of the ``"label_distance"`` kernel, in label units.
        exclude_classes: class ids whose samples are never mixed nor used as partners.

    Example:
        >>> Pairing("same_class").needs_labels
        True
    """

    strategy: str | Callable[..., Tensor] = "permute"
    bandwidth: float = 1.0
    exclude_classes: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if not callable(self.strategy) and self.strategy not in PAIRINGS:
            raise MixupError(f"Unknown pairing {self.strategy!r}; expected one of {PAIRINGS} or a callable.")
        if not _is_real(self.bandwidth) or not self.bandwidth > 0:
            raise MixupError(f"bandwidth must be > 0, got {self.bandwidth!r}.")
        ex = self.exclude_classes
        if ex is not None:
            if isinstance(ex, (str, bytes)) or not isinstance(ex, Iterable):
                raise MixupError(f"exclude_classes must be a list of class ids, got {ex!r}.")
            if not all(isinstance(c, int) and not isinstance(c, bool) for c in ex):
                raise MixupError(f"exclude_classes must hold int class ids, got {ex!r}.")

    @property
    def needs_labels(self) -> bool:
        """Whether drawing needs the targets (class-aware or label-distance pairing, excluded classes)."""
        return self.strategy in ("same_class", "different_class", "label_distance") or bool(self.exclude_classes)

    def draw(self, batch_size: int, *, labels: Tensor | None = None, generator: torch.Generator | None = None,
             device: torch.device | str | None = None) -> tuple[Tensor, Tensor | None]:
        """``(index, eligible)``: partners ``(B,)`` on ``device`` and, with ``exclude_classes``, the ``(B,)``
        bool rows that may mix (the others pair with themselves and are never partners), else ``None``.

        Example:
            >>> Pairing("flip").draw(4)[0]
            tensor([3, 2, 1, 0])
        """
        eligible = None
        if self.exclude_classes:
            if labels is None:
                raise MixupError("exclude_classes needs the targets: call mixer(x, y) or sample(..., labels=y).")
            cls = class_ids(labels)
            eligible = torch.ones_like(cls, dtype=torch.bool)
            for c in self.exclude_classes:  # a few configured classes; compared as scalars, nothing is copied
                eligible &= cls != c
        index = sample_index(batch_size, pairing=self.strategy, labels=labels, eligible=eligible,
                             bandwidth=self.bandwidth, generator=generator, device=device)
        return index, eligible


@dataclass(frozen=True)
class TargetSpec:
    """How targets are read and paired with a plan.

    Args:
        kind: ``"auto"``, ``"index"``, ``"soft"``, ``"multilabel"`` or ``"regression"`` (see
            :mod:`mixup_any.targets`), or a dict per key for multi-task targets.
        num_classes: ``C``, needed to turn class indices into soft targets (a dict per key too).
        label_smoothing: smoothing applied to each side before mixing, in ``[0, 1)``.

    Example:
        >>> p = MixParams(lam=torch.tensor([0.75, 1.0]), index=torch.tensor([1, 0]))
        >>> TargetSpec(num_classes=3).pair(torch.tensor([0, 2]), p).soft()
        tensor([[0.7500, 0.0000, 0.2500],
                [0.0000, 0.0000, 1.0000]])
    """

    kind: str | Mapping[str, str] = "auto"
    num_classes: int | Mapping[str, int] | None = None
    label_smoothing: float | Mapping[str, float] = 0.0

    def __post_init__(self) -> None:
        nc = self.num_classes.values() if isinstance(self.num_classes, Mapping) else [self.num_classes]
        if not all(c is None or (isinstance(c, int) and not isinstance(c, bool) and c >= 1) for c in nc):
            raise MixupError(f"num_classes must be a positive int (or None), got {self.num_classes!r}.")
        kinds = self.kind.values() if isinstance(self.kind, Mapping) else [self.kind]
        for k in kinds:
            if k not in TARGET_KINDS:
                raise MixupError(f"Unknown target kind {k!r}; expected one of {TARGET_KINDS}.")
        ls = self.label_smoothing.values() if isinstance(self.label_smoothing, Mapping) else [self.label_smoothing]
        if not all(_is_real(v) and 0 <= v < 1 for v in ls):
            raise MixupError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")

    @overload
    def pair(self, y: Tensor, params: MixParams) -> MixedTarget: ...
    @overload
    def pair(self, y: Mapping[str, Tensor], params: MixParams) -> dict[str, MixedTarget]: ...
    def pair(self, y: Tensor | Mapping[str, Tensor], params: MixParams) -> MixedTarget | dict[str, MixedTarget]:
        """Pair targets ``(B, ...)`` (or a dict of them) with ``params``; lazy :class:`MixedTarget`."""
        return mix_target(y, params, kind=self.kind, num_classes=self.num_classes,
                          label_smoothing=self.label_smoothing)
