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

import copy
import dataclasses
import difflib
import fnmatch
import re
import sys
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .calibration import check_eta, check_mode, clean_and_mixed, mode_loss, mode_target
from .exceptions import HookSiteError, MixupError
from .params import MixParams

__all__ = ["attach", "list_sites", "MixHandle"]

INPUT = "input"
"""Site name of the model's first positional input (mixed by a forward pre-hook on the model)."""

_CHOOSE = ("one", "all")
_REPEAT = ("raise", "first", "all")

# module -> the live handle that hooks it (as root or as a site); guards against double attachment
_LIVE: weakref.WeakKeyDictionary[nn.Module, MixHandle] = weakref.WeakKeyDictionary()

SiteSpec = str | type | nn.Module


# --------------------------------------------------------------------------------------------
# resolving sites
# --------------------------------------------------------------------------------------------


def _close(word: str, names: Sequence[str], n: int = 5) -> str:
    close = difflib.get_close_matches(word, names, n=n, cutoff=0.4)
    if not close:
        close = [m for m in names if word and (word in m or m in word)][:n]
    shown = ", ".join(repr(c) for c in close) if close else "none"
    return f"close names: {shown}"


def _resolve(model: nn.Module, at: SiteSpec | Sequence[SiteSpec]) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` per site, in the order given, without duplicates; ``INPUT`` maps to the model."""
    specs = list(at) if isinstance(at, (list, tuple)) else [at]
    if not specs:
        raise HookSiteError("at= is empty; give at least one site (a name, glob, 're:' regex, type or module).")
    named = [(n, m) for n, m in model.named_modules() if n]  # the root itself is addressed as "input"
    names = [n for n, _ in named]
    by_name = dict(named)
    out: dict[str, nn.Module] = {}
    hint = "Call mixup_any.hooks.list_sites(model, example_input) to see every site with its output shape."
    for spec in specs:
        found: list[tuple[str, nn.Module]]
        if isinstance(spec, str):
            if spec == INPUT and INPUT not in by_name:
                found = [(INPUT, model)]
            elif spec == "input_embeddings" and spec not in by_name and hasattr(model, "get_input_embeddings"):
                hf_model: Any = model  # a transformers model (checked with hasattr above)
                emb = hf_model.get_input_embeddings()
                found = [(n, m) for n, m in named if m is emb][:1]
            elif spec.startswith("re:"):
                try:
                    rx = re.compile(spec[3:])
                except re.error as err:
                    raise HookSiteError(f"at={spec!r} is not a valid regular expression: {err}.") from err
                found = [(n, m) for n, m in named if rx.search(n)]
                if not found:
                    word = re.sub(r"[\\^$()|?*+\[\]{}]", "", spec[3:])
                    raise HookSiteError(
                        f"No module name matches the regex {spec[3:]!r} (re.search over qualified names); "
                        f"{_close(word, names)}. {hint}"
                    )
            elif any(ch in spec for ch in "*?["):
                found = [(n, m) for n, m in named if fnmatch.fnmatchcase(n, spec)]
                if not found:
                    word = spec.replace("*", "").replace("?", "")
                    raise HookSiteError(f"No module name matches the glob {spec!r}; {_close(word, names)}. {hint}")
            elif spec in by_name:
                found = [(spec, by_name[spec])]
            else:
                raise HookSiteError(
                    f"No module named {spec!r} in {type(model).__name__}; {_close(spec, names + [INPUT])}. {hint}"
                )
        elif isinstance(spec, type) and issubclass(spec, nn.Module):
            found = [(n, m) for n, m in named if isinstance(m, spec)]
            if not found:
                types = sorted({type(m).__name__ for _, m in named})
                raise HookSiteError(
                    f"No submodule of {type(model).__name__} is a {spec.__name__}; its module types are "
                    f"{types}. {hint}"
                )
        elif isinstance(spec, nn.Module):
            if spec is model:
                raise HookSiteError(
                    f"at= is the model itself ({type(model).__name__}); use at='input' to mix its input, or "
                    "name a submodule whose output to mix."
                )
            found = [(n, m) for n, m in named if m is spec][:1]
            if not found:
                raise HookSiteError(
                    f"The module instance {type(spec).__name__} given in at= is not part of "
                    f"{type(model).__name__} (not found in model.named_modules())."
                )
        else:
            raise HookSiteError(
                f"at= entries must be a module name, a glob, a 're:' regex, an nn.Module subclass or a module "
                f"instance; got {type(spec).__name__} {spec!r}."
            )
        for name, module in found:
            out.setdefault(name, module)
    return list(out.items())


# --------------------------------------------------------------------------------------------
# picking the tensor out of a module output, and putting the mixed one back
# --------------------------------------------------------------------------------------------


def _rebuild_sequence(out: tuple[Any, ...] | list[Any], i: int, new: Tensor) -> Any:
    items = list(out)
    items[i] = new
    if isinstance(out, tuple) and hasattr(out, "_make"):  # namedtuple
        return out._make(items)
    if type(out) in (tuple, list):
        return type(out)(items)
    try:  # tuple/list subclasses such as torch.return_types structseqs take one iterable
        return type(out)(items)
    except TypeError:
        return tuple(items) if isinstance(out, tuple) else items


def _select(out: Any, spec: int | str | None, site: str, module: nn.Module) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """The tensor to mix in ``out`` and a function that returns ``out`` with it replaced (never in place)."""
    if isinstance(out, Tensor):
        if spec is None:
            return out, _same
        raise HookSiteError(
            f"output={spec!r} was given, but site {site!r} ({type(module).__name__}) returns a plain tensor; "
            "use output=None."
        )
    if isinstance(out, Mapping):  # dict, OrderedDict, transformers ModelOutput (an OrderedDict dataclass)
        keys = list(out.keys())
        if spec is None:
            key = next((k for k in keys if isinstance(out[k], Tensor)), None)
            if key is None:
                raise HookSiteError(
                    f"Site {site!r} ({type(module).__name__}) returned a {type(out).__name__} with no tensor "
                    f"field (keys {keys}); nothing to mix."
                )
        elif isinstance(spec, int):
            if not -len(keys) <= spec < len(keys):
                raise HookSiteError(
                    f"output={spec} is out of range for site {site!r}: it returned a {type(out).__name__} with "
                    f"{len(keys)} fields {keys}."
                )
            key = keys[spec]
        else:
            if spec not in keys:
                raise HookSiteError(
                    f"output={spec!r} is not a field of the {type(out).__name__} returned by site {site!r}; "
                    f"its fields are {keys}."
                )
            key = spec

        def rebuild_mapping(new: Tensor) -> Any:
            res: Any = copy.copy(out)  # a new container; the module's own output object is left as it was
            res[key] = new
            return res

        return _check_tensor(out[key], site, module, f"[{key!r}]"), rebuild_mapping
    if isinstance(out, (tuple, list)):
        if spec is None:
            i = 0
        elif isinstance(spec, int):
            i = spec
        elif isinstance(spec, str) and hasattr(out, "_fields") and spec in out._fields:
            i = out._fields.index(spec)
        elif isinstance(spec, str) and any(v is getattr(out, spec, None) for v in out):
            i = next(k for k, v in enumerate(out) if v is getattr(out, spec))  # torch.return_types
        else:
            fields = getattr(out, "_fields", None)
            raise HookSiteError(
                f"output={spec!r} cannot select from the {type(out).__name__} returned by site {site!r}"
                + (f"; its fields are {list(fields)}." if fields else "; use an int index.")
            )
        if not -len(out) <= i < len(out):
            raise HookSiteError(
                f"output={spec!r} is out of range for site {site!r}: it returned a {type(out).__name__} of "
                f"length {len(out)}."
            )
        i %= len(out)
        return _check_tensor(out[i], site, module, f"[{i}]"), lambda new: _rebuild_sequence(out, i, new)
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        fields = [f.name for f in dataclasses.fields(out)]
        name = spec if isinstance(spec, str) else next(
            (f for f in fields if isinstance(getattr(out, f), Tensor)), None)
        if name is None or name not in fields:
            raise HookSiteError(f"output={spec!r} is not a field of the {type(out).__name__} returned by site "
                                f"{site!r}; its fields are {fields}.")
        return (_check_tensor(getattr(out, name), site, module, f".{name}"),
                lambda new: dataclasses.replace(out, **{name: new}))
    raise HookSiteError(
        f"Site {site!r} ({type(module).__name__}) returned a {type(out).__name__}, which cannot be mixed: "
        "expected a tensor, a tuple/list, a dict or a transformers ModelOutput (or a dataclass) holding one. "
        "Hook a module whose output is a tensor, or a submodule of this one."
    )


def _same(new: Tensor) -> Tensor:
    return new


def _check_tensor(t: Any, site: str, module: nn.Module, where: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise HookSiteError(
            f"Site {site!r} ({type(module).__name__}): the selected output{where} is a {type(t).__name__}, not a "
            "tensor; choose another element with output=."
        )
    return t


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
                    f"Site {name!r} ({type(module).__name__}) produced a {_describe(t)}; a batch of shape (B, ...) "
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
            t, rebuild = _select(output, self.output, name, module)
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
            first = _first_tensor(x)
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
            raise MixupError(f"arm(labels=...) needs a (B, ...) tensor, got {_describe(labels)}.")
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


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def _first_tensor(x: Any) -> Tensor | None:
    if isinstance(x, Tensor):
        return x
    values = x.values() if isinstance(x, Mapping) else x if isinstance(x, (tuple, list)) else ()
    for v in values:
        t = _first_tensor(v)
        if t is not None:
            return t
    return None


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
    sites = _resolve(model, at)
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


# --------------------------------------------------------------------------------------------
# listing candidate sites
# --------------------------------------------------------------------------------------------


class SiteInfo(NamedTuple):
    """One candidate site: qualified ``name``, module ``type`` name and output ``shape`` (``None`` if no tensor)."""

    name: str
    type: str
    shape: tuple[int, ...] | None


class SiteList(list[SiteInfo]):
    """A list of :class:`SiteInfo` in execution order that prints as a table."""

    notes: dict[str, str]

    def __str__(self) -> str:
        notes = getattr(self, "notes", {})
        rows = [("site", "type", "output shape", "note")]
        rows += [(s.name, s.type, "-" if s.shape is None else str(tuple(s.shape)), notes.get(s.name, ""))
                 for s in self]
        w = [max(len(r[k]) for r in rows) for k in range(3)]
        return "\n".join(f"{a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d}".rstrip() for a, b, c, d in rows)

    def __repr__(self) -> str:
        return self.__str__()

    @property
    def names(self) -> list[str]:
        return [s.name for s in self]


def list_sites(model: nn.Module, example_input: Any) -> SiteList:
    """Run one dry forward and list the sites that ran with their output shapes, for choosing ``at=``.

    The forward runs under ``torch.no_grad()`` in eval mode; every module's ``training`` flag is
    restored afterwards. ``example_input`` is a tensor (``model(x)``), a tuple (``model(*x)``) or a
    dict (``model(**x)``). Notes flag modules that ran more than once, outputs whose dim 0 is not the
    batch, and outputs that cannot be interpolated (integer tensors, no tensor).

    Example:
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
        >>> sites = list_sites(model, torch.randn(2, 1, 8, 8))
        >>> [(s.name, s.shape) for s in sites][:2]
        [('input', (2, 1, 8, 8)), ('0', (2, 4, 6, 6))]
        >>> print(sites)  # doctest: +NORMALIZE_WHITESPACE
        site   type     output shape   note
        input  Tensor   (2, 1, 8, 8)
        0      Conv2d   (2, 4, 6, 6)
        1      ReLU     (2, 4, 6, 6)
        2      Flatten  (2, 144)
        3      Linear   (2, 2)
    """
    if not isinstance(model, nn.Module):
        raise MixupError(f"list_sites() needs an nn.Module, got {type(model).__name__}.")
    args: tuple[Any, ...]
    if isinstance(example_input, Mapping):
        args, kwargs = (), dict(example_input)
    elif isinstance(example_input, tuple):
        args, kwargs = example_input, {}
    else:
        args, kwargs = (example_input,), {}
    first = _first_tensor(args[0]) if args else _first_tensor(kwargs)
    batch = first.shape[0] if first is not None and first.ndim else None
    seen: dict[str, SiteInfo] = {}
    calls: dict[str, int] = {}
    notes: dict[str, str] = {}
    if args:
        seen[INPUT] = SiteInfo(INPUT, type(args[0]).__name__, _shape_of(args[0]))

    def recorder(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inp: Any, out: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            if name not in seen:
                t = _default_tensor(out)
                seen[name] = SiteInfo(name, type(module).__name__, _shape_of(t))
                if t is None:
                    notes[name] = f"returns {type(out).__name__}: no tensor to mix"
                elif not t.is_floating_point():
                    notes[name] = f"{t.dtype}: cannot be interpolated"
                elif batch is not None and (t.ndim == 0 or t.shape[0] != batch):
                    notes[name] = "dim 0 is not the batch"

        return hook

    flags = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(recorder(n)) for n, m in model.named_modules() if n]
    try:
        model.eval()
        with torch.no_grad():
            model(*args, **kwargs)
    except (RuntimeError, IndexError) as err:  # the model rejected the example (shape, dtype, vocabulary)
        raise HookSiteError(
            f"list_sites: {type(model).__name__} failed on the example input ({_describe(example_input)}): "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}. Pass an input the model accepts."
        ) from err
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags:
            m.training = flag
    for name, n in calls.items():
        if n > 1:
            notes[name] = (notes.get(name, "") + f"; runs {n}x per forward").lstrip("; ")
    result = SiteList(seen.values())
    result.notes = notes
    return result


def _default_tensor(out: Any) -> Tensor | None:
    try:
        t, _ = _select(out, None, "", nn.Identity())
    except HookSiteError:
        return None
    return t


def _shape_of(x: Any) -> tuple[int, ...] | None:
    t = _first_tensor(x) if not isinstance(x, Tensor) else x
    return tuple(t.shape) if t is not None else None

