"""Graphs (mixup_any.graph): ifMixup, readout mixup and node mixup against hand-written references; bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pyg = pytest.importorskip("torch_geometric")

from torch_geometric.data import Batch, Data  # noqa: E402
from torch_geometric.nn import GCNConv, MeanAggregation  # noqa: E402

from mixup_any import HookSiteError, MixParams, MixUp, MixupError, attach, list_sites  # noqa: E402
from mixup_any.graph import GraphMixer, IfMixup, graph_sites, node_plan  # noqa: E402
from mixup_any.params import Box  # noqa: E402


def graphs(sizes=(3, 1, 5, 4, 2), f=3, seed=0, weights=False, attr=False) -> Batch:
    """A batch of random undirected graphs of the given sizes (a 1-node graph has no edge)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k, n in enumerate(sizes):
        a = torch.rand(n, n, generator=g) < 0.5
        a = (a | a.T) & ~torch.eye(n, dtype=torch.bool)
        ei = a.nonzero().T
        d = Data(x=torch.randn(n, f, generator=g), edge_index=ei, y=torch.tensor([k % 3]), num_nodes=n)
        if weights:
            d.edge_weight = torch.rand(ei.shape[1], generator=g) + 0.5
        if attr:
            d.edge_attr = torch.randn(ei.shape[1], 2, generator=g)
        out.append(d)
    return Batch.from_data_list(out)


def per_graph(b: Batch, w: torch.Tensor | None = None):
    """(x, dense weighted adjacency, edge_attr by edge) of each graph, by an explicit loop over edges."""
    w = torch.ones(b.edge_index.shape[1]) if w is None else w
    res = []
    for i in range(b.num_graphs):
        lo, hi = int(b.ptr[i]), int(b.ptr[i + 1])
        a = torch.zeros(hi - lo, hi - lo, dtype=b.x.dtype)
        for e in range(b.edge_index.shape[1]):
            u, v = int(b.edge_index[0, e]), int(b.edge_index[1, e])
            if lo <= u < hi:
                a[u - lo, v - lo] += w[e]
        res.append((b.x[lo:hi], a))
    return res


def ifmixup_reference(b: Batch, lam: torch.Tensor, index: torch.Tensor):
    """ifMixup written out per pair: pad the smaller graph with zero nodes, align by index, mix x and A."""
    parts = per_graph(b, getattr(b, "edge_weight", None))
    out = []
    for i in range(b.num_graphs):
        (xi, ai), (xj, aj) = parts[i], parts[int(index[i])]
        n = max(xi.shape[0], xj.shape[0])
        x = torch.zeros(n, xi.shape[1])
        a = torch.zeros(n, n)
        x[: xi.shape[0]] += lam[i] * xi
        x[: xj.shape[0]] += (1 - lam[i]) * xj
        a[: ai.shape[0], : ai.shape[0]] += lam[i] * ai
        a[: aj.shape[0], : aj.shape[0]] += (1 - lam[i]) * aj
        out.append((x, a))
    return out


def given(lam, index):
    return MixParams(lam=torch.tensor(lam, dtype=torch.float32), index=torch.tensor(index))


# ------------------------------------------------------------------ ifMixup


@pytest.mark.parametrize("index", [[2, 0, 4, 1, 3], [2, 2, 0, 1, 2], [0, 1, 2, 3, 4]])
@pytest.mark.parametrize("weights", [False, True])
def test_ifmixup_matches_the_per_pair_reference(index, weights):
    b = graphs(weights=weights)
    lam = [0.7, 0.2, 0.5, 1.0, 0.35]
    ifmix = IfMixup(MixUp(num_classes=3))
    mixed, target = ifmix(b, params=given(lam, index))
    ref = ifmixup_reference(b, torch.tensor(lam), torch.tensor(index))
    got = per_graph(mixed, mixed.edge_weight)
    assert mixed.num_graphs == 5 and [x.shape[0] for x, _ in got] == [x.shape[0] for x, _ in ref]
    assert torch.equal(mixed.batch, torch.repeat_interleave(torch.arange(5), torch.tensor([x.shape[0] for x, _ in ref])))
    for (x, a), (xr, ar) in zip(got, ref, strict=True):
        torch.testing.assert_close(x, xr)
        torch.testing.assert_close(a, ar)
    assert torch.equal(target.y_a, b.y) and torch.equal(target.y_b, b.y[torch.tensor(index)])
    torch.testing.assert_close(target.lam, torch.tensor(lam))


def test_ifmixup_keeps_each_edge_attr_with_its_edge():
    b = graphs(attr=True)
    index = torch.tensor([1, 0, 3, 2, 4])
    mixed, _ = IfMixup(MixUp())(b, params=given([0.6] * 5, index.tolist()))
    # an edge of the mixed batch with weight 0.6 is an own edge; 0.4 a partner's: look each one up by its ends
    ptr_new, ptr = mixed.ptr, b.ptr
    for e in range(mixed.edge_index.shape[1]):
        u, v = mixed.edge_index[:, e].tolist()
        g = int(mixed.batch[u])
        src = g if abs(float(mixed.edge_weight[e]) - 0.6) < 1e-6 else int(index[g])
        uu, vv = u - int(ptr_new[g]) + int(ptr[src]), v - int(ptr_new[g]) + int(ptr[src])
        hit = ((b.edge_index[0] == uu) & (b.edge_index[1] == vv)).nonzero().flatten()
        assert hit.numel() == 1 and torch.equal(mixed.edge_attr[e], b.edge_attr[hit[0]])


def test_ifmixup_does_not_assume_edges_grouped_by_graph():
    b = graphs(weights=True)
    perm = torch.randperm(b.edge_index.shape[1], generator=torch.Generator().manual_seed(1))
    shuffled = b.clone()
    shuffled.edge_index, shuffled.edge_weight = b.edge_index[:, perm], b.edge_weight[perm]
    p = given([0.3, 0.8, 0.5, 0.9, 0.1], [4, 3, 2, 1, 0])
    ifmix = IfMixup(MixUp())
    a = per_graph(*(lambda m: (m, m.edge_weight))(ifmix(b, params=p)[0]))
    c = per_graph(*(lambda m: (m, m.edge_weight))(ifmix(shuffled, params=p)[0]))
    for (xa, aa), (xc, ac) in zip(a, c, strict=True):
        torch.testing.assert_close(xa, xc)
        torch.testing.assert_close(aa, ac)


def test_ifmixup_draws_one_plan_per_graph_and_a_gcn_trains_on_it():
    b = graphs(sizes=(4, 6, 3, 5, 2, 7, 3, 4))
    ifmix = IfMixup(MixUp(alpha=1.0, num_classes=3, seed=0))
    mixed, target = ifmix(b)
    assert ifmix.params.batch_size == 8 and target.batch_size == 8
    conv, pool = GCNConv(3, 4), MeanAggregation()
    out = pool(conv(mixed.x, mixed.edge_index, mixed.edge_weight), mixed.batch)
    assert out.shape == (8, 4)
    # own edges carry λ, partner edges 1-λ: the weights of each mixed graph sum to λ·|E_i| + (1-λ)·|E_j|
    lam, idx = ifmix.params.lam, ifmix.params.index
    edges = torch.bincount(b.batch[b.edge_index[0]], minlength=8).float()
    got = torch.zeros(8).index_add_(0, mixed.batch[mixed.edge_index[0]], mixed.edge_weight)
    torch.testing.assert_close(got, lam * edges + (1 - lam) * edges[idx])


def test_ifmixup_identity_in_eval_and_with_a_given_plan_in_eval():
    b = graphs()
    mixer = MixUp(alpha=1.0, num_classes=3, seed=0).eval()
    ifmix = IfMixup(mixer)
    assert ifmix(b)[0] is b
    mixed, target = ifmix(b, params=given([0.5] * 5, [1, 2, 3, 4, 0]))
    assert mixed is b and not target.mixed


def test_ifmixup_row_with_lam_one_keeps_its_graph():
    b = graphs()
    mixed, _ = IfMixup(MixUp())(b, params=given([1.0, 0.5, 0.5, 0.5, 0.5], [0, 2, 1, 4, 3]))
    torch.testing.assert_close(mixed.x[: int(b.ptr[1])], b.x[: int(b.ptr[1])], rtol=0, atol=0)


@pytest.mark.parametrize("make, match", [
    (lambda b: (Batch.from_data_list([Data(x=torch.ones(2, 1, dtype=torch.long), edge_index=torch.zeros(2, 0,
                dtype=torch.long), y=torch.tensor([0]))]), None), "int64 tensor.*cannot be interpolated"),
    (lambda b: (Data(x=b.x, edge_index=b.edge_index, y=b.y), None), "no `batch` vector|has none"),
    (lambda b: (b, given([0.5] * b.num_nodes, list(range(b.num_nodes)))),
     r"15 rows, but the batch has 5 graphs.*not per node"),
    (lambda b: (b, MixParams(lam=torch.full((5,), 0.5), index=torch.arange(5),
                             extra=Box(torch.zeros(5, 2, dtype=torch.long), (4,)))), "Box record"),
    (lambda b: ("x", None), "needs a torch_geometric Batch"),
])
def test_ifmixup_bad_input(make, match):
    data, params = make(graphs())
    with pytest.raises(MixupError, match=match):
        IfMixup(MixUp(num_classes=3))(data, params=params)


def test_ifmixup_refuses_node_targets():
    b = graphs()
    with pytest.raises(MixupError, match="one row per node"):
        IfMixup(MixUp())(b, torch.zeros(b.num_nodes, dtype=torch.long))


# ------------------------------------------------------------------ graph-level mixup at the readout


class GraphNet(nn.Module):
    def __init__(self, f=3, h=8, c=3):
        super().__init__()
        self.conv1, self.conv2 = GCNConv(f, h), GCNConv(h, h)
        self.pool = MeanAggregation()
        self.head = nn.Linear(h, c)

    def embed(self, data):
        h = self.conv1(data.x, data.edge_index).relu()
        return self.conv2(h, data.edge_index).relu()

    def forward(self, data):
        return self.head(self.pool(self.embed(data), data.batch))


def test_readout_mix_matches_the_reference_and_loss():
    torch.manual_seed(0)
    b, model = graphs(sizes=(3, 4, 2, 5, 3, 2)), GraphNet()
    p = given([0.8, 0.3, 0.5, 0.6, 0.9, 0.4], [3, 2, 5, 0, 1, 4])
    with attach(GraphMixer(MixUp(num_classes=3)), model, at="pool") as mix:
        mix.arm(b.y, params=p)
        out = model(b)
        loss = mix.loss(F.cross_entropy, out, b.y)
    pooled = torch.stack([model.embed(b)[b.batch == i].mean(0) for i in range(6)])  # mean per graph, by a loop
    lam = p.lam[:, None]
    ref = model.head(lam * pooled + (1 - lam) * pooled[p.index])
    torch.testing.assert_close(out, ref)
    y = b.y
    ref_loss = (p.lam * F.cross_entropy(ref, y, reduction="none")
                + (1 - p.lam) * F.cross_entropy(ref, y[p.index], reduction="none")).mean()
    torch.testing.assert_close(loss, ref_loss)
    assert mix.removed and torch.equal(model(b), model.head(pooled))


def test_readout_draws_per_graph():
    b, model = graphs(sizes=(3, 4, 2, 5)), GraphNet()
    with attach(GraphMixer(MixUp(alpha=1.0, num_classes=3, seed=0)), model, at=MeanAggregation) as mix:
        mix.arm(b.y)
        model(b)
        assert mix.params.batch_size == 4 and mix.params.site == "pool"
        mix.target(b.y)


@pytest.mark.parametrize("at", ["conv1", "conv2.aggr_module"])
def test_a_node_site_is_refused_with_a_graph_message(at):
    b, model = graphs(), GraphNet()
    with attach(GraphMixer(MixUp(alpha=1.0, seed=0)), model, at=at) as mix:
        mix.arm(b.y)
        with pytest.raises(HookSiteError, match=r"outputs 15 nodes.*one row per graph.*5 graphs.*aggr"):
            model(b)
        assert not mix.armed
        # a plan for graphs handed to a node site: the same refusal
        mix.arm(b.y, params=given([0.5] * 5, [1, 2, 3, 4, 0]))
        with pytest.raises(HookSiteError, match="outputs 15 nodes"):
            model(b)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_node_labels_at_the_readout_are_refused():
    b, model = graphs(), GraphNet()
    with attach(GraphMixer(MixUp(alpha=1.0, seed=0)), model, at="pool") as mix:
        mix.arm(torch.zeros(b.num_nodes, dtype=torch.long))
        with pytest.raises(HookSiteError, match="one per node"):
            model(b)


def test_without_labels_the_batch_gives_the_graph_count():
    b, model = graphs(), GraphNet()
    with attach(GraphMixer(MixUp(alpha=1.0, seed=0)), model, at="conv1") as mix:
        mix.arm()
        with pytest.raises(HookSiteError, match=r"outputs 15 nodes.*5 graphs"):
            model(b)
    with attach(GraphMixer(MixUp(alpha=1.0, num_classes=3, seed=0)), model, at="pool") as mix:
        mix.arm()
        model(b)
        assert mix.params.batch_size == 5 and mix.params.mixed
        mix.target(b.y)


def test_graph_mixer_refuses_the_input_site():
    with pytest.raises(HookSiteError, match="IfMixup"):
        attach(GraphMixer(MixUp()), GraphNet(), at=["input", "pool"])
    with pytest.raises(HookSiteError, match="name the readout"):
        attach(GraphMixer(MixUp()), GraphNet())


def test_list_sites_with_a_batch_and_graph_sites_name_the_rows():
    b, model = graphs(), GraphNet()
    sites = list_sites(model, b)
    shapes = {s.name: s.shape for s in sites}
    assert shapes["pool"] == (5, 8) and shapes["conv1"] == (15, 8)
    notes = graph_sites(model, b).notes
    assert notes["pool"] == "graph rows" and notes["head"] == "graph rows" and notes["conv1"] == "node rows"


# ------------------------------------------------------------------ node mixup among masked nodes


def test_node_plan_mixes_masked_rows_among_themselves():
    y = torch.arange(10) % 3
    mask = torch.tensor([1, 0, 1, 1, 0, 0, 1, 1, 0, 1], dtype=torch.bool)
    p = node_plan(MixUp(alpha=1.0, per_sample=True, seed=0), y, mask)
    rows = mask.nonzero().flatten()
    assert p.batch_size == 10
    assert torch.equal(p.index[~mask], torch.arange(10)[~mask]) and bool((p.lam[~mask] == 1).all())
    assert bool(torch.isin(p.index[mask], rows).all())
    assert p.index[mask].sort().values.tolist() == rows.tolist()  # a permutation of the masked rows
    assert len(set(p.lam[mask].tolist())) > 1  # per-row λ reached the masked rows
    same = node_plan(MixUp(alpha=1.0, pairing="same_class", seed=0), y, rows)  # index form of the mask
    assert torch.equal(y[same.index], y) and bool(torch.isin(same.index[mask], rows).all())


class NodeNet(nn.Module):
    def __init__(self, f=4, h=6, c=3):
        super().__init__()
        self.conv1, self.conv2 = GCNConv(f, h), GCNConv(h, c)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def test_node_mixup_at_a_hidden_layer_matches_the_reference():
    torch.manual_seed(0)
    n = 12
    x, y = torch.randn(n, 4), torch.arange(n) % 3
    ei = torch.tensor([[i, (i + 1) % n] for i in range(n)] + [[(i + 1) % n, i] for i in range(n)]).T
    mask = torch.zeros(n, dtype=torch.bool)
    mask[[0, 2, 3, 7, 9]] = True
    model, mixer = NodeNet(), MixUp(alpha=1.0, num_classes=3, seed=3)
    with attach(mixer, model, at="conv1") as mix:
        p = node_plan(mixer, y, mask)
        mix.arm(y, params=p)
        out = model(x, ei)
        loss = mix.loss(F.cross_entropy, out, y, reduction="none")[mask].mean()
    h = model.conv1(x, ei)
    lam = p.lam[:, None]
    mixed_h = lam * h + (1 - lam) * h[p.index]
    assert torch.equal(mixed_h[~mask], h[~mask])  # unmasked rows untouched, bit for bit
    ref = model.conv2(mixed_h.relu(), ei)
    torch.testing.assert_close(out, ref)
    ce = F.cross_entropy
    ref_loss = (p.lam * ce(ref, y, reduction="none") + (1 - p.lam) * ce(ref, y[p.index], reduction="none"))[mask].mean()
    torch.testing.assert_close(loss, ref_loss)


def test_node_plan_identity_when_not_training():
    model = NodeNet().eval()
    mixer = MixUp(alpha=1.0, seed=0).follow(model)
    p = node_plan(mixer, torch.arange(5), torch.ones(5, dtype=torch.bool))
    assert not p.mixed and p.batch_size == 5


@pytest.mark.parametrize("mask, match", [
    (torch.ones(5), "bool or .* integer indices"),
    (torch.ones(4, dtype=torch.bool), "4 entries but y has 5 nodes"),
    (torch.zeros(5, dtype=torch.bool), "selects no node"),
    (torch.tensor([0, 7]), r"in \[0, 5\)"),
])
def test_node_plan_bad_masks(mask, match):
    with pytest.raises(MixupError, match=match):
        node_plan(MixUp(), torch.arange(5), mask)


def test_a_graph_plan_handed_to_node_rows_is_refused():
    model, y = NodeNet(), torch.arange(6) % 3
    with attach(MixUp(), model, at="conv1") as mix, pytest.raises(MixupError, match="plan is for 2 rows"):
        mix.arm(y, params=given([0.5, 0.5], [1, 0]))


def test_ifmixup_needs_a_mixer():
    with pytest.raises(MixupError, match="IfMixup needs a mixer"):
        IfMixup(lambda x, y: (x, y))


def test_ifmixup_node_ids_do_not_depend_on_the_feature_dtype():
    # node offsets past 256 are not representable in bfloat16: the edges must not be placed in the features' dtype
    b = graphs(sizes=(33, 41, 29, 47) * 3, seed=3)
    low = b.clone()
    low.x = b.x.bfloat16()
    p = MixParams(lam=torch.full((12,), 0.5), index=torch.roll(torch.arange(12), 1))
    mixed, ref = IfMixup(MixUp())(low, params=p)[0], IfMixup(MixUp())(b, params=p)[0]
    assert torch.equal(mixed.edge_index, ref.edge_index) and torch.equal(mixed.batch, ref.batch)
    assert bool((mixed.batch[mixed.edge_index[0]] == mixed.batch[mixed.edge_index[1]]).all())
    torch.testing.assert_close(mixed.x.float(), ref.x, rtol=1e-2, atol=1e-2)
