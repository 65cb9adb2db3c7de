"""Sites: where in a model a mix happens and which tensor of a module's output is mixed.

:func:`resolve_sites` turns ``at=`` into ``(name, module)`` pairs, or a :class:`HookSiteError` listing the
names that exist; :func:`select_output` finds the tensor to mix in a module's output and rebuilds the output
around the mixed one; :func:`list_sites` shows every site of a model with its output shape.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from .exceptions import HookSiteError, MixupError
from .functional import tensor_leaves

__all__ = ["list_sites"]

INPUT = "input"
"""Site name of the model's first positional input (mixed by a forward pre-hook on the model)."""

SiteSpec = str | type | nn.Module


Named = list[tuple[str, nn.Module]]
_HINT = "Call mixup_any.list_sites(model, example_input) to see every site with its output shape."


def resolve_sites(model: nn.Module, at: SiteSpec | Sequence[SiteSpec]) -> Named:
    """``(name, module)`` per site, in the order given, without duplicates; ``INPUT`` maps to the model."""
    specs = list(at) if isinstance(at, (list, tuple)) else [at]
    if not specs:
        raise HookSiteError("at= is empty; give at least one site (a name, glob, 're:' regex, type or module).")
    named = [(n, m) for n, m in model.named_modules() if n]  # the root itself is addressed as "input"
    out: dict[str, nn.Module] = {}
    for spec in specs:
        for name, module in _select(model, named, spec):
            out.setdefault(name, module)
    return list(out.items())


def _select(model: nn.Module, named: Named, spec: Any) -> Named:
    """The sites one ``at=`` entry names, or a :class:`HookSiteError` saying which exist."""
    owner, names = type(model).__name__, [n for n, _ in named]
    word = None  # for a name, glob or regex that matches nothing: the word to list close names for
    if spec is model:
        raise HookSiteError(f"at= is the model itself ({owner}); use at='input' to mix its input, or name a "
                            "submodule whose output to mix.")
    if isinstance(spec, nn.Module):
        found = [(n, m) for n, m in named if m is spec][:1]
        missing = (f"The module instance {type(spec).__name__} given in at= is not part of {owner} (not "
                   "found in model.named_modules()).")
    elif isinstance(spec, type) and issubclass(spec, nn.Module):
        found = [(n, m) for n, m in named if isinstance(m, spec)]
        missing = (f"No submodule of {owner} is a {spec.__name__}; its module types are "
                   f"{sorted({type(m).__name__ for _, m in named})}. {_HINT}")
    elif not isinstance(spec, str):
        raise HookSiteError(f"at= entries must be a module name, a glob, a 're:' regex, an nn.Module "
                            f"subclass or a module instance; got {type(spec).__name__} {spec!r}.")
    elif spec == INPUT and INPUT not in names:
        return [(INPUT, model)]
    elif spec == "input_embeddings" and spec not in names and hasattr(model, "get_input_embeddings"):
        emb = cast(Any, model).get_input_embeddings()  # a transformers model (checked with hasattr above)
        found = [(n, m) for n, m in named if m is emb][:1]
        missing = f"{owner}.get_input_embeddings() returned a {type(emb).__name__}, not a submodule."
    elif spec.startswith("re:"):
        try:
            rx = re.compile(spec[3:])
        except re.error as err:
            raise HookSiteError(f"at={spec!r} is not a valid regular expression: {err}.") from err
        found = [(n, m) for n, m in named if rx.search(n)]
        missing = f"No module name matches the regex {spec[3:]!r} (re.search over qualified names)"
        word = re.sub(r"[\\^$()|?*+\[\]{}]", "", spec[3:])
    elif any(ch in spec for ch in "*?["):
        found = [(n, m) for n, m in named if fnmatch.fnmatchcase(n, spec)]
        missing = f"No module name matches the glob {spec!r}"
        word = spec.replace("*", "").replace("?", "")
    else:
        found = [(n, m) for n, m in named if n == spec]
        missing = f"No module named {spec!r} in {owner}"
        word = spec
        names = names + [INPUT]
    if not found:
        raise HookSiteError(missing if word is None else f"{missing}; {_close(word, names)}. {_HINT}")
    return found


def _close(word: str, names: Sequence[str], n: int = 5) -> str:
    close = difflib.get_close_matches(word, names, n=n, cutoff=0.4)
    if not close:
        close = [m for m in names if word and (word in m or m in word)][:n]
    return f"close names: {', '.join(repr(c) for c in close) if close else 'none'}"


def _rebuild_sequence(out: tuple[Any, ...] | list[Any], i: int, new: Tensor) -> Any:
    items = list(out)
    items[i] = new
    if isinstance(out, tuple) and hasattr(out, "_make"):  # namedtuple
        return out._make(items)
    try:  # tuple, list and subclasses such as torch.return_types structseqs take one iterable
        return type(out)(items)
    except TypeError:
        return tuple(items) if isinstance(out, tuple) else items


def select_output(out: Any, spec: int | str | None, site: str, module: nn.Module) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """The tensor to mix in ``out`` and a function that returns ``out`` with it replaced (never in place)."""
    if isinstance(out, Tensor):
        if spec is None:
            return out, lambda new: new
        raise HookSiteError(
            f"output={spec!r} was given, but site {site!r} ({type(module).__name__}) returns a plain tensor; "
            "use output=None."
        )
    if isinstance(out, (tuple, list)):
        i = _sequence_index(out, spec, site)
        return check_site_tensor(out[i], site, module, f"[{i}]"), lambda new: _rebuild_sequence(out, i, new)
    # a dict, OrderedDict, transformers ModelOutput (an OrderedDict dataclass) or dataclass: fields by name
    mapping = isinstance(out, Mapping)
    if mapping or (dataclasses.is_dataclass(out) and not isinstance(out, type)):
        fields = dict(out) if mapping else {f.name: getattr(out, f.name) for f in dataclasses.fields(out)}
        key = _field(fields, spec, site, module, type(out).__name__)

        def rebuild(new: Tensor) -> Any:
            if not mapping:
                return dataclasses.replace(out, **{key: new})
            res: Any = copy.copy(out)  # a new container; the module's own output object is left as it was
            res[key] = new
            return res

        return check_site_tensor(fields[key], site, module, f"[{key!r}]" if mapping else f".{key}"), rebuild
    raise HookSiteError(
        f"Site {site!r} ({type(module).__name__}) returned a {type(out).__name__}, which cannot be mixed: "
        "expected a tensor, a tuple/list, a dict or a transformers ModelOutput (or a dataclass) holding one. "
        "Hook a module whose output is a tensor, or a submodule of this one."
    )


def _field(fields: dict[Any, Any], spec: int | str | None, site: str, module: nn.Module, kind: str) -> Any:
    """The key of the field to mix: the first tensor field, or the one ``spec`` names or indexes."""
    keys = list(fields)
    if spec is None:
        key = next((k for k in keys if isinstance(fields[k], Tensor)), None)
        if key is None:
            raise HookSiteError(f"Site {site!r} ({type(module).__name__}) returned a {kind} with no tensor "
                                f"field (keys {keys}); nothing to mix.")
        return key
    if isinstance(spec, int):
        if not -len(keys) <= spec < len(keys):
            raise HookSiteError(f"output={spec} is out of range for site {site!r}: it returned a {kind} with "
                                f"{len(keys)} fields {keys}.")
        return keys[spec]
    if spec not in keys:
        raise HookSiteError(f"output={spec!r} is not a field of the {kind} returned by site {site!r}; its "
                            f"fields are {keys}.")
    return spec


def _sequence_index(out: tuple[Any, ...] | list[Any], spec: int | str | None, site: str) -> int:
    if spec is None:
        i = 0
    elif isinstance(spec, int):
        i = spec
    elif hasattr(out, "_fields") and spec in out._fields:
        i = out._fields.index(spec)
    elif any(v is getattr(out, spec, None) for v in out):
        i = next(k for k, v in enumerate(out) if v is getattr(out, spec))  # torch.return_types
    else:
        fields = getattr(out, "_fields", None)
        raise HookSiteError(
            f"output={spec!r} cannot select from the {type(out).__name__} returned by site {site!r}"
            + (f"; its fields are {list(fields)}." if fields else "; use an int index.")
        )
    if not -len(out) <= i < len(out):
        raise HookSiteError(f"output={spec!r} is out of range for site {site!r}: it returned a "
                            f"{type(out).__name__} of length {len(out)}.")
    return i % len(out)


def check_site_tensor(t: Any, site: str, module: nn.Module, where: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise HookSiteError(
            f"Site {site!r} ({type(module).__name__}): the selected output{where} is a {type(t).__name__}, not a "
            "tensor; choose another element with output=."
        )
    return t


def describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"{x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


class SiteInfo(NamedTuple):
    """One candidate site: qualified ``name``, module ``type`` name and output ``shape`` (``None`` if no tensor)."""

    name: str
    type: str
    shape: tuple[int, ...] | None


class SiteList(list[SiteInfo]):
    """A list of :class:`SiteInfo` in execution order that prints as a table."""

    notes: dict[str, str]

    def __repr__(self) -> str:
        notes = getattr(self, "notes", {})
        rows = [("site", "type", "output shape", "note")]
        rows += [(s.name, s.type, "-" if s.shape is None else str(tuple(s.shape)), notes.get(s.name, ""))
                 for s in self]
        w = [max(len(r[k]) for r in rows) for k in range(3)]
        return "\n".join(f"{a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d}".rstrip() for a, b, c, d in rows)

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
    args, kwargs = _as_call(example_input)
    try:  # the first tensor of the input, if it holds tensors only
        first: Tensor | None = tensor_leaves(args[0] if args else kwargs)[0][1]
    except (MixupError, IndexError):
        first = None
    batch = first.shape[0] if first is not None and first.ndim else None
    seen: dict[str, SiteInfo] = {}
    calls: dict[str, int] = {}
    notes: dict[str, str] = {}
    if args:
        seen[INPUT] = SiteInfo(INPUT, type(args[0]).__name__, None if first is None else tuple(first.shape))

    def recorder(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inp: Any, out: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            if name not in seen:
                try:
                    t: Tensor | None = select_output(out, None, name, module)[0]
                except HookSiteError:
                    t = None
                seen[name] = SiteInfo(name, type(module).__name__, None if t is None else tuple(t.shape))
                note = _note(t, out, batch)
                if note:
                    notes[name] = note

        return hook

    flags = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(recorder(n)) for n, m in model.named_modules() if n]
    try:
        model.eval()
        with torch.no_grad():
            model(*args, **kwargs)
    except (RuntimeError, IndexError) as err:  # the model rejected the example (shape, dtype, vocabulary)
        raise HookSiteError(
            f"list_sites: {type(model).__name__} failed on the example input ({describe(example_input)}): "
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


def _as_call(example_input: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` of ``model(x)``, ``model(*x)`` (a tuple) or ``model(**x)`` (a dict)."""
    if isinstance(example_input, Mapping):
        return (), dict(example_input)
    if isinstance(example_input, tuple):
        return example_input, {}
    return (example_input,), {}


def _note(t: Tensor | None, out: Any, batch: int | None) -> str:
    """Why a module's output may not be a good site ("" if it is fine)."""
    if t is None:
        return f"returns {type(out).__name__}: no tensor to mix"
    if not t.is_floating_point():
        return f"{t.dtype}: cannot be interpolated"
    if batch is not None and (t.ndim == 0 or t.shape[0] != batch):
        return "dim 0 is not the batch"
    return ""
