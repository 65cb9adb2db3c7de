"""One handle for every place a model is mixed: :class:`MixHandle`, with :class:`Route` and :class:`Adapter`.

:func:`mixup_any.attach` returns it for every route, with the same verbs: ``arm(y)`` before a forward, the
model called unchanged, then ``loss`` or ``target``. The first selected site that runs draws the plan from
its own output's shape and later sites reuse it; a route's :class:`Adapter` may draw it in a pre-hook on
the model instead, where it rewrites the inputs the plan touches. The rules (eval mode, one forward per
arm, ``repeat=``, removal, modes) are in docs/hooks.md, "Rules".
"""

from __future__ import annotations

import inspect
import sys
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from .exceptions import HookSiteError, MixupError
from .functional import tensor_leaves
from .mixers.base import Mixer
from .modes import check_eta, check_mode, clean_and_mixed, mode_loss, mode_target
from .params import MixParams, check_given
from .sites import INPUT, SiteSpec, describe, select_output

__all__ = ["Adapter", "Argument", "MixHandle", "Route"]

_H = TypeVar("_H", bound="MixHandle")

# module -> the live handle that hooks it (as root or as a site); guards against double attachment
_LIVE: weakref.WeakKeyDictionary[nn.Module, MixHandle] = weakref.WeakKeyDictionary()

# dynamo cannot trace torch.Generator calls: once torch.compile is in use, the hooks draw through
# torch._dynamo.disable, one clean graph break per draw (see _prepare_compile)
_UNTRACED: Callable[..., MixParams] | None = None


def _sample(mixer: Mixer, shape: torch.Size, labels: Tensor | None, device: torch.device) -> MixParams:
    return mixer.sample(shape, labels=labels, device=device)


def _prepare_compile() -> None:
    """Draw around dynamo once it is in use (``torch._dynamo`` is only touched when already imported:
    importing it costs seconds)."""
    global _UNTRACED
    if _UNTRACED is None and "torch._dynamo" in sys.modules:
        _UNTRACED = sys.modules["torch._dynamo"].disable(_sample, recursive=True)


def mixes(model: nn.Module, mode: str = "mixup") -> bool:
    """Whether an armed forward of ``model`` mixes: the one place that decides it for every route.

    The attached model's own ``training`` flag decides (the mixer follows the model); ``mode="erm"``
    never mixes.
    """
    return model.training and mode != "erm"


class Adapter:
    """A route's part of a :class:`MixHandle`: it sees each armed forward's inputs, and each site's tensor.

    The handle calls :meth:`prepare` in a forward pre-hook of the attached model, only while armed. An
    adapter draws the plan there (``handle.use(handle.draw(shape, device))``, or a plan of its own passed
    to ``handle.use``) and returns the rewritten ``(args, kwargs)``, or ``None`` to keep them. It calls
    :meth:`check` with the tensor a selected site is about to mix.

    Attributes:
        choose: the route's rule for several sites (``"all"``: every site mixes the one draw), or ``None``
            to take :func:`~mixup_any.attach`'s ``choose`` (default ``"one"``).
        output: the element of a site's output to mix when :func:`~mixup_any.attach` names none.
    """

    choose: str | None = None
    output: int | str | None = None

    def prepare(self, handle: MixHandle, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        return None

    def check(self, handle: MixHandle, name: str, module: nn.Module, t: Tensor) -> None:
        """Raise a :class:`HookSiteError` if site ``name`` must not mix ``t`` ``(rows, ...)``; runs before the mix."""


class Argument:
    """One input of ``model.forward`` named by parameter name or position, passed by keyword or by position."""

    def __init__(self, model: nn.Module, key: str | int) -> None:
        try:
            names = [n for n, prm in inspect.signature(model.forward).parameters.items()
                     if prm.kind in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):  # a builtin or C-implemented forward: keyword arguments only
            names = []
        self.name: str | None = key if isinstance(key, str) else names[key] if key < len(names) else None
        self.position: int | None = key if isinstance(key, int) else names.index(key) if key in names else None

    def get(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The value this call passes for the input, or ``None``."""
        if self.name is not None and self.name in kwargs:
            return kwargs[self.name]
        k = self.position
        return args[k] if k is not None and k < len(args) else None

    def put(self, args: tuple[Any, ...], kwargs: dict[str, Any],
            value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` with the input replaced by ``value`` where this call passes it."""
        if self.name is not None and self.name in kwargs:
            return args, {**kwargs, self.name: value}
        k = self.position
        return ((*args[:k], value, *args[k + 1:]), kwargs) if k is not None and k < len(args) else (args, kwargs)


class Route:
    """A mixer with a route's options, passed to :func:`~mixup_any.attach` where the mixer goes.

    ``attach(route, model, at=...)`` calls :meth:`bind` once, hooks the sites it returns with its
    :class:`Adapter`, and draws from ``route.mixer``. Text (:class:`mixup_any.text.TextMixer`), tables
    (:class:`mixup_any.tabular.TabularMixer`) and graphs (:class:`mixup_any.graph.GraphMixer`) are routes.
    """

    def __init__(self, mixer: Mixer) -> None:
        if not isinstance(mixer, Mixer):
            raise MixupError(f"{type(self).__name__} needs a Mixer (e.g. MixUp(alpha=0.4)), got {type(mixer).__name__}.")
        self.mixer = mixer

    def bind(self, model: nn.Module, at: Any) -> tuple[SiteSpec | Sequence[SiteSpec] | None, Adapter]:
        """The sites ``at`` names on ``model`` (``None``: the attached model's inputs only), and the adapter.

        ``at`` is what :func:`~mixup_any.attach` was given (``None`` when left out); raise a
        :class:`MixupError` for one the route cannot mix.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.mixer!r})"


class MixHandle:
    """Owns the forward hooks of one :func:`attach` call; arm it before a forward to mix that forward.

    Use :func:`~mixup_any.attach` to make one. The handle is a context manager: leaving the ``with`` block
    removes every hook, whatever the block raises.

    Attributes:
        sites: qualified names of the hooked sites (``"input"`` for the model's first input).
        params: the :class:`MixParams` of the last armed forward (``.site`` names the site that mixed),
            or ``None`` before any; with ``mode="regmixup"`` the plan of the ``B`` mixed rows.
        mode, eta: the training mode and RegMixup's weight (see :mod:`mixup_any.modes`).
        calls: how many times each site ran during the last armed forward.

    Example:
        >>> from mixup_any import MixUp, attach
        >>> model, y = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), torch.tensor([0, 1, 2, 1])
        >>> with attach(MixUp(alpha=2.0, seed=0), model, at=["input", "1"]) as mix:
        ...     mix.arm(y)
        ...     out = model(torch.randn(4, 4))
        ...     target = mix.target(y)
        >>> mix.params.site in ("input", "1"), target.lam_rows().shape
        (True, torch.Size([4]))
    """

    def __init__(
        self,
        mixer: Mixer,
        model: nn.Module,
        sites: list[tuple[str, nn.Module]],
        *,
        choose: str = "one",
        weights: Tensor | None = None,
        output: int | str | None = None,
        repeat: str = "raise",
        mode: str = "mixup",
        eta: float = 1.0,
        adapter: Adapter | None = None,
    ) -> None:
        self.mixer = mixer
        self.adapter = adapter
        self.model = model
        self.mode = check_mode(mode, where="attach()")
        self.eta = check_eta(eta)
        self.sites = [name for name, _ in sites]
        self.choose = choose
        self.output = output
        self.repeat = repeat
        self._modules = [m for _, m in sites]
        self._weights = weights
        self._hooks: list[Any] = []
        self._armed = False
        self._started = False  # an armed forward of the model has begun
        self._doubled = False  # RegMixup while training: the forward holds [clean; copy to mix]
        self._selected: int | None = None  # the one site that mixes this forward (None: every site)
        self._labels: Tensor | None = None
        self._given: MixParams | None = None
        self._params: MixParams | None = None
        self._need_site = True  # target() checks that a selected site ran (adapters may clear it)
        self._calls = [0] * len(sites)
        self._consumed = True
        self._warned_eval = False
        self.params: MixParams | None = None
        self._previous = mixer.followed  # followed again when the hooks are removed
        self._install()
        # while attached, the mixer follows the model, so the model's training flag is the one decision
        mixer.follow(model)

    def _install(self) -> None:
        for m in [self.model, *self._modules]:
            if m in _LIVE:
                what = "it" if m is self.model else f"its submodule {type(m).__name__}"
                raise HookSiteError(f"{type(self.model).__name__}: {what} is already hooked by a live handle "
                                    f"(sites {_LIVE[m].sites}). Remove it first (mix.remove() or leave its "
                                    "with-block), or put all sites in one attach(at=[...]) call.")
        try:
            # runs first: ends a forward that never returned, and lets adapters rewrite the inputs
            self._hooks.append(self.model.register_forward_pre_hook(self._before_forward, prepend=True,
                                                                    with_kwargs=True))
            for i, (name, module) in enumerate(zip(self.sites, self._modules, strict=True)):
                if name == INPUT:
                    hook = self._input_hook(i)
                    self._hooks.append(module.register_forward_pre_hook(hook, with_kwargs=True))
                else:
                    self._hooks.append(module.register_forward_hook(self._output_hook(i, name)))
            # runs after the forward returns or raises an Exception: one arm covers exactly one forward
            self._hooks.append(self.model.register_forward_hook(self._after_forward, always_call=True))
        except BaseException:
            self.remove()
            raise
        for m in [self.model, *self._modules]:
            _LIVE[m] = self

    def _before_forward(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._started:  # the armed forward before this one never returned (KeyboardInterrupt)
            self._armed = False
        self._started = self._armed
        if not self._armed or self.adapter is None:
            return None
        return self.adapter.prepare(self, args, kwargs)

    def _after_forward(self, module: nn.Module, args: Any, output: Any) -> None:
        self._armed = self._started = False

    def _enter_site(self, i: int, name: str, module: nn.Module) -> bool:
        """Count the call; whether this call of site ``i`` must mix."""
        self._calls[i] += 1
        if self._selected not in (None, i):
            return False
        if self._calls[i] > 1:
            if self.repeat == "first":
                return False
            if self.repeat == "raise":
                self._armed = False
                raise HookSiteError(
                    f"Site {name!r} ({type(module).__name__}) ran {self._calls[i]} times in one armed forward "
                    "(a reused module). Choose a rule: attach(..., repeat='first') mixes only its first call, "
                    "repeat='all' mixes every call with the same draw; or hook a module that runs once."
                )
        return True

    def draw(self, shape: torch.Size | tuple[int, ...], device: torch.device, name: str | None = None) -> MixParams:
        """The plan of this forward for a batch of ``shape`` ``(B, ...)`` on ``device``, labelled with site
        ``name`` (default: the selected site): the identity outside training, else the plan given to
        :meth:`arm` or a fresh draw (with the armed labels)."""
        name = name if name is not None else (self.selected_site or self.sites[0] if self.sites else None)
        b = shape[0]
        if not mixes(self.model, self.mode):  # eval mode: identity, also for a given plan
            return MixParams.identity(b, device).at_site(name)
        if self._given is not None:
            return self._given if self._given.site is not None else self._given.at_site(name)
        try:
            p = (_UNTRACED or _sample)(self.mixer, torch.Size(shape), self._labels, device)
        except MixupError as err:
            raise HookSiteError(f"Drawing the mix at site {name!r}: {err}") from err
        return p.at_site(name)

    def use(self, p: MixParams, *, sites_must_run: bool | None = None) -> MixParams:
        """Record ``p`` as this forward's plan; returns the plan the sites apply (RegMixup: its ``2B`` extension).

        ``sites_must_run=False`` lets :meth:`target` succeed when no site ran (an adapter that mixed
        everything itself); by default a selected site must run.
        """
        self.params = p
        self._params = clean_and_mixed(p) if self._doubled else p
        if sites_must_run is not None:
            self._need_site = sites_must_run and bool(self.sites)
        return self._params

    def _params_for(self, t: Any, name: str, module: nn.Module) -> MixParams:
        """The plan applied at this site; the first site to run draws it."""
        if not isinstance(t, Tensor) or t.ndim == 0:
            raise HookSiteError(
                f"Site {name!r} ({type(module).__name__}) produced a {describe(t)}; a batch of shape (B, ...) "
                "is needed to mix."
            )
        if self.adapter is not None:
            self.adapter.check(self, name, module, t)
        p = self._params
        copies = 2 if self._doubled else 1
        b = p.batch_size // copies if p is not None else self._batch(t.shape[0])
        if t.shape[0] != copies * b:
            head = f"Site {name!r} ({type(module).__name__}) output has shape {tuple(t.shape)}, but"
            if self._doubled:
                raise HookSiteError(f"{head} mode='regmixup' needs the clean batch and its copy to mix, 2B = "
                                    f"{2 * b} rows (B = {b} from the labels or params): call "
                                    "model(torch.cat([x, x])) and mix.loss(criterion, output, y).")
            raise HookSiteError(f"{head} the batch has {b} rows: dim 0 of a mixed activation must be the "
                                "batch. Sequence modules with batch_first=False put time first; hook a "
                                "module whose output is batch-first, or pick another output with output=.")
        if p is None:
            p = self.use(self.draw((b, *t.shape[1:]), t.device, name))
        return p

    def _mix(self, x: Any, p: MixParams, name: str, module: nn.Module) -> Any:
        if isinstance(x, Tensor) and not x.is_floating_point():
            raise HookSiteError(
                f"Site {name!r} ({type(module).__name__}) output is a {x.dtype} tensor of shape {tuple(x.shape)}; "
                "integer outputs (token ids, category codes) cannot be interpolated. Hook the embedding "
                "that consumes them instead."
            )
        try:
            return self.mixer.mix(x, p)
        except MixupError as err:
            raise HookSiteError(f"Mixing at site {name!r} ({type(module).__name__}): {err}") from err

    def _output_hook(self, i: int, name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            if not self._armed or not self._enter_site(i, name, module):
                return None
            t, rebuild = select_output(output, self.output, name, module)
            p = self._params_for(t, name, module)
            if not p.mixed:
                return None
            return rebuild(self._mix(t, p, name, module))

        return hook

    def _input_hook(self, i: int) -> Callable[..., Any]:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if not self._armed or not self._enter_site(i, INPUT, module):
                return None
            if not args:
                raise HookSiteError(
                    f"Site 'input' mixes the model's first positional argument, but {type(module).__name__} was "
                    f"called with keyword arguments only ({sorted(kwargs)}). Pass the input positionally, or "
                    "hook the module that consumes it (e.g. the embedding)."
                )
            try:
                first = tensor_leaves(args[0], "the model's first argument")[0][1]
            except (MixupError, IndexError) as err:
                raise HookSiteError(f"Site 'input' mixes the model's first argument, a batch of tensors: "
                                    f"{err or 'it holds no tensor'}.") from err
            p = self._params_for(first, INPUT, module)
            if not p.mixed:
                return None
            return (self._mix(args[0], p, INPUT, module), *args[1:]), kwargs

        return hook

    @property
    def armed(self) -> bool:
        """Whether the next forward will be mixed."""
        return self._armed

    @property
    def taken(self) -> bool:
        """Whether the last armed forward's target was taken (:meth:`target` or :meth:`loss`)."""
        return self._consumed

    def arm(self, labels: Tensor | None = None, *, params: MixParams | None = None) -> None:
        """Mix the next forward of the model (only that one).

        Args:
            labels: the batch's targets ``(B, ...)``, needed only when the draw reads them (class-aware
                pairings, ``exclude_classes``); when given they fix the batch size, which is checked
                against the forward. Without them ``B`` is read from the first site's output.
            params: a pre-drawn plan to use instead of drawing one (shared with another mixer, or
                replayed from a log); if ``params.site`` names one of the sites and ``choose="one"``,
                that site mixes. Ignored (identity) while the model is not training.
        """
        self._check_arm(labels, params)
        if not mixes(self.model) and not self._warned_eval:
            self._warned_eval = True
            warnings.warn(
                f"arm() on {type(self.model).__name__} in eval mode: its forwards are not mixed (identity plan). "
                "To mix through a frozen backbone kept in eval, attach to the whole model in train mode.",
                stacklevel=2,
            )
        self._labels = labels
        self._params = self.params = None  # never report the previous forward's draw for this one
        self._calls = [0] * len(self.sites)
        self._doubled = self.mode == "regmixup" and mixes(self.model, self.mode)
        self._need_site = bool(self.sites)
        self._selected = self._draw_selection(params)
        if params is not None and self.choose == "one":
            # name the site here, outside the forward (a dataclass rebuild inside it breaks torch.compile graphs)
            site = self.selected_site or params.site
            params = params.at_site(site)
        self._given = params
        _prepare_compile()
        self._consumed = False
        self._started = False
        self._armed = True

    def _check_arm(self, labels: Any, params: Any) -> None:
        if not self._hooks:
            raise HookSiteError("This handle was removed; attach again to mix.")
        if labels is not None and (not isinstance(labels, Tensor) or labels.ndim == 0):
            raise MixupError(f"arm(labels) needs the batch's targets as a (B, ...) tensor, got {describe(labels)}.")
        if params is None:
            if labels is None and self.mixer.needs_labels():
                raise MixupError(f"arm() needs the batch's targets: {self.mixer!r} draws its partners from "
                                 "them (class-aware pairing or exclude_classes). Call mix.arm(y).")
            return
        check_given(params, "arm(y, params=...)", None if labels is None else labels.shape[0])
        if params.mixed and self.mode == "erm":
            raise MixupError("arm(params=...) with a mixing plan, but this handle has mode='erm' (no mixing); "
                             "attach with another mode, or drop params=.")

    def _draw_selection(self, params: MixParams | None) -> int | None:
        """The index of the one site that mixes this forward, or ``None`` when every site does."""
        n = len(self.sites)
        if self.choose == "all" or n <= 1:
            return 0 if n == 1 else None
        if params is not None and params.site in self.sites:
            return self.sites.index(params.site)
        if params is None and not (mixes(self.model, self.mode) and self.mixer.active()):
            return None  # identity plan: any site that runs provides the batch size
        if self._weights is None:
            return int(torch.randint(n, (1,), generator=self.mixer.generator))
        return int(torch.multinomial(self._weights, 1, generator=self.mixer.generator))

    @property
    def selected_site(self) -> str | None:
        """The one site selected for this forward (``None`` with several)."""
        return None if self._selected is None else self.sites[self._selected]

    @property
    def labels(self) -> Tensor | None:
        """The targets given to the last :meth:`arm` (their ``B`` is the batch size)."""
        return self._labels

    def batch_size(self, rows: int) -> int:
        """``B`` of this forward from a model input of ``rows`` rows (``2B`` when :attr:`doubled`), checked
        against the armed labels."""
        b = self._batch(rows)
        if rows != (2 * b if self._doubled else b):
            hint = (" mode='regmixup' forwards the clean batch and its copy: concatenate every input with itself."
                    if self._doubled else "")
            raise MixupError(f"The inputs have batch size {rows} but the labels have {b} rows.{hint}")
        return b

    def _batch(self, rows: int) -> int:
        """The armed labels' rows, else ``rows`` (half of them when :attr:`doubled`)."""
        if self._labels is not None:
            return self._labels.shape[0]
        if self._doubled and rows % 2:
            raise MixupError(f"mode='regmixup' forwards the clean batch and its copy, an even number of rows; got "
                             f"{rows}. Call model(torch.cat([x, x])).")
        return rows // 2 if self._doubled else rows

    @property
    def doubled(self) -> bool:
        """Whether this forward holds the clean batch and its copy (``mode="regmixup"`` while training)."""
        return self._doubled

    @property
    def given(self) -> MixParams | None:
        """The plan passed to :meth:`arm` with ``params=``, or ``None``."""
        return self._given

    def disarm(self) -> None:
        """Cancel an arm() whose forward has not run."""
        self._armed = False

    def target(self, y: Tensor | Mapping[str, Tensor]) -> Any:
        """The targets of the last armed forward: ``mixer.mix_target(y, mix.params)``; disarms.

        With ``mode="inputs_only"`` the dominant input's hard target
        (:func:`mixup_any.modes.inputs_only_target`); with ``mode="regmixup"`` the target of the
        ``B`` mixed rows (its ``y_a`` are the clean targets).

        Raises:
            HookSiteError: if no selected site ran in the armed forward, if ``arm()`` was not called,
                or if this draw's target was already taken.
        """
        self._armed = False
        if self._consumed:
            raise HookSiteError(
                "target() needs an armed forward: call mix.arm(y) before each forward "
                "(a draw's target can be taken once)."
            )
        self._consumed = True
        ran = [s for s, c in zip(self.sites, self._calls, strict=True) if c]
        hit = any(self._calls) if self._selected is None else self._calls[self._selected] > 0
        if self.params is None or (self._need_site and not hit):
            selected = self.sites if self._selected is None else [self.sites[self._selected]]
            raise HookSiteError(
                f"No selected hook site ran during the armed forward: selected {selected} "
                f"(choose={self.choose!r}, sites {self.sites}); sites that ran: {ran or 'none'}. "
                "Make sure the forward reaches these modules (list_sites(model, x) lists what runs), "
                "and that the model was called after arm()."
            )
        return mode_target(self.mixer.mix_target(y, self.params), self.mode)

    def loss(self, criterion: Callable[..., Tensor], output: Tensor, y: Tensor, *,
             reduction: str | None = None) -> Tensor:
        """The mode's training loss of the last armed forward; takes the target (as :meth:`target`).

        ``mode="regmixup"`` while training: ``criterion(output[:B], y) + eta · mixed_loss(criterion,
        output[B:], target)`` on the ``(2B, ...)`` output of ``model(torch.cat([x, x]))``; otherwise
        ``mixed_loss(criterion, output, target)`` (see :func:`mixup_any.modes.mode_loss`).
        """
        mode = "mixup" if self.mode == "regmixup" and not self._doubled else self.mode
        return mode_loss(criterion, output, self.target(y), mode=mode, eta=self.eta, reduction=reduction)

    @property
    def calls(self) -> dict[str, int]:
        """How many times each site ran during the last armed forward."""
        return dict(zip(self.sites, self._calls, strict=True))

    def remove(self) -> None:
        """Remove every hook (idempotent). The model then computes exactly what it did before attach()."""
        if self._hooks:
            self.mixer.follow(self._previous)
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        self._armed = False
        for m in [self.model, *self._modules]:
            if _LIVE.get(m) is self:
                del _LIVE[m]

    @property
    def removed(self) -> bool:
        return not self._hooks

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self.removed else ("armed" if self._armed else "disarmed")
        mode = f", mode={self.mode!r}" if self.mode != "mixup" else ""
        adapter = f", adapter={self.adapter!r}" if self.adapter is not None else ""
        return (f"{type(self).__name__}(sites={self.sites}, choose={self.choose!r}, mixer={self.mixer!r}{mode}"
                f"{adapter}, {state})")
