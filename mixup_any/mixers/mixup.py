"""Input mixup (Zhang et al., 2018, https://arxiv.org/abs/1710.09412) for any float tensor or nested batch."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..exceptions import MixupError
from ..functional import mix_batch
from ..params import MixParams, check_extra
from ..policies import LamPolicy, Pairing, TargetSpec
from ..schedule import MixSchedule
from .base import Mixer, check_draw, check_lifecycle

__all__ = ["MixUp"]


class MixUp(Mixer):
    """Mixup: ``x̃ = λ·x + (1-λ)·x[index]`` and the same for targets, λ ~ Beta(α, α).

    Works on any float batch ``(B, ...)`` — images, audio, time series, continuous features,
    embeddings — and on dicts / tuples / lists of them (every float leaf shares one draw). The
    keywords build three policies (:mod:`mixup_any.policies`): ``lam_policy`` (the λ keywords),
    ``pairing_policy`` and ``target_spec``; ``pairing`` and ``target`` also take the policy objects.

    Args:
        alpha: Beta(α, α) concentration. ``alpha=0`` is exactly no mixing (ERM).
        beta: second concentration: Beta(α, beta); ``None`` means ``alpha``.
        lam: fixed λ (float) or ``(low, high)`` for a uniform draw; overrides ``alpha``.
        fold: use ``max(λ, 1-λ)`` so each row's own sample dominates.
        per_sample: one λ per row instead of one per batch.
        p: probability of mixing (the only probability knob); ``p=0`` is exactly ERM.
        per_sample_p: apply ``p`` to each row (unmixed rows have λ = 1) instead of to the batch.
        pairing: ``"permute"``, ``"flip"``, ``"roll"``, ``"same_class"``, ``"different_class"``,
            ``"label_distance"`` (C-Mixup), a callable, or a :class:`~mixup_any.policies.Pairing`.
        bandwidth: σ of the ``"label_distance"`` kernel.
        exclude_classes: class ids whose samples are never mixed nor used as partners.
        num_classes: ``C``, needed to turn class indices into soft targets.
        target: target kind (``"auto"``, ``"index"``, ``"soft"``, ``"multilabel"``, ``"regression"``),
            a dict per key for multi-task targets, or a :class:`~mixup_any.policies.TargetSpec`.
        label_smoothing: explicit smoothing applied to each side before mixing (off by default).
        schedule: a :class:`MixSchedule` (off after epoch/step, α warm-up).
        seed: seed of the mixer's own ``torch.Generator``; ``None`` draws one from the OS.

    Example:
        >>> mixer = MixUp(alpha=0.4, num_classes=3, seed=0)
        >>> x, target = mixer(torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> x.shape, type(target.lam).__name__, target.soft().shape  # one λ per batch: a Python float
        (torch.Size([4, 3, 8, 8]), 'float', torch.Size([4, 3]))
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        beta: float | None = None,
        lam: float | tuple[float, float] | None = None,
        fold: bool = False,
        per_sample: bool = False,
        p: float = 1.0,
        per_sample_p: bool = False,
        pairing: str | Callable[..., Tensor] | Pairing = "permute",
        bandwidth: float = 1.0,
        exclude_classes: Sequence[int] | None = None,
        num_classes: int | Mapping[str, int] | None = None,
        target: str | Mapping[str, str] | TargetSpec = "auto",
        label_smoothing: float | Mapping[str, float] = 0.0,
        schedule: MixSchedule | None = None,
        seed: int | None = None,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.lam = lam
        self.fold = fold
        self.per_sample = per_sample
        self.p = p
        self.per_sample_p = per_sample_p
        self.pairing = pairing
        self.bandwidth = bandwidth
        self.exclude_classes = exclude_classes
        self.num_classes = num_classes
        self.target = target
        self.label_smoothing = label_smoothing
        self.schedule = schedule
        self.seed = seed
        self._check()
        self._start()

    @property
    def lam_policy(self) -> LamPolicy:
        return self._lam_policy

    @property
    def pairing_policy(self) -> Pairing:
        return self._pairing_policy

    @property
    def target_spec(self) -> TargetSpec:
        return self._target_spec

    def _check(self) -> None:
        """Build the three policies from the stored arguments (each validates itself), never per batch."""
        lam_policy = LamPolicy(self.alpha, self.beta, self.lam, self.fold, self.per_sample, self.p, self.per_sample_p)
        pairing = self.pairing
        if not isinstance(pairing, Pairing):
            pairing = Pairing(pairing, self.bandwidth, self.exclude_classes)
        elif self.bandwidth != 1.0 or self.exclude_classes is not None:
            raise MixupError("pairing is a Pairing: set bandwidth and exclude_classes on it, not on the mixer.")
        target = self.target
        if not isinstance(target, TargetSpec):
            target = TargetSpec(target, self.num_classes, self.label_smoothing)
        elif self.num_classes is not None or self.label_smoothing != 0.0:
            raise MixupError("target is a TargetSpec: set num_classes and label_smoothing on it, not on the mixer.")
        check_lifecycle(self.schedule, self.seed)
        self._lam_policy, self._pairing_policy, self._target_spec = lam_policy, pairing, target

    def needs_labels(self) -> bool:
        return self._pairing_policy.needs_labels

    def active(self) -> bool:
        """Whether the next draw may mix: training, enabled, the schedule on, and ``alpha``/``p`` not zero."""
        return super().active() and self._lam_policy.mixes

    def sample(
        self,
        shape: torch.Size | Sequence[int],
        *,
        labels: Tensor | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        rng: random.Random | None = None,
    ) -> MixParams:
        """Draw λ and partners ``(B,)`` for inputs of ``shape`` ``(B, ...)``, on ``device``.

        A per-batch λ is a Python float from the mixer's host generator; per-row λ and partners are
        tensors drawn on ``device``. Identity plans (``mixed=False``) come back when :meth:`active` is
        false, when a warm-up scales α to 0 and when a per-batch ``p`` skips the batch.
        """
        b, dev = check_draw(shape, labels, device)
        active = self.active()
        scale = 1.0
        if self.schedule is not None and self.enabled and self.is_training:
            scale = self.schedule.alpha_scale()
            self.schedule.step()
        if not active or (self.lam is None and self.alpha * scale == 0):
            return MixParams.identity(b, dev)
        gen = generator if generator is not None else self.generator_for(dev)
        rng = rng if rng is not None else self.host_rng(generator)
        lam, rows = self._lam_policy.draw(b, rng=rng, alpha_scale=scale, generator=gen, device=dev)
        if rows is None and isinstance(lam, float) and lam == 1.0:
            return MixParams.identity(b, dev)
        index, eligible = self._pairing_policy.draw(b, labels=labels, generator=gen, device=dev)
        if eligible is not None:
            rows = eligible if rows is None else rows & eligible
        return self._extend(tuple(shape), lam, index, rows, rng, gen)

    def _extend(self, shape: tuple[int, ...], lam: float | Tensor, index: Tensor, rows: Tensor | None,
                rng: random.Random, generator: torch.Generator) -> MixParams:
        """The plan from λ, partners and the rows that mix (``None``: all); CutMix adds its box here."""
        if rows is not None:
            lam = torch.where(rows, lam, 1.0)
        # a per-row Beta or uniform draw stays below 1 (every row mixes); a fixed lam or a range can reach 1
        p = MixParams(lam=lam, index=index, unmixed_rows=rows is not None or self.lam is not None)
        return p._drawn_as_permutation() if self._pairing_policy.strategy in ("permute", "flip") else p

    def mix(self, x: Any, params: MixParams, *, inplace: bool = False) -> Any:
        """Lerp a tensor ``(B, ...)`` or a nested batch of float tensors with its partners: plans without a record."""
        if not params.mixed:
            return self._unmixed(x)
        check_extra(params, (type(None),), type(self).__name__)
        return mix_batch(x, params.lam, params.index, inplace=inplace, path="x",
                         keep_unmixed=params.unmixed_rows, permutation=params.permutation is params.index)
