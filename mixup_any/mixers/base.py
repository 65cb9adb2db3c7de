"""The :class:`Mixer` base: draw one plan per batch (:meth:`Mixer.sample`), apply it to the inputs
(:meth:`Mixer.mix`) and the targets (:meth:`Mixer.mix_target`); what every mixer shares lives here.
"""

from __future__ import annotations

import abc
import functools
import inspect
import random
import secrets
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, overload

import torch
from torch import Tensor, nn

from ..exceptions import MixupError
from ..functional import INTEGER_LEAF_HINT, batch_size_of, map_float_leaves, tensor_leaves
from ..params import MixParams, check_given
from ..policies import TargetSpec
from ..sampling import canonical_device, same_device
from ..schedule import MixSchedule
from ..targets import MixedTarget

__all__ = ["Mixer"]


def check_lifecycle(schedule: Any, seed: Any) -> None:
    """Raise :class:`MixupError` for a schedule that is not a :class:`MixSchedule` or a bad seed."""
    if schedule is not None and not isinstance(schedule, MixSchedule):
        raise MixupError(f"schedule must be a MixSchedule, got {type(schedule).__name__}.")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not -(2**63) <= seed < 2**64):
        raise MixupError(f"seed must be an int in [-2**63, 2**64) or None, got {seed!r}.")


def check_draw(shape: torch.Size | Sequence[int], labels: Tensor | None,
               device: torch.device | str | None) -> tuple[int, torch.device]:
    """The batch size and the device of a draw for inputs of ``shape`` ``(B, ...)`` (the labels' if given)."""
    if len(shape) == 0:
        raise MixupError("Cannot mix a 0-d input; expected a batch of shape (B, ...).")
    b = int(shape[0])
    if b == 0:
        raise MixupError("The batch is empty (batch size 0); there is nothing to mix.")
    if labels is not None:
        if not isinstance(labels, Tensor) or labels.ndim == 0 or labels.shape[0] != b:
            got = f"shape {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
            raise MixupError(f"The inputs have batch size {b} but the targets have {got}.")
        if device is not None and not same_device(torch.device(device), labels.device):
            raise MixupError(f"The batch is on {torch.device(device)} but the labels are on {labels.device}: the "
                             "plan is drawn where the batch lives, so move the labels there too.")
        device = labels.device
    return b, torch.device(device) if device is not None else torch.device("cpu")


@functools.cache
def _arguments(cls: type) -> Mapping[str, inspect.Parameter]:
    """The constructor arguments of a mixer class by name (read once per class)."""
    return inspect.signature(cls).parameters


class Mixer(abc.ABC):
    """Base of all mixers: one random plan per batch, shared by inputs, hooks and targets.

    Subclasses store their constructor arguments under their own names (so :meth:`get_params`,
    ``sklearn.clone`` and pickling work), validate them in :meth:`_check` and call :meth:`_start` at
    the end of ``__init__``.
    """

    schedule: MixSchedule | None = None
    seed: int | None = None
    _integer_hint = INTEGER_LEAF_HINT

    @property
    @abc.abstractmethod
    def target_spec(self) -> TargetSpec:
        """How the targets are read and paired with a plan."""

    @abc.abstractmethod
    def _check(self) -> None:
        """Validate the stored arguments (a clear :class:`MixupError`); called again by :meth:`set_params`."""

    def _start(self) -> None:
        self.training = True
        self.enabled = True
        self._model_ref: weakref.ref[nn.Module] | None = None
        self._seed: int | None = None
        self._generators: dict[str, torch.Generator] = {}
        self._rng: random.Random | None = None
        self._ready = True  # from now on, assigning a constructor argument validates it (see __setattr__)

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigning a constructor argument (``mixer.alpha = 0.2``) goes through :meth:`set_params`."""
        if name.startswith("_") or not self.__dict__.get("_ready") or name not in _arguments(type(self)):
            object.__setattr__(self, name, value)
        else:
            self.set_params(**{name: value})

    @abc.abstractmethod
    def sample(
        self,
        shape: torch.Size | Sequence[int],
        *,
        labels: Tensor | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        rng: random.Random | None = None,
    ) -> MixParams:
        """Draw the plan for a batch whose (first) input has ``shape`` ``(B, ...)``, on ``device``.

        ``rng`` is the host generator of the per-batch decisions (default: the mixer's own, or one seeded
        from a CPU ``generator``); a composite mixer passes its own so that its seed decides its members'.
        """

    @abc.abstractmethod
    def mix(self, x: Any, params: MixParams, *, inplace: bool = False) -> Any:
        """Apply ``params`` to a tensor ``(B, ...)`` or a nested batch of float tensors, whatever the mode
        (``mixer(x, y)`` and the other entry points mix nothing in eval mode); a plan whose record this
        mixer does not understand raises :class:`MixupError`."""

    def needs_labels(self) -> bool:
        """Whether :meth:`sample` needs the targets (class-aware pairing, excluded classes)."""
        return False

    def _unmixed(self, x: Any) -> Any:
        """``x`` itself, after the checks a mix makes (an identity plan rejects what a drawn plan would)."""
        map_float_leaves(x, lambda t, path: t, "x", integer_hint=self._integer_hint)
        return x

    @overload
    def mix_target(self, y: Tensor, params: MixParams) -> MixedTarget: ...
    @overload
    def mix_target(self, y: Mapping[str, Tensor], params: MixParams) -> dict[str, MixedTarget]: ...
    def mix_target(self, y: Tensor | Mapping[str, Tensor], params: MixParams) -> MixedTarget | dict[str, MixedTarget]:
        """Pair the targets with ``params`` (lazy; see :class:`mixup_any.targets.MixedTarget`)."""
        return self.target_spec.pair(y, params)

    @overload
    def __call__(self, x: Any, y: Tensor, *, params: MixParams | None = ...,
                 generator: torch.Generator | None = ..., inplace: bool = ...) -> tuple[Any, MixedTarget]: ...
    @overload
    def __call__(self, x: Any, y: Mapping[str, Tensor], *, params: MixParams | None = ...,
                 generator: torch.Generator | None = ..., inplace: bool = ...) -> tuple[Any, dict[str, MixedTarget]]:
        ...
    def __call__(
        self,
        x: Any,
        y: Tensor | Mapping[str, Tensor] | None = None,
        *,
        params: MixParams | None = None,
        generator: torch.Generator | None = None,
        inplace: bool = False,
    ) -> tuple[Any, MixedTarget | dict[str, MixedTarget]]:
        """Mix a batch: ``x, target = mixer(x, y)``.

        Args:
            x: ``(B, ...)`` float tensor or a nested batch of them.
            y: targets ``(B, ...)`` or a dict of them; returned as :class:`MixedTarget` (a dict of them).
            params: replay a given plan instead of drawing one (in eval mode nothing is mixed, a given plan included).
            generator: use this generator for this call instead of the mixer's own.
            inplace: overwrite ``x`` (only when asked; never for tensors autograd still needs).

        Returns:
            ``(x_mixed, target)``.
        """
        if y is None:
            raise MixupError(
                "mixer(x, y) needs the targets y: it returns (x_mixed, target). To mix inputs alone, draw a plan "
                "and apply it: mixer.mix(x, mixer.sample(x.shape, device=x.device))."
            )
        b = batch_size_of(x, "x")
        first = tensor_leaves(x, "x")[0][1]  # batch_size_of raised if x holds no tensor
        if isinstance(y, Tensor) and y.device != first.device:
            raise MixupError(f"x is on {first.device} but y is on {y.device}: move both to the device you train on "
                             "(the plan is drawn there and applied to both).")
        yb = batch_size_of(y, "y")
        if yb != b:
            raise MixupError(f"The inputs have batch size {b} but the targets have {yb} rows.")
        if params is None:
            if isinstance(y, Mapping) and self.needs_labels():
                raise MixupError("Class-based pairing and exclude_classes need a single target tensor, "
                                 "not a dict; pass sample(..., labels=y[key]) and params=.")
            labels = y if isinstance(y, Tensor) else None
            params = self.sample(first.shape, labels=labels, device=first.device, generator=generator)
        else:
            check_given(params, "mixer(x, y, params=...)", b, device=first.device)
            if not (self.enabled and self.is_training):  # eval mode mixes nothing, a given plan included
                params = MixParams.identity(b, params.device)
        return self.mix(x, params, inplace=inplace), self.mix_target(y, params)

    @property
    def generator(self) -> torch.Generator:
        """The mixer's CPU generator: CPU batches, and choices the host must know (which site, which member)."""
        return self.generator_for("cpu")

    def generator_for(self, device: torch.device | str) -> torch.Generator:
        """The mixer's generator on ``device`` (one per device, made on first use), seeded from ``seed``."""
        device = canonical_device(device)
        gen = self._generators.get(str(device))
        if gen is None:
            gen = self._generators[str(device)] = torch.Generator(device).manual_seed(self._base_seed())
        return gen

    def host_rng(self, generator: torch.Generator | None = None) -> random.Random:
        """The host generator of per-batch decisions (λ of a per-batch plan, one box, which member mixes).

        With a CPU ``generator`` given for one call, one seeded from it (the same generator replays the plan).
        """
        if generator is not None and generator.device.type == "cpu":
            return random.Random(int(torch.randint(2**62, (1,), generator=generator)))
        if self._rng is None:
            self._rng = random.Random(self._base_seed() % 2**64)
        return self._rng

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
        self._rng = random.Random(seed % 2**64)  # Random(-s) would repeat Random(s)'s stream
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
    def followed(self) -> nn.Module | None:
        """The model this mixer follows (:meth:`follow`), or ``None``."""
        return self._model_ref() if self._model_ref is not None else None

    @property
    def is_training(self) -> bool:
        model = self.followed
        return model.training if model is not None else self.training

    def set_epoch(self, epoch: int) -> None:
        """Tell the schedule which epoch starts (like ``DistributedSampler.set_epoch``)."""
        if self.schedule is not None:
            self.schedule.set_epoch(epoch)

    def active(self) -> bool:
        """Whether the next draw may mix: training, enabled, and the schedule still on."""
        if not (self.enabled and self.is_training):
            return False
        return self.schedule is None or self.schedule.active()

    def state_dict(self) -> dict[str, Any]:
        """Generator and schedule state, for an exact resume."""
        return {
            "seed": self._base_seed(),
            "generators": {dev: gen.get_state() for dev, gen in self._generators.items()},
            "host": self.host_rng().getstate(),
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
        host = state.get("host")
        self._rng = None
        if host is not None:
            self.host_rng().setstate((host[0], tuple(host[1]), host[2]))
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

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments by name (so ``sklearn.clone`` and ``mixer__alpha`` routing work)."""
        return {name: getattr(self, name) for name in _arguments(type(self))}

    def set_params(self, **params: Any) -> Mixer:
        valid = _arguments(type(self))
        for k in params:
            if k not in valid:
                raise MixupError(f"Unknown parameter {k!r} for {type(self).__name__}; valid: {sorted(valid)}.")
        before = {k: getattr(self, k) for k in params}
        self.__dict__.update(params)  # all at once, then one check (min_area and max_area may move together)
        try:
            self._check()
        except MixupError:  # a refused value is not kept: the mixer stays as it was
            self.__dict__.update(before)
            self._check()
            raise
        return self

    def __repr__(self) -> str:
        shown = [f"{k}={getattr(self, k)!r}" for k, prm in _arguments(type(self)).items()
                 if prm.default is inspect.Parameter.empty or k == "alpha" or prm.default != getattr(self, k)]
        return f"{type(self).__name__}({', '.join(shown)})"
