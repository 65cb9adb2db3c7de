"""Graph-level mixup at the readout (one plan row per graph): :class:`GraphMixer`, the graph route of
:func:`~mixup_any.attach`."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .. import HookSiteError, MixupError, list_sites
from ..handle import Adapter, MixHandle, Route
from .ifmixup import Data

__all__ = ["GraphMixer", "graph_sites"]


class GraphMixer(Route):
    """The graph route: ``attach(GraphMixer(mixer), model, at=<the readout>)`` mixes graph rows inside the model.

    ``at=`` names the readout (a ``torch_geometric.nn.aggr`` module such as ``MeanAggregation``) or a later
    layer; the handle is used as any handle, armed with one label row per graph (docs/graphs.md).

    Raises:
        HookSiteError: no ``at=`` or ``at="input"`` (mix a batch of graphs with
            :class:`~mixup_any.graph.IfMixup`), and, in a forward, a site whose output rows are not the
            batch's graphs.
    """

    def bind(self, model: nn.Module, at: Any) -> tuple[Any, Adapter]:
        """``at`` as given, checked to name no input site, and the adapter that checks each site's rows."""
        names = list(at) if isinstance(at, (list, tuple)) else [at]
        if at is None or "input" in names:
            raise HookSiteError("GraphMixer mixes graph rows inside the model; a batch of graphs is not a tensor to "
                                "interpolate at 'input'. Mix the input graphs with IfMixup(mixer)(data), or name the "
                                "readout (an aggr module such as MeanAggregation) in at=.")
        return at, GraphAdapter()


class GraphAdapter(Adapter):
    """Records the graph batch of each armed forward and refuses a site whose rows are not its graphs."""

    def __init__(self) -> None:
        self.graphs: int | None = None  # the labels' rows, else the Batch's num_graphs
        self.nodes: int | None = None

    def prepare(self, handle: MixHandle, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        data = next((a for a in (*args, *kwargs.values()) if isinstance(a, Data)), None)
        self.nodes = int(data.num_nodes) if data is not None and data.num_nodes is not None else None
        graphs = handle.labels.shape[0] if handle.labels is not None else getattr(data, "num_graphs", None)
        self.graphs = int(graphs) if graphs is not None else None

    def check(self, handle: MixHandle, name: str, module: nn.Module, t: Tensor) -> None:
        graphs = self.graphs
        if graphs is None or t.shape[0] == (2 * graphs if handle.doubled else graphs):
            return
        if graphs == self.nodes:
            raise HookSiteError(
                f"Site {name!r} ({type(module).__name__}) outputs {t.shape[0]} rows, but the labels given to "
                f"arm() have {graphs} rows, one per node: graph-level mixup takes one label per graph "
                "(data.y of a graph classification batch). To mix nodes, use node_plan() with attach().")
        what = "nodes" if t.shape[0] == self.nodes else "rows"
        raise HookSiteError(
            f"Site {name!r} ({type(module).__name__}) outputs {t.shape[0]} {what} (shape {tuple(t.shape)}), but "
            f"graph-level mixup mixes one row per graph and the labels give {graphs} graphs. Hook the "
            "readout, where node rows become graph rows: a torch_geometric.nn.aggr module such as "
            "MeanAggregation (global_mean_pool is a function, which hooks cannot see), or a later layer. "
            "To mix nodes, use node_plan() with attach()."
        )


def graph_sites(model: nn.Module, data: Any) -> Any:
    """:func:`~mixup_any.list_sites` for a model called as ``model(data)`` on a ``Batch``, with each site's rows
    named: ``"graph rows"`` (a site for :class:`GraphMixer`) or ``"node rows"`` (a site for :func:`node_plan`)."""
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
