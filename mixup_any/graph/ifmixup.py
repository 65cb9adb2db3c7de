"""Input-level graph mixup (ifMixup, Guo & Mao 2021, https://arxiv.org/abs/2110.09344) for a PyG ``Batch``.

Graph ``i`` is mixed with graph ``index[i]``: nodes aligned by their index inside each graph (the smaller
graph padded with zero-feature nodes), features interpolated, the edges of both kept with ``edge_weight``
``λ`` and ``1-λ`` (docs/graphs.md). Vectorized over the batch: no Python loop over graphs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import Mixer, MixParams, MixupError
from ..extras import require
from ..params import check_given
from ..sites import describe

_data = require("torch_geometric.data", "graph", feature="mixup_any.graph")
Batch, Data = _data.Batch, _data.Data

__all__ = ["IfMixup", "mix_graphs"]


class IfMixup:
    """ifMixup for a batch of graphs: ``data, target = IfMixup(mixer)(data)``.

    Args:
        mixer: a mixer that draws λ and partners (:class:`~mixup_any.MixUp` with any λ, pairing and
            target options); its plan has one row per graph.

    Call ``ifmix(data, y=None, *, params=None)``:

    * ``data``: a ``torch_geometric.data.Batch`` with float node features ``x`` ``(N, F)``, ``edge_index``
      ``(2, E)``, ``batch`` ``(N,)`` and optionally ``edge_weight`` ``(E,)`` and ``edge_attr`` ``(E, ...)``.
    * ``y``: graph targets ``(B, ...)``; ``data.y`` by default.
    * ``params``: a plan for the ``B`` graphs to replay instead of drawing one.

    Returns ``(mixed, target)``: ``mixed`` is a ``Batch`` of ``B`` graphs with ``x`` ``(M, F)`` (graph ``i``
    has ``max(n_i, n_index[i])`` nodes), ``edge_index``, ``edge_weight`` and ``edge_attr`` (own edges first,
    then the partners'), ``batch`` and ``ptr``; ``target`` is ``mixer.mix_target(y, plan)``. The plan is
    :attr:`params`. An identity plan (eval mode, ``alpha=0``) returns ``data`` itself. Finding ``M`` reads
    two sizes from the device once per call (the output's shape; PyG's ``to_dense_batch`` does the same).

    Example:
        >>> from torch_geometric.data import Batch, Data
        >>> from mixup_any import MixUp
        >>> g = [Data(x=torch.ones(n, 2), edge_index=torch.tensor([[0], [1]]), y=torch.tensor([n])) for n in (2, 3)]
        >>> mixed, target = IfMixup(MixUp(lam=0.75, pairing="flip"))(Batch.from_data_list(g))
        >>> mixed.num_graphs, mixed.x.shape, mixed.edge_weight.tolist()
        (2, torch.Size([6, 2]), [0.75, 0.75, 0.25, 0.25])
    """

    def __init__(self, mixer: Mixer) -> None:
        if not isinstance(mixer, Mixer):
            raise MixupError(f"IfMixup needs a mixer such as MixUp(alpha=0.4), got {type(mixer).__name__}.")
        self.mixer = mixer
        self.params: MixParams | None = None

    def __call__(self, data: Any, y: Tensor | None = None, *, params: MixParams | None = None) -> tuple[Any, Any]:
        x, b = graph_batch(data, "IfMixup")
        y = data.y if y is None else y
        if not isinstance(y, Tensor) or y.ndim == 0 or y.shape[0] != b:
            got = f"shape {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
            per_node = isinstance(y, Tensor) and y.ndim and y.shape[0] == x.shape[0]
            raise MixupError(f"IfMixup mixes graph targets, one row per graph ({b} graphs), got y of {got}"
                             + (" (one row per node: for node classification use node_plan())." if per_node else "."))
        if params is None:
            params = self.mixer.sample((b, *x.shape[1:]), labels=y, device=x.device)
        else:
            check_given(params, "IfMixup(data, params=...)", b, device=x.device, rows="graphs",
                        hint=" A graph plan has one row per graph, not per node: mixer.sample((num_graphs,), "
                        "labels=y).")
            if not (self.mixer.enabled and self.mixer.is_training):  # a given plan in eval mode: the identity
                params = MixParams.identity(b, x.device)
        if params.extra is not None:
            raise MixupError(f"IfMixup interpolates node features; the plan carries a {type(params.extra).__name__} "
                             "record (CutMix boxes, RandomChoice, swaps), which graphs have no use for. Use MixUp.")
        self.params = params
        target = self.mixer.mix_target(y, params)
        return (mix_graphs(data, params) if params.mixed else data), target


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


def mix_graphs(data: Any, p: MixParams) -> Any:
    """The ifMixup of ``data`` (a ``Batch`` of ``B`` graphs) with plan ``p`` (``B`` rows); see :class:`IfMixup`."""
    x, ei, batch = data.x, data.edge_index, data.batch
    b, dev = p.batch_size, x.device
    lam, idx = p.lam_rows().to(x.dtype), p.index
    n = torch.bincount(batch, minlength=b)                  # (B,) nodes per graph
    m = torch.maximum(n, n.index_select(0, idx))            # nodes of each mixed graph (the larger of the pair)
    ptr = torch.cat([m.new_zeros(1), m.cumsum(0)])          # (B + 1,) first node of each mixed graph, then M
    copies = torch.bincount(idx, minlength=b)               # how often each graph is a partner
    total, most = torch.stack([ptr[-1], copies.max()]).tolist()  # output size: one host read
    mstart, start = ptr[:-1], n.cumsum(0) - n
    taker = torch.argsort(idx, stable=True)                 # graphs ordered by their partner
    other = 1 - lam                                         # the partner side's weight in each mixed graph
    if most == 1:  # a permutation: graph h is the partner of graph taker[h] alone, so per-graph tables do
        shift_h, weight_h = mstart.index_select(0, taker) - start, other.index_select(0, taker)

    def partners(owner: Tensor) -> tuple[Tensor | None, Tensor, Tensor]:
        """The partner-side copies of the nodes or edges of graphs ``owner`` ``(L,)``: the item each copies
        (``None``: item ``k`` once each, the case of a permutation), what to add to its node ids, its weight.

        The ``r``-th copy of an item of graph ``h`` goes to the ``r``-th graph (in order) that takes ``h``."""
        if most == 1:
            return None, shift_h.index_select(0, owner), weight_h.index_select(0, owner)
        reps = copies.index_select(0, owner)
        count = int(reps.sum())  # a host read, only when some graph is the partner of several
        src = torch.repeat_interleave(torch.arange(owner.shape[0], device=dev), reps, output_size=count)
        h = owner.index_select(0, src)
        r = torch.arange(count, device=dev) - (reps.cumsum(0) - reps).index_select(0, src)
        t = taker.index_select(0, (copies.cumsum(0) - copies).index_select(0, h) + r)
        return src, mstart.index_select(0, t) - start.index_select(0, h), other.index_select(0, t)

    def pick(v: Tensor, src: Tensor | None, dim: int = 0) -> Tensor:
        return v if src is None else v.index_select(dim, src)

    moved = mstart - start                                  # own side: graph i's nodes move to mixed graph i
    nodes = x.shape[0]
    node = torch.arange(nodes, device=dev)
    vs, vshift, _ = partners(batch)
    # each output node holds at most one own node and one partner node: gather both, row N of `padded` is zeros
    own = torch.full((total,), nodes, device=dev).index_copy_(0, node + moved.index_select(0, batch), node)
    theirs = torch.full((total,), nodes, device=dev).index_copy_(0, pick(node, vs) + vshift, pick(node, vs))
    padded = torch.cat([x, x.new_zeros((1, *x.shape[1:]))])
    mbatch = torch.repeat_interleave(torch.arange(b, device=dev), m, output_size=total)  # (M,) the new `batch`
    col = (-1, *([1] * (x.ndim - 1)))
    new_x = (lam.index_select(0, mbatch).view(col) * padded.index_select(0, own)
             + other.index_select(0, mbatch).view(col) * padded.index_select(0, theirs))
    ge = batch.index_select(0, ei[0])                       # (E,) graph of each edge
    es, eshift, e_w = partners(ge)
    ew = getattr(data, "edge_weight", None)
    e_own = lam.index_select(0, ge)
    out = Batch(x=new_x, edge_index=torch.cat([ei + moved.index_select(0, ge), pick(ei, es, 1) + eshift], 1),
                edge_weight=torch.cat([e_own, e_w] if ew is None else [e_own * ew, e_w * pick(ew, es)]),
                batch=mbatch, ptr=ptr)
    if getattr(data, "edge_attr", None) is not None:
        out.edge_attr = torch.cat([data.edge_attr, pick(data.edge_attr, es)])
    return out
