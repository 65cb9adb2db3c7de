"""Mix hidden activations through forward hooks on any model (manifold mixup, embedding mixup).

:func:`attach` puts forward hooks on chosen modules ("sites") and returns a :class:`MixHandle`.
``handle.arm(labels=y)`` arms the *next* forward only; in it the first selected site that runs
draws one :class:`~mixup_any.params.MixParams` from its own output's shape (so CutMix on a feature
map gets a valid box), mixes its output out of place, and later selected sites reuse the draw.
``handle.target(y)`` then pairs the targets with that draw and disarms.

Rules (conventions, all tested):

* **Disarmed hooks do nothing**, so validation forwards are never mixed by accident. An armed forward
  while the attached model is in eval mode (or the mixer is inactive) uses the identity plan
  (``params.mixed is False``); ``target()`` still works.
* **One forward per arm.** The hooks disarm when the attached model's forward returns or raises (a forward
  stopped by ``KeyboardInterrupt`` or ``SystemExit`` is disarmed when the next forward starts).
* **A module that runs twice in one armed forward** (a reused block, a shared encoder) raises
  :class:`HookSiteError` by default (``repeat="raise"``); ``repeat="first"`` mixes its first call only,
  ``repeat="all"`` mixes every call with the same draw.
* **No silent no-op**: if no selected site ran, ``target()`` raises :class:`HookSiteError` naming them.
* **Hooks are always removed** by :meth:`MixHandle.remove` / the ``with`` block, also on exceptions;
  afterwards the model computes bit for bit what it computed before.
* **Whether to mix follows the attached model's** ``training`` **flag** (the module passed to
  :func:`attach`), not the flags of its children: a backbone kept in eval (frozen BatchNorm) inside a
  model in train mode is still mixed.

Calibration-safe modes (``attach(..., mode=, eta=)``, the vocabulary of
:mod:`mixup_any.calibration`): ``"inputs_only"`` makes ``target()`` the dominant input's hard target;
``"regmixup"`` expects one forward on the concatenated batch ``model(torch.cat([x, x]))``: the plan is
drawn for the ``B`` rows of the second half and the first half pairs with itself (``lam = 1``), so it
stays clean at every site; ``handle.loss(criterion, output, y)`` is then RegMixup's loss. ``"erm"``
never mixes (identity plans, no draw).

Activation checkpointing re-runs a segment's forward during backward with the handle disarmed, so a
mix site must not sit inside a checkpointed segment.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .calibration import check_eta, check_mode, clean_and_mixed, mode_loss, mode_target
from .exceptions import HookSiteError, MixupError
from .params import MixParams
from .sites import (
    INPUT,
    SiteSpec,
    describe,
    first_tensor,
    list_sites,
    resolve_sites,
    select_output,
)

__all__ = ["attach", "list_sites", "MixHandle"]


_CHOOSE = ("one", "all")
_REPEAT = ("raise", "first", "all")

# module -> the live handle that hooks it (as root or as a site); guards against double attachment
_LIVE: weakref.WeakKeyDictionary[nn.Module, MixHandle] = weakref.WeakKeyDictionary()



# --------------------------------------------------------------------------------------------
# the handle
# --------------------------------------------------------------------------------------------


class MixHandle:
    """Owns the forward hooks of one :func:`attach` call; arm it before a forward to mix that forward.

    Use :func:`attach` to make one. The handle is a context manager: leaving the ``with`` block
    removes every hook, also when the block raises.

    Attributes:
        sites: qualified names of the hooked sites (``"input"`` for the model's first input).
        params: the :class:`MixParams` of the last armed forward (``.site`` names the site that mixed),
            or ``None`` before any; with ``mode="regmixup"`` the plan of the ``B`` mixed rows.
        mode, eta: the training mode and RegMixup's weight (see :mod:`mixup_any.calibration`).
        calls: how many times each site ran during the last armed forward.

    Example:
        >>> from mixup_any import MixUp
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> y = torch.tensor([0, 1, 2, 1])
        >>> with attach(MixUp(alpha=2.0, seed=0), model, at=["input", "1"]) as handle:
        ...     handle.arm(labels=y)
        ...     out = model(torch.randn(4, 4))
        ...     target = handle.target(y)
        >>> handle.params.site in ("input", "1"), target.lam.shape
        (True, torch.Size([4]))
    """

    def __init__(
        self,
        mixer: Any,
        model: nn.Module,
        sites: list[tuple[str, nn.Module]],
        *,
        choose: str = "one",
        weights: Tensor | None = None,
        output: int | str | None = None,
        repeat: str = "raise",
        mode: str = "mixup",
        eta: float = 1.0,
    ) -> None:
        self.mixer = mixer
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
        self._selected: list[bool] = [True] * len(sites)
        self._labels: Tensor | None = None
        self._given: MixParams | None = None
        self._params: MixParams | None = None
        self._calls = [0] * len(sites)
        self._consumed = True
        self._warned_eval = False
        self.params: MixParams | None = None
        self._install()

    # ---------------------------------------------------------------- hooks
    def _install(self) -> None:
        try:
            for i, (name, module) in enumerate(zip(self.sites, self._modules, strict=True)):
                if name == INPUT:
                    hook = self._input_hook(i)
                    self._hooks.append(module.register_forward_pre_hook(hook, with_kwargs=True))
                else:
                    self._hooks.append(module.register_forward_hook(self._output_hook(i, name)))
            # runs after the forward returns or raises an Exception: one arm covers exactly one forward
            self._hooks.append(self.model.register_forward_hook(self._after_forward, always_call=True))
            # a forward ended by KeyboardInterrupt/SystemExit skips the hook above: the next one disarms
            self._hooks.append(self.model.register_forward_pre_hook(self._before_forward, prepend=True))
        except BaseException:
            self.remove()
            raise
        for m in {id(m): m for m in [self.model, *self._modules]}.values():
            _LIVE[m] = self

    def _before_forward(self, module: nn.Module, args: Any) -> None:
        if self._started:  # the armed forward before this one never returned
            self._armed = False
        self._started = self._armed

    def _after_forward(self, module: nn.Module, args: Any, output: Any) -> None:
        self._armed = self._started = False

    def _enter_site(self, i: int, name: str, module: nn.Module) -> bool:
        """Count the call; whether this call of site ``i`` must mix."""
        self._calls[i] += 1
        if not self._selected[i]:
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

    def _params_for(self, t: Tensor, name: str, module: nn.Module) -> MixParams:
        """The plan applied at this site: the drawn (or given) one, or for RegMixup its ``2B`` extension."""
        p = self._params
        if p is None:
            if not isinstance(t, Tensor) or t.ndim == 0:
                raise HookSiteError(
                    f"Site {name!r} ({type(module).__name__}) produced a {describe(t)}; a batch of shape (B, ...) "
                    "is needed to mix."
                )
            copies = 2 if self.mode == "regmixup" else 1  # RegMixup: [clean; to mix], one forward
            b = self._given.batch_size if self._given is not None else (
                self._labels.shape[0] if self._labels is not None else t.shape[0] // copies)
            if t.shape[0] != copies * b:
                raise HookSiteError(self._batch_message(t, name, module, b))
            if not self.model.training or self.mode == "erm":  # eval mode: identity, also for a given plan
                p = MixParams.identity(b, t.device)
            elif self._given is not None:
                p = self._given
            else:
                try:
                    shape = t.shape if copies == 1 else torch.Size((b, *t.shape[1:]))
                    p = _sample(self.mixer, shape, self._labels, t.device, name)
                except MixupError as err:
                    raise HookSiteError(f"Drawing the mix at site {name!r}: {err}") from err
            if p.site is None or (self._given is None and p.site != name):
                p = p.at_site(name)
            self.params = p
            self._params = p = clean_and_mixed(p) if copies == 2 else p
        elif t.ndim == 0 or t.shape[0] != p.batch_size:
            raise HookSiteError(self._batch_message(t, name, module, p.batch_size))
        return p

    def _batch_message(self, t: Tensor, name: str, module: nn.Module, b: int) -> str:
        if self.mode == "regmixup":
            return (
                f"Site {name!r} ({type(module).__name__}) output has shape {tuple(t.shape)}, but mode='regmixup' "
                f"needs the clean batch and its copy to mix, 2B = {2 * b} rows (B = {b} from the labels or "
                "params): call model(torch.cat([x, x])) and handle.loss(criterion, output, y)."
            )
        return (
            f"Site {name!r} ({type(module).__name__}) output has shape {tuple(t.shape)}, but the batch has {b} "
            "rows: dim 0 of a mixed activation must be the batch. Sequence modules with batch_first=False put "
            "time first; hook a module whose output is batch-first, or pick another output with output=."
        )

    def _mix(self, x: Any, p: MixParams, name: str, module: nn.Module) -> Any:
        if not p.mixed:
            return x
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
            x = args[0]
            first = first_tensor(x)
            if first is None:
                raise HookSiteError(
                    f"Site 'input': the model's first argument is a {type(x).__name__} holding no tensor; "
                    "nothing to mix."
                )
            p = self._params_for(first, INPUT, module)
            if not p.mixed:
                return None
            return (self._mix(x, p, INPUT, module), *args[1:]), kwargs

        return hook

    # ---------------------------------------------------------------- public
    @property
    def armed(self) -> bool:
        """Whether the next forward will be mixed."""
        return self._armed

    def arm(self, labels: Tensor | None = None, *, params: MixParams | None = None) -> None:
        """Mix the next forward of the model (only that one).

        Args:
            labels: targets ``(B, ...)``, passed to ``mixer.sample`` (class-aware pairings need them)
                and used to check the batch size of the sites.
            params: a pre-drawn plan to use instead of drawing one (e.g. shared with an input mixer,
                or replayed from a log); if ``params.site`` names one of the sites and ``choose="one"``,
                that site mixes.
        """
        if not self._hooks:
            raise HookSiteError("This MixHandle was removed; attach() again to mix.")
        if params is not None and not isinstance(params, MixParams):
            raise MixupError(f"arm(params=...) needs a MixParams, got {type(params).__name__}.")
        if params is not None and params.mixed and self.mode == "erm":
            raise MixupError("arm(params=...) with a mixing plan, but this handle has mode='erm' (no mixing); "
                             "attach with another mode, or drop params=.")
        if labels is not None and (not isinstance(labels, Tensor) or labels.ndim == 0):
            raise MixupError(f"arm(labels=...) needs a (B, ...) tensor, got {describe(labels)}.")
        if not self.model.training and not self._warned_eval:
            self._warned_eval = True
            warnings.warn(
                f"arm() on {type(self.model).__name__} in eval mode: its forwards are not mixed (identity plan). "
                "To mix through a frozen backbone kept in eval, attach to the whole model in train mode.",
                stacklevel=2,
            )
        self._labels = labels
        self._params = None
        self.params = None  # never report the previous forward's draw for this one
        self._calls = [0] * len(self.sites)
        self._selected = self._draw_selection(params)
        if params is not None and self.choose == "one":
            # name the site here, outside the forward (a dataclass rebuild inside it breaks torch.compile graphs)
            site = self.sites[self._selected.index(True)] if self._selected.count(True) == 1 else params.site
            params = params if params.site == site else dataclasses.replace(params, site=site)
        self._given = params
        _prepare_compile()
        self._consumed = False
        self._started = False
        self._armed = True

    def _draw_selection(self, params: MixParams | None) -> list[bool]:
        n = len(self.sites)
        if self.choose == "all" or n == 1:
            return [True] * n
        if params is not None and params.site in self.sites:
            k = self.sites.index(params.site)
        elif params is None and (self.mode == "erm" or not (self.model.training
                                                             and getattr(self.mixer, "active", _always)())):
            return [True] * n  # identity plan: any site that runs provides the batch size
        elif self._weights is None:
            k = int(torch.randint(n, (1,), generator=self.mixer.generator))
        else:
            k = int(torch.multinomial(self._weights, 1, generator=self.mixer.generator))
        sel = [False] * n
        sel[k] = True
        return sel

    def disarm(self) -> None:
        """Cancel an arm() whose forward has not run."""
        self._armed = False

    def target(self, y: Tensor | Mapping[str, Tensor]) -> Any:
        """The targets of the last armed forward: ``mixer.mix_target(y, handle.params)``; disarms.

        With ``mode="inputs_only"`` the dominant input's hard target
        (:func:`mixup_any.calibration.inputs_only_target`); with ``mode="regmixup"`` the target of the
        ``B`` mixed rows (its ``y_a`` are the clean targets).

        Raises:
            HookSiteError: if no selected site ran in the armed forward, if ``arm()`` was not called,
                or if this draw's target was already taken.
        """
        self._armed = False
        if self._consumed:
            raise HookSiteError(
                "handle.target() needs an armed forward: call handle.arm(labels=y) before each forward "
                "(a draw's target can be taken once)."
            )
        self._consumed = True
        if self._params is None:
            selected = [s for s, sel in zip(self.sites, self._selected, strict=True) if sel]
            ran = [s for s, c in zip(self.sites, self._calls, strict=True) if c]
            raise HookSiteError(
                f"No selected hook site ran during the armed forward: selected {selected} "
                f"(choose={self.choose!r}, sites {self.sites}); sites that ran: {ran or 'none'}. "
                "Make sure the forward reaches these modules (list_sites(model, x) lists what runs), "
                "and that the model was called after arm()."
            )
        return mode_target(self.mixer.mix_target(y, self.params), self.mode)

    def loss(self, criterion: Callable[..., Tensor], output: Tensor, y: Tensor, *,
             reduction: str | None = None) -> Tensor:
        """The mode's training loss of the last armed forward: takes the target (as :meth:`target`).

        ``mode="regmixup"``: ``criterion(output[:B], y) + eta · mixed_loss(criterion, output[B:], target)``
        on the ``(2B, ...)`` output of ``model(torch.cat([x, x]))``; other modes:
        ``mixed_loss(criterion, output, target)``. See :func:`mixup_any.calibration.mode_loss`.
        """
        return mode_loss(criterion, output, self.target(y), mode=self.mode, eta=self.eta, reduction=reduction)

    @property
    def calls(self) -> dict[str, int]:
        return dict(zip(self.sites, self._calls, strict=True))

    def remove(self) -> None:
        """Remove every hook (idempotent). The model then computes exactly what it did before attach()."""
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

    def __enter__(self) -> MixHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self.removed else ("armed" if self._armed else "disarmed")
        mode = f", mode={self.mode!r}" if self.mode != "mixup" else ""
        return f"MixHandle(sites={self.sites}, choose={self.choose!r}, mixer={self.mixer!r}{mode}, {state})"


_SAMPLE_DISABLED: Callable[..., MixParams] | None = None


def _sample_eager(mixer: Any, shape: torch.Size, labels: Tensor | None, device: torch.device, site: str) -> MixParams:
    params: MixParams = mixer.sample(shape, labels=labels, device=device)
    return params


def _prepare_compile() -> None:
    """Once torch.compile is in use, run the draw outside dynamo's trace (one clean graph break per draw).

    Sampling calls ``torch.Generator`` methods, which dynamo cannot trace; without this it would break
    the graph several times inside the sampler. ``torch._dynamo`` is only touched when already imported
    (importing it costs seconds).
    """
    global _SAMPLE_DISABLED
    if _SAMPLE_DISABLED is None and "torch._dynamo" in sys.modules:
        _SAMPLE_DISABLED = sys.modules["torch._dynamo"].disable(_sample_eager, recursive=True)


def _sample(mixer: Any, shape: torch.Size, labels: Tensor | None, device: torch.device, site: str) -> MixParams:
    fn = _SAMPLE_DISABLED if _SAMPLE_DISABLED is not None else _sample_eager
    return fn(mixer, shape, labels, device, site)


def _always() -> bool:
    return True


def attach(
    mixer: Any,
    model: nn.Module,
    at: SiteSpec | Sequence[SiteSpec] = INPUT,
    choose: str = "one",
    weights: Sequence[float] | Mapping[str, float] | Tensor | None = None,
    output: int | str | None = None,
    *,
    repeat: str = "raise",
    mode: str = "mixup",
    eta: float = 1.0,
) -> MixHandle:
    """Hook ``mixer`` into ``model`` at one or more sites; returns a :class:`MixHandle` (a context manager).

    Args:
        mixer: a :class:`~mixup_any.mixers.base.Mixer` (its generator draws the site and the plan).
        model: the model whose forward is called; its ``training`` flag decides whether to mix.
        at: ``"input"`` (the model's first positional input), a qualified name (``"layer3.1"``), a glob
            (``"layer*.conv2"``), a regex with the ``"re:"`` prefix (``re.search`` over qualified names,
            e.g. ``r"re:^encoder\\.layer\\.(7|9|11)$"``), an ``nn.Module`` subclass (every instance), a
            module instance, ``"input_embeddings"`` (``model.get_input_embeddings()``), or a list of these.
        choose: ``"one"``: per armed forward one site is drawn and only it mixes (manifold mixup);
            ``"all"``: every site mixes with the same draw (e.g. tabular columns and embeddings).
        weights: with ``choose="one"``, the probability of each site (a sequence in site order or a dict
            by site name; normalised); uniform by default.
        output: which tensor of a module output to mix: ``None`` = the tensor itself / the first element
            of a tuple or list / the first tensor field of a dict or ``ModelOutput``; an ``int`` index or a
            ``str`` key / field name otherwise. Other elements pass through untouched.
        repeat: a selected site that runs more than once in one forward: ``"raise"`` (default),
            ``"first"`` (mix its first call only) or ``"all"`` (mix every call with the same draw).
        mode: ``"mixup"`` (default), ``"erm"``, ``"regmixup"`` (forward ``torch.cat([x, x])``; the first
            half stays clean) or ``"inputs_only"``; see :mod:`mixup_any.calibration` and :meth:`MixHandle.loss`.
        eta: RegMixup's weight of the mixed term, ``>= 0``.

    Raises:
        HookSiteError: a site matches nothing (close names are listed), or the model (or a site) is
            already hooked by a live handle.

    Example:
        >>> from mixup_any import MixUp, mixed_loss
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
        >>> with attach(MixUp(alpha=2.0, num_classes=3, seed=0), model, at="0") as handle:
        ...     handle.arm(labels=y)
        ...     loss = mixed_loss(F.cross_entropy, model(x), handle.target(y))
        >>> handle.params.site, handle.removed
        ('0', True)
    """
    if not all(callable(getattr(mixer, m, None)) for m in ("sample", "mix", "mix_target")):
        raise MixupError(f"attach() needs a Mixer (sample/mix/mix_target), got {type(mixer).__name__}.")
    if not isinstance(model, nn.Module):
        raise MixupError(f"attach() needs an nn.Module model, got {type(model).__name__}.")
    if choose not in _CHOOSE:
        raise MixupError(f"choose must be one of {_CHOOSE}, got {choose!r}.")
    if repeat not in _REPEAT:
        raise MixupError(f"repeat must be one of {_REPEAT}, got {repeat!r}.")
    if output is not None and (not isinstance(output, (int, str)) or isinstance(output, bool)):
        raise MixupError(f"output must be None, an int index or a str key, got {output!r}.")
    sites = resolve_sites(model, at)
    w = _weights(weights, [n for n, _ in sites], choose)
    for m in [model, *(m for _, m in sites)]:
        other = _LIVE.get(m)
        if other is not None and not other.removed:
            what = "it" if m is model else f"its submodule {type(m).__name__}"
            raise HookSiteError(
                f"{type(model).__name__}: {what} is already hooked by a live MixHandle (sites {other.sites}). "
                "Remove it first (handle.remove() or leave its with-block), or put all sites in one "
                "attach(at=[...]) call."
            )
    return MixHandle(mixer, model, sites, choose=choose, weights=w, output=output, repeat=repeat, mode=mode,
                     eta=eta)


def _weights(weights: Any, names: list[str], choose: str) -> Tensor | None:
    if weights is None:
        return None
    if choose != "one":
        raise MixupError("weights= only applies to choose='one' (with choose='all' every site mixes).")
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise MixupError(f"weights name sites {unknown} that are not hooked; the sites are {names}.")
        values = [float(weights.get(n, 0.0)) for n in names]
    else:
        values = [float(v) for v in (weights.tolist() if isinstance(weights, Tensor) else weights)]
    if len(values) != len(names):
        raise MixupError(f"weights has {len(values)} entries but at= resolved to {len(names)} sites {names}.")
    w = torch.tensor(values, dtype=torch.float64)
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise MixupError(f"weights must be finite, >= 0 and not all 0, got {values}.")
    return w / w.sum()
