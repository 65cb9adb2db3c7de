"""Input-level graph mixup (ifMixup, Guo & Mao 2021, https://arxiv.org/abs/2110.09344) for a PyG ``Batch``.

Graph ``i`` of the batch is mixed with graph ``j = index[i]`` of the same batch: the smaller graph is padded
with isolated nodes of zero features, nodes are aligned by their index inside each graph, node features are
interpolated, ``x̃_k = λ·x_i[k] + (1-λ)·x_j[k]``, and the mixed graph keeps the edges of both, graph ``i``'s
with weight ``λ`` and graph ``j``'s with weight ``1-λ`` (``edge_weight``, which GCN-style layers take; an edge
present in both graphs appears twice, so a sum-aggregating layer sees weight 1). The graph targets are mixed
with the same plan. Everything is vectorized over the batch: no Python loop over graphs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import MixParams, MixupError
from ._data import Batch, graph_batch

__all__ = ["IfMixup"]


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

    def __init__(self, mixer: Any) -> None:
        if not all(callable(getattr(mixer, m, None)) for m in ("sample", "mix_target")):
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
            _check_plan(params, b, x)
            if not (self.mixer.enabled and self.mixer.is_training):  # a given plan in eval mode: the identity
                params = MixParams.identity(b, x.device)
        if params.extra is not None:
            raise MixupError(f"IfMixup interpolates node features; the plan carries a {type(params.extra).__name__} "
                             "record (CutMix boxes, RandomChoice, swaps), which graphs have no use for. Use MixUp.")
        self.params = params
        target = self.mixer.mix_target(y, params)
        return (mix_graphs(data, params) if params.mixed else data), target


def _check_plan(p: Any, b: int, x: Tensor) -> None:
    if not isinstance(p, MixParams):
        raise MixupError(f"IfMixup(params=...) needs a MixParams, got {type(p).__name__}.")
    if p.batch_size != b:
        rows = "nodes" if p.batch_size == x.shape[0] else "rows"
        raise MixupError(f"IfMixup: the plan has {p.batch_size} rows ({rows}), but the batch has {b} graphs: "
                         "a graph plan has one row per graph (mixer.sample((num_graphs,), labels=y)).")
    if p.device != x.device:
        raise MixupError(f"IfMixup: the plan is on {p.device} but the node features are on {x.device}.")


def _at(table: Tensor, rows: Tensor) -> Tensor:
    return table.index_select(-1, rows)


def _partner_side(owner: Tensor, idx: Tensor, copies: Tensor, offset: tuple[Tensor, Tensor], lam: Tensor,
                  permutation: bool) -> tuple[Tensor | None, Tensor, Tensor]:
    """The partner-side copies of nodes or edges whose graph is ``owner`` ``(L,)``.

    Graph ``h`` is the partner of every graph ``i`` with ``idx[i] == h``; each such ``i`` gets a copy of ``h``'s
    items. Returns ``(source, shift, weight)`` per copy: the item it copies (``None``: item ``k`` once each,
    the case of a permutation), what to add to its node ids, and its weight ``1 - λ_i``. ``offset[i, h]`` is
    the first node of mixed graph ``i`` minus the first node of graph ``h``, given as ``(mstart, start)``.
    """
    mstart, start = offset
    if permutation:  # graph h is the partner of graph inv[h] alone: per-graph tables, then one gather each
        inv = torch.argsort(idx)
        table = torch.stack([(mstart[inv] - start).to(lam.dtype), 1 - lam[inv]])
        shift, weight = _at(table, owner)
        return None, shift.long(), weight
    # the r-th copy of an item of graph h goes to the r-th graph (in order) that takes h as its partner
    reps = _at(copies, owner)
    count = int(reps.sum())  # the output's size: a host read (only when some graph is the partner of several)
    src = torch.repeat_interleave(torch.arange(owner.shape[0], device=owner.device), reps, output_size=count)
    r = torch.arange(count, device=owner.device) - _at(reps.cumsum(0) - reps, src)
    h = _at(owner, src)
    taker = _at(torch.argsort(idx, stable=True), _at(copies.cumsum(0) - copies, h) + r)
    return src, _at(mstart, taker) - _at(start, h), 1 - _at(lam, taker)


def mix_graphs(data: Any, p: MixParams) -> Any:
    """The ifMixup of ``data`` (a ``Batch`` of ``B`` graphs) with plan ``p`` (``B`` rows); see :class:`IfMixup`."""
    x, ei, batch = data.x, data.edge_index, data.batch
    b, dev = p.batch_size, x.device
    lam, idx = p.lam_rows().to(x.dtype), p.index
    n = torch.bincount(batch, minlength=b)                  # (B,) nodes per graph
    start = n.cumsum(0) - n                                 # first node of each graph
    m = torch.maximum(n, _at(n, idx))                       # nodes of each mixed graph (the larger of the pair)
    mstart = m.cumsum(0) - m
    copies = torch.bincount(idx, minlength=b)               # how often each graph is a partner
    total, most = (int(v) for v in torch.stack([m.sum(), copies.max()]).tolist())  # output size: one host read
    ge = _at(batch, ei[0])                                  # (E,) graph of each edge
    ew = data.edge_weight if getattr(data, "edge_weight", None) is not None else torch.ones(ei.shape[1], dtype=x.dtype,
                                                                                             device=dev)
    own = torch.stack([(mstart - start).to(lam.dtype), lam])  # own side: moved to the mixed graph, weight λ
    own_n, own_e = _at(own, batch), _at(own, ge)
    perm = most == 1
    vs, vshift, vw = _partner_side(batch, idx, copies, (mstart, start), lam, perm)
    es, eshift, e_w = _partner_side(ge, idx, copies, (mstart, start), lam, perm)

    def pick(t: Tensor, src: Tensor | None, dim: int = 0) -> Tensor:
        return t if src is None else t.index_select(dim, src)

    node = torch.arange(x.shape[0], device=dev)
    col = (-1, *([1] * (x.ndim - 1)))
    new_x = x.new_zeros((total, *x.shape[1:])).index_add(0, node + own_n[0].long(), own_n[1].view(col) * x)
    new_x = new_x.index_add(0, pick(node, vs) + vshift, vw.view(col) * pick(x, vs))
    out = Batch(x=new_x, edge_index=torch.cat([ei + own_e[0].long(), pick(ei, es, 1) + eshift], 1),
                edge_weight=torch.cat([own_e[1] * ew, e_w * pick(ew, es)]),
                batch=torch.repeat_interleave(torch.arange(b, device=dev), m, output_size=total),
                ptr=torch.cat([mstart, m.sum().view(1)]))
    if getattr(data, "edge_attr", None) is not None:
        out.edge_attr = torch.cat([data.edge_attr, pick(data.edge_attr, es)])
    return out
