"""Attach a mixer to any model: hidden activations (manifold mixup), embeddings, and every route.

:func:`attach` resolves the sites named by ``at=`` (:mod:`mixup_any.sites`) and returns the
:class:`~mixup_any.handle.MixHandle` every route shares; a route (:class:`~mixup_any.handle.Route`) goes
where the mixer goes and resolves ``at=`` itself, e.g. ``attach(TextMixer(mixer), model, at="tokens")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .exceptions import MixupError
from .handle import MixHandle, Route
from .mixers.base import Mixer
from .sites import INPUT, SiteSpec, resolve_sites

__all__ = ["attach"]

_CHOOSE = ("one", "all")
_REPEAT = ("raise", "first", "all")


def attach(
    mixer: Mixer | Route,
    model: nn.Module,
    at: SiteSpec | Sequence[SiteSpec] | None = None,
    choose: str | None = None,
    weights: Sequence[float] | Mapping[str, float] | Tensor | None = None,
    output: int | str | None = None,
    *,
    repeat: str = "raise",
    mode: str = "mixup",
    eta: float = 1.0,
) -> MixHandle:
    """Hook ``mixer`` into ``model`` at one or more sites; returns a :class:`MixHandle` (a context manager).

    Args:
        mixer: a :class:`~mixup_any.mixers.base.Mixer` (its generator draws the site and the plan), or a
            :class:`~mixup_any.handle.Route` wrapping one: :class:`mixup_any.text.TextMixer`,
            :class:`mixup_any.tabular.TabularMixer`, :class:`mixup_any.graph.GraphMixer`.
        model: the model whose forward is called; its ``training`` flag decides whether to mix.
        at: ``"input"`` (the model's first positional input; the default for a mixer), a qualified name
            (``"layer3.1"``), a glob (``"layer*.conv2"``), a regex with the ``"re:"`` prefix (``re.search``
            over qualified names, e.g. ``r"re:^encoder\\.layer\\.(7|9|11)$"``), an ``nn.Module`` subclass
            (every instance), a module instance, ``"input_embeddings"`` (``model.get_input_embeddings()``), or
            a list of these. A route resolves ``at`` itself (text: ``"tokens"``, ``"hidden"``, ...).
        choose: ``"one"`` (default): per armed forward one site is drawn and only it mixes (manifold mixup);
            ``"all"``: every site mixes with the same draw (a table's embeddings, where the route sets it).
        weights: with ``choose="one"``, the probability of each site (a sequence in site order or a dict
            by site name; normalised); uniform by default.
        output: which tensor of a module output to mix: ``None`` = the tensor itself / the first element
            of a tuple or list / the first tensor field of a dict or ``ModelOutput``; an ``int`` index or a
            ``str`` key / field name otherwise. Other elements pass through untouched.
        repeat: a selected site that runs more than once in one forward: ``"raise"`` (default),
            ``"first"`` (mix its first call only) or ``"all"`` (mix every call with the same draw).
        mode: ``"mixup"`` (default), ``"erm"``, ``"regmixup"`` (forward ``torch.cat([x, x])``; the first
            half stays clean) or ``"inputs_only"``; see :mod:`mixup_any.modes` and :meth:`MixHandle.loss`.
        eta: RegMixup's weight of the mixed term, ``>= 0``.

    Raises:
        HookSiteError: a site matches nothing (close names are listed), or the model (or a site) is
            already hooked by a live handle.

    Example:
        >>> from mixup_any import MixUp, mixed_loss
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
        >>> with attach(MixUp(alpha=2.0, num_classes=3, seed=0), model, at="0") as mix:
        ...     mix.arm(y)
        ...     loss = mix.loss(F.cross_entropy, model(x), y)
        >>> mix.params.site, mix.removed
        ('0', True)
    """
    if not isinstance(model, nn.Module):
        raise MixupError(f"attach() needs an nn.Module model, got {type(model).__name__}.")
    adapter = None
    if isinstance(mixer, Route):
        spec, adapter = mixer.bind(model, at)
        if adapter.choose is not None and choose not in (None, adapter.choose):
            raise MixupError(f"{type(mixer).__name__} mixes its sites with choose={adapter.choose!r}, got "
                             f"choose={choose!r}; leave choose unset.")
        choose = choose or adapter.choose
        output = adapter.output if output is None else output
        mixer = mixer.mixer
    elif isinstance(mixer, Mixer):
        spec = INPUT if at is None else at
    else:
        raise MixupError(f"attach() needs a Mixer (e.g. MixUp(alpha=0.4)) or a route wrapping one (TextMixer, "
                         f"TabularMixer, GraphMixer), got {type(mixer).__name__}.")
    choose = choose or "one"
    if choose not in _CHOOSE:
        raise MixupError(f"choose must be one of {_CHOOSE}, got {choose!r}.")
    if repeat not in _REPEAT:
        raise MixupError(f"repeat must be one of {_REPEAT}, got {repeat!r}.")
    if output is not None and (not isinstance(output, (int, str)) or isinstance(output, bool)):
        raise MixupError(f"output must be None, an int index or a str key, got {output!r}.")
    sites = resolve_sites(model, spec) if spec is not None else []
    w = _weights(weights, [n for n, _ in sites], choose)
    return MixHandle(mixer, model, sites, choose=choose, weights=w, output=output, repeat=repeat, mode=mode,
                     eta=eta, adapter=adapter)


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
