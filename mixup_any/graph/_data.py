"""The PyG import (lazy, naming the ``graph`` extra) and the checks on a batch of graphs."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .. import MixupError
from ..extras import require

_data = require("torch_geometric.data", "graph", feature="mixup_any.graph")
Batch = _data.Batch
Data = _data.Data


def describe(x: Any) -> str:
    return f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


def graph_batch(data: Any, who: str) -> tuple[Tensor, int]:
    """The node features ``x`` ``(N, ...)`` and the number of graphs ``B`` of a ``Batch``, or a clear error."""
    if not isinstance(data, Data):
        raise MixupError(f"{who} needs a torch_geometric Batch of graphs, got {describe(data)}.")
    x, ei, batch = getattr(data, "x", None), getattr(data, "edge_index", None), getattr(data, "batch", None)
    if not isinstance(x, Tensor) or x.ndim == 0:
        raise MixupError(f"{who} needs node features data.x of shape (N, F), got {describe(x)}.")
    if not x.is_floating_point():
        raise MixupError(f"{who}: the node features data.x are a {x.dtype} tensor of shape {tuple(x.shape)} "
                         "(categorical codes such as atom types?); codes cannot be interpolated. Embed them first "
                         "(nn.Embedding) and mix the embeddings, or mix at the readout with GraphMixer.")
    if not isinstance(batch, Tensor):
        raise MixupError(f"{who} needs a Batch whose `batch` vector says which graph each node belongs to; this "
                         f"{type(data).__name__} has none (one graph, not a batch). Build the batch with "
                         "torch_geometric.loader.DataLoader or Batch.from_data_list.")
    if not isinstance(ei, Tensor) or ei.ndim != 2 or ei.shape[0] != 2 or ei.is_floating_point():
        raise MixupError(f"{who} needs data.edge_index, an integer tensor of shape (2, E), got {describe(ei)}.")
    if batch.shape != x.shape[:1]:
        raise MixupError(f"{who}: data.batch has shape {tuple(batch.shape)} but there are {x.shape[0]} nodes.")
    b = int(data.num_graphs) if isinstance(data, Batch) else int(batch.max()) + 1 if batch.numel() else 0
    if b == 0:
        raise MixupError(f"{who}: the batch holds no graph.")
    return x, b
