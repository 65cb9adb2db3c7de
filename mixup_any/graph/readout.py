"""Graph-level mixup at the readout: :func:`attach_graph`, the handle of :func:`~mixup_any.attach` for graphs.

In a batch of graphs the plan has one row per graph (``y`` per graph), so the site must be where node rows
have become graph rows: a ``torch_geometric.nn.aggr`` module (``MeanAggregation()(h, batch)``, the module form
of ``global_mean_pool``) or any later layer. A site whose rows are nodes raises a :class:`HookSiteError` that
says so, instead of mixing node rows with a plan drawn for graphs.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .. import HookSiteError, MixupError, attach, list_sites
from ._data import Data

__all__ = ["GraphHandle", "attach_graph", "graph_sites"]


def attach_graph(mixer: Any, model: nn.Module, at: Any, **kwargs: Any) -> GraphHandle:
    """:func:`~mixup_any.attach` for graph-level mixup: ``at=`` names the readout (or a later layer).

    Takes the arguments of :func:`~mixup_any.attach` and returns a :class:`GraphHandle`, used as any handle::

        with attach_graph(mixer, model, at="pool") as mix:   # a MeanAggregation module
            for data in loader:                              # torch_geometric.loader.DataLoader
                mix.arm(data.y)                              # one row per graph
                out = model(data)
                loss = mix.loss(F.cross_entropy, out, data.y)

    Raises:
        HookSiteError: ``at="input"`` (mix a batch of graphs with :class:`~mixup_any.graph.IfMixup`), and,
            in a forward, a site whose output rows are not the batch's graphs.
    """
    names = list(at) if isinstance(at, (list, tuple)) else [at]
    if "input" in names:
        raise HookSiteError("attach_graph mixes graph rows inside the model; a batch of graphs is not a tensor to "
                            "interpolate at 'input'. Mix the input graphs with IfMixup(mixer)(data), or name the "
                            "readout (an aggr module such as MeanAggregation) in at=.")
    return GraphHandle(attach(mixer, model, at=at, **kwargs))


class GraphHandle:
    """A :class:`~mixup_any.MixHandle` whose sites must output one row per graph.

    ``arm``, ``loss``, ``target``, ``params``, ``calls``, ``disarm``, ``remove`` and the ``with`` block are
    the handle's own (``handle`` is the wrapped :class:`~mixup_any.MixHandle`); this class adds a check that
    runs before each site's mix and a record of the graph batch the model was called with.
    """

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self._graphs = 0
        self._nodes: int | None = None
        model = handle.model
        self._hooks = [model.register_forward_pre_hook(self._see_batch, with_kwargs=True, prepend=True)]
        try:
            for name in handle.sites:
                module = model.get_submodule(name)
                self._hooks.append(module.register_forward_hook(self._checker(name), prepend=True))
        except BaseException:
            self.remove()
            raise

    def arm(self, labels: Tensor, *, params: Any = None) -> None:
        """Mix the next forward; ``labels`` has one row per graph (see :meth:`mixup_any.MixHandle.arm`)."""
        self.handle.arm(labels, params=params)
        self._graphs = labels.shape[0]

    def _see_batch(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        data = next((a for a in (*args, *kwargs.values()) if isinstance(a, Data)), None)
        self._nodes = int(data.num_nodes) if data is not None and data.num_nodes is not None else None

    def _checker(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not self.handle.armed:
                return
            t = output if isinstance(output, Tensor) else next(
                (v for v in (output if isinstance(output, (tuple, list)) else ()) if isinstance(v, Tensor)), None)
            if t is None or t.ndim == 0 or t.shape[0] == self._graphs:
                return  # the handle reports outputs it cannot mix
            self.handle.disarm()
            if self._graphs == self._nodes:
                raise HookSiteError(
                    f"Site {name!r} ({type(module).__name__}) outputs {t.shape[0]} rows, but the labels given to "
                    f"arm() have {self._graphs} rows, one per node: graph-level mixup takes one label per graph "
                    "(data.y of a graph classification batch). To mix nodes, use node_plan() with attach().")
            what = "nodes" if t.shape[0] == self._nodes else "rows"
            raise HookSiteError(
                f"Site {name!r} ({type(module).__name__}) outputs {t.shape[0]} {what} (shape {tuple(t.shape)}), but "
                f"graph-level mixup mixes one row per graph and the labels give {self._graphs} graphs. Hook the "
                "readout, where node rows become graph rows: a torch_geometric.nn.aggr module such as "
                "MeanAggregation (global_mean_pool is a function, which hooks cannot see), or a later layer. "
                "To mix nodes, use node_plan() with attach()."
            )

        return hook

    def remove(self) -> None:
        """Remove the checks and the handle's hooks (idempotent)."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        self.handle.remove()

    def __getattr__(self, name: str) -> Any:  # the handle's own verbs and attributes
        if name == "handle":
            raise AttributeError(name)
        return getattr(self.handle, name)

    def __enter__(self) -> GraphHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"GraphHandle({self.handle!r})"


def graph_sites(model: nn.Module, data: Any) -> Any:
    """:func:`~mixup_any.list_sites` for a model called as ``model(data)`` on a ``Batch``, with each site's rows
    named: ``"graph rows"`` (a site for :func:`attach_graph`) or ``"node rows"`` (a site for :func:`node_plan`)."""
    if not isinstance(data, Data):
        raise MixupError(f"graph_sites needs a torch_geometric Data or Batch, got {type(data).__name__}.")
    sites = list_sites(model, data)
    graphs = int(data.num_graphs) if hasattr(data, "num_graphs") else 1
    for s in sites:
        rows = s.shape[0] if s.shape else None
        kind = "graph rows" if rows == graphs else "node rows" if rows == data.num_nodes else ""
        if kind and s.name != "input":
            sites.notes[s.name] = "; ".join(filter(None, [kind, sites.notes.get(s.name, "")]))
    return sites
