"""The :class:`Mixer` base: draw one plan per batch, apply it to inputs and targets.

The base fixes the order of work (validate → :meth:`Mixer.sample` → :meth:`Mixer.mix` →
:meth:`Mixer.mix_target`) and owns the policy every mixer shares: the λ distribution, the
apply-probability, pairing, class exclusion, the training phase, the schedule and the generator.
Subclasses override :meth:`Mixer.mix` (the kernel) and, if they draw more than λ and a pairing
(CutMix boxes), :meth:`Mixer._sample_extras`.
"""

from __future__ import annotations

import inspect
import math
import secrets
import weakref
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any, overload

import torch
from torch import Tensor, nn

from ..exceptions import MixupError
from ..functional import INTEGER_LEAF_HINT, batch_size_of, map_float_leaves, mix_batch, tensor_leaves
from ..params import MixParams
from ..sampling import (
    apply_probability,
    canonical_device,
    check_pairing,
    class_ids,
    same_device,
    sample_index,
    sample_lambda,
)
from ..schedule import MixSchedule
from ..targets import TARGET_KINDS, MixedTarget, mix_target

__all__ = ["Mixer"]


class Mixer:
    """Base of all mixers: one random plan per batch, shared by inputs, hooks and targets.

    Args:
        alpha: Beta(α, α) concentration. ``alpha=0`` is exactly no mixing (ERM).
        beta: second concentration: Beta(α, beta); ``None`` means ``alpha``.
        lam: fixed λ (float) or ``(low, high)`` for a uniform draw; overrides ``alpha``.
        fold: use ``max(λ, 1-λ)`` so each row's own sample dominates.
        per_sample: one λ per row instead of one per batch.
        p: probability of mixing (the only probability knob); ``p=0`` is exactly ERM.
        per_sample_p: apply ``p`` to each row (unmixed rows have λ = 1) instead of to the batch.
        pairing: ``"permute"``, ``"flip"``, ``"roll"``, ``"same_class"``, ``"different_class"``,
            ``"label_distance"`` (C-Mixup) or a callable (see :func:`mixup_any.sampling.sample_index`).
        bandwidth: σ of the ``"label_distance"`` kernel.
        exclude_classes: class ids whose samples are never mixed nor used as partners.
        num_classes: ``C``, needed to turn class indices into soft targets.
        target: target kind (``"auto"``, ``"index"``, ``"soft"``, ``"multilabel"``, ``"regression"``),
            or a dict per key for multi-task targets.
        label_smoothing: explicit smoothing applied to each side before mixing (off by default).
        schedule: a :class:`MixSchedule` (off after epoch/step, α warm-up).
        seed: seed of the mixer's own ``torch.Generator``; ``None`` draws one from the OS.
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
        pairing: Any = "permute",
        bandwidth: float = 1.0,
        exclude_classes: Sequence[int] | None = None,
        num_classes: int | Mapping[str, int] | None = None,
        target: str | Mapping[str, str] = "auto",
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
        self._validate()
        self.training = True
        self.enabled = True
        self._model_ref: weakref.ref[nn.Module] | None = None
        self._seed: int | None = None
        self._generators: dict[str, torch.Generator] = {}

    # ---------------------------------------------------------------- validation
    def _validate(self) -> None:
        if not isinstance(self.alpha, Real) or isinstance(self.alpha, bool) or not 0 <= self.alpha < math.inf:
            raise MixupError(
                f"alpha must be a float >= 0 and finite (the Beta(alpha, alpha) concentration), got {self.alpha!r}. "
                "alpha=0 disables mixing."
            )
        if self.beta is not None and (not isinstance(self.beta, Real) or not 0 < self.beta < math.inf):
            raise MixupError(f"beta must be a float > 0 and finite, or None (meaning beta = alpha), got {self.beta!r}.")
        if self.lam is not None:
            lams = list(self.lam) if isinstance(self.lam, (tuple, list)) else [self.lam]
            if len(lams) not in (1, 2) or not all(isinstance(v, Real) and 0 <= v <= 1 for v in lams) or (
                len(lams) == 2 and lams[0] > lams[1]
            ):
                raise MixupError(
                    f"lam must be a float in [0, 1] or a (low, high) range inside [0, 1], got {self.lam!r}."
                )
        if not isinstance(self.p, Real) or not 0 <= self.p <= 1:
            raise MixupError(f"p must be a probability in [0, 1], got {self.p!r}.")
        check_pairing(self.pairing)
        if not isinstance(self.bandwidth, Real) or not self.bandwidth > 0:
            raise MixupError(f"bandwidth must be > 0, got {self.bandwidth!r}.")
        if self.exclude_classes is not None:
            if isinstance(self.exclude_classes, (str, bytes)) or not isinstance(self.exclude_classes, Iterable):
                raise MixupError(f"exclude_classes must be a list of class ids, got {self.exclude_classes!r}.")
            if not all(isinstance(c, int) and not isinstance(c, bool) for c in self.exclude_classes):
                raise MixupError(f"exclude_classes must hold int class ids, got {self.exclude_classes!r}.")
        nc = self.num_classes.values() if isinstance(self.num_classes, Mapping) else [self.num_classes]
        if not all(c is None or (isinstance(c, int) and c >= 1) for c in nc):
            raise MixupError(f"num_classes must be a positive int (or None), got {self.num_classes!r}.")
        kinds = self.target.values() if isinstance(self.target, Mapping) else [self.target]
        for k in kinds:
            if k not in TARGET_KINDS:
                raise MixupError(f"Unknown target kind {k!r}; expected one of {TARGET_KINDS}.")
        ls = self.label_smoothing.values() if isinstance(self.label_smoothing, Mapping) else [self.label_smoothing]
        if not all(isinstance(v, Real) and 0 <= v < 1 for v in ls):
            raise MixupError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if self.schedule is not None and not isinstance(self.schedule, MixSchedule):
            raise MixupError(f"schedule must be a MixSchedule, got {type(self.schedule).__name__}.")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)
                                      or not -(2**63) <= self.seed < 2**64):
            raise MixupError(f"seed must be an int in [-2**63, 2**64) or None, got {self.seed!r}.")

    # ---------------------------------------------------------------- phase & randomness
    @property
    def generator(self) -> torch.Generator:
        """The mixer's CPU generator: CPU batches, and choices the host must know (which site, which member)."""
        return self.generator_for("cpu")

    def generator_for(self, device: torch.device | str) -> torch.Generator:
        """The mixer's generator on ``device``, made on first use and seeded from ``seed``.

        Plans are drawn on the batch's device, so each device has its own generator; the same seed
        gives different streams on different kinds of device.
        """
        device = canonical_device(device)
        gen = self._generators.get(str(device))
        if gen is None:
            gen = self._generators[str(device)] = torch.Generator(device).manual_seed(self._base_seed())
        return gen

    def _base_seed(self) -> int:
        if self._seed is None:
            self._seed = self.seed if self.seed is not None else secrets.randbits(63)
        return self._seed

    def manual_seed(self, seed: int) -> Mixer:
        """Reseed the mixer's generators (e.g. per DataLoader worker or per rank)."""
        if not isinstance(seed, int) or isinstance(seed, bool) or not -(2**63) <= seed < 2**64:
            raise MixupError(f"seed must be an int in [-2**63, 2**64), got {seed!r}.")
        self._seed = seed
        for gen in self._generators.values():
            gen.manual_seed(seed)
        return self

    def train(self, mode: bool = True) -> Mixer:
        self.training = mode
        return self

    def eval(self) -> Mixer:
        return self.train(False)

    def follow(self, model: nn.Module | None) -> Mixer:
        """Mix only while ``model.training`` is true (a weak reference; ``None`` stops following)."""
        self._model_ref = weakref.ref(model) if model is not None else None
        return self

    @property
    def is_training(self) -> bool:
        model = self._model_ref() if self._model_ref is not None else None
        return model.training if model is not None else self.training

    def set_epoch(self, epoch: int) -> None:
        """Tell the schedule which epoch starts (like ``DistributedSampler.set_epoch``)."""
        if self.schedule is not None:
            self.schedule.set_epoch(epoch)

    def active(self) -> bool:
        """Whether the next draw may mix: training, enabled, and the schedule still on."""
        if not (self.enabled and self.is_training):
            return False
        if self.schedule is not None and not self.schedule.active():
            return False
        return not (self.p == 0 or (self.lam is None and self.alpha == 0))

    # ---------------------------------------------------------------- the plan
    def sample(
        self,
        shape: torch.Size | Sequence[int],
        *,
        labels: Tensor | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> MixParams:
        """Draw the plan for a batch whose (first) input has ``shape`` ``(B, ...)``.

        Identity plans (``mixed=False``) come back in eval mode, when disabled, when the schedule is
        off, and for ``alpha=0`` or ``p=0``.
        """
        if len(shape) == 0:
            raise MixupError("Cannot mix a 0-d input; expected a batch of shape (B, ...).")
        b = int(shape[0])
        if b == 0:
            raise MixupError("The batch is empty (batch size 0); there is nothing to mix.")
        if labels is not None:
            if labels.ndim == 0 or labels.shape[0] != b:
                raise MixupError(f"The inputs have batch size {b} but the targets have shape {tuple(labels.shape)}.")
            if device is not None and not same_device(torch.device(device), labels.device):
                raise MixupError(f"The batch is on {torch.device(device)} but the labels are on {labels.device}: the "
                                 "plan is drawn where the batch lives, so move the labels there too.")
            device = labels.device
        device = torch.device(device) if device is not None else torch.device("cpu")
        training = self.enabled and self.is_training
        active = self.active()
        if training and self.schedule is not None:
            scale = self.schedule.alpha_scale()
            self.schedule.step()
        else:
            scale = 1.0
        alpha = self.alpha * scale
        if not active or (self.lam is None and alpha == 0):
            return MixParams.identity(b, device)
        gen = generator if generator is not None else self.generator_for(device)
        lam = sample_lambda(b, alpha=alpha, beta=self.beta, lam=self.lam, fold=self.fold,
                            per_sample=self.per_sample, generator=gen, device=device)
        lam = apply_probability(lam, self.p, per_sample=self.per_sample_p, generator=gen)
        eligible = None
        if self.exclude_classes:
            if labels is None:
                raise MixupError("exclude_classes needs the targets: call mixer(x, y) or sample(..., labels=y).")
            cls = class_ids(labels)
            eligible = torch.ones_like(cls, dtype=torch.bool)
            for c in self.exclude_classes:  # a few configured classes; compared as scalars, nothing is copied
                eligible &= cls != c
            lam = lam.where(eligible, 1.0)
        index = sample_index(b, pairing=self.pairing, labels=labels, eligible=eligible,
                             bandwidth=self.bandwidth, generator=gen, device=device)
        params = MixParams(lam=lam, index=index)
        return self._sample_extras(tuple(shape), params, gen)

    def _sample_extras(self, shape: tuple[int, ...], params: MixParams, generator: torch.Generator) -> MixParams:
        """Subclasses add draws (boxes, masks) and may correct ``lam``; the default adds nothing."""
        return params

    # ---------------------------------------------------------------- applying it
    def mix(self, x: Any, params: MixParams, *, inplace: bool = False) -> Any:
        """Mix a tensor ``(B, ...)`` or a nested batch of float tensors with ``params``."""
        if not params.mixed:
            return self._unmixed(x)
        return mix_batch(x, params.lam, params.index, inplace=inplace, path="x")

    _integer_hint = INTEGER_LEAF_HINT

    def _unmixed(self, x: Any) -> Any:
        """``x`` itself, after the checks a mix makes: an identity plan (eval, ``alpha=0``, ``p=0``) must not
        accept an input that a drawn plan would reject."""
        map_float_leaves(x, lambda t, path: t, "x", integer_hint=self._integer_hint)
        return x

    @overload
    def mix_target(self, y: Tensor, params: MixParams) -> MixedTarget: ...
    @overload
    def mix_target(self, y: Mapping[str, Tensor], params: MixParams) -> dict[str, MixedTarget]: ...
    @overload
    def mix_target(self, y: Tensor | Mapping[str, Tensor], params: MixParams) -> MixedTarget | dict[str, MixedTarget]:
        ...
    def mix_target(self, y: Tensor | Mapping[str, Tensor], params: MixParams) -> MixedTarget | dict[str, MixedTarget]:
        """Pair the targets with ``params`` (lazy; see :class:`mixup_any.targets.MixedTarget`)."""
        return mix_target(y, params, kind=self.target, num_classes=self.num_classes,
                          label_smoothing=self.label_smoothing)

    def __call__(
        self,
        x: Any,
        y: Tensor | Mapping[str, Tensor] | None = None,
        *,
        params: MixParams | None = None,
        generator: torch.Generator | None = None,
        inplace: bool = False,
    ) -> Any:
        """Mix a batch: ``x, target = mixer(x, y)`` (or ``x = mixer(x)`` without targets).

        Args:
            x: ``(B, ...)`` float tensor or a nested batch of them.
            y: targets ``(B, ...)`` or a dict of them; returned as :class:`MixedTarget`.
            params: replay a given plan instead of drawing one.
            generator: use this generator for this call instead of the mixer's own.
            inplace: overwrite ``x`` (only when asked; never for tensors autograd still needs).
        """
        b = batch_size_of(x, "x")
        first = tensor_leaves(x, "x")[0][1]  # batch_size_of raised if x holds no tensor
        if isinstance(y, Tensor) and y.device != first.device:
            raise MixupError(f"x is on {first.device} but y is on {y.device}: move both to the device you train on "
                             "(the plan is drawn there and applied to both).")
        if y is not None:
            yb = batch_size_of(y, "y")
            if yb != b:
                raise MixupError(f"The inputs have batch size {b} but the targets have {yb} rows.")
        if params is None:
            labels = y if isinstance(y, Tensor) else None
            if isinstance(y, Mapping) and (self.pairing in ("same_class", "different_class", "label_distance")
                                           or self.exclude_classes):
                raise MixupError("Class-based pairing and exclude_classes need a single target tensor, "
                                 "not a dict; pass sample(..., labels=y[key]) and params=.")
            params = self.sample(first.shape, labels=labels, device=first.device, generator=generator)
        elif params.batch_size != b:
            raise MixupError(f"The given params are for batch size {params.batch_size}, but x has {b} rows.")
        x_mixed = self.mix(x, params, inplace=inplace)
        if y is None:
            return x_mixed
        return x_mixed, self.mix_target(y, params)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Generator and schedule state, for an exact resume."""
        return {
            "seed": self._base_seed(),
            "generators": {dev: gen.get_state() for dev, gen in self._generators.items()},
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "training": self.training,
            "enabled": self.enabled,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._seed = state["seed"]
        saved = state["generators"]
        # a device without a saved state had drawn nothing yet: it restarts from the seed
        self._generators = {dev: g for dev, g in self._generators.items() if dev in saved}
        for dev, gen_state in saved.items():
            self.generator_for(dev).set_state(gen_state)
        if self.schedule is not None and state.get("schedule") is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.training = bool(state.get("training", True))
        self.enabled = bool(state.get("enabled", True))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model_ref"] = None  # weak references do not pickle; re-follow after unpickling
        # only the CPU generator travels (to DataLoader workers, say); others are re-made from the seed there
        state["_generators"] = {k: g for k, g in self._generators.items() if k == "cpu"}
        return state

    # ---------------------------------------------------------------- sklearn-style params
    @classmethod
    def _param_names(cls) -> list[str]:
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" not in klass.__dict__:
                continue
            for name, prm in inspect.signature(klass.__dict__["__init__"]).parameters.items():
                if name != "self" and prm.kind not in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD) and name not in names:
                    names.append(name)
            if klass is Mixer:
                break
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments by name (so ``sklearn.clone`` and ``mixer__alpha`` routing work)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Mixer:
        valid = set(self._param_names())
        for k, v in params.items():
            if k not in valid:
                raise MixupError(f"Unknown parameter {k!r} for {type(self).__name__}; valid: {sorted(valid)}.")
            setattr(self, k, v)
        self._validate()
        return self

    def __repr__(self) -> str:
        defaults: dict[str, Any] = {}
        for klass in type(self).__mro__:
            if "__init__" in klass.__dict__:
                for name, prm in inspect.signature(klass.__dict__["__init__"]).parameters.items():
                    defaults.setdefault(name, prm.default)
            if klass is Mixer:
                break
        shown = [f"{k}={v!r}" for k, v in self.get_params().items()
                 if k == "alpha" or defaults.get(k, inspect.Parameter.empty) != v]
        return f"{type(self).__name__}({', '.join(shown)})"

