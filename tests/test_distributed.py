"""torch.distributed: per-rank seeding, and 2-process DDP runs (gloo, CPU) checked against a single-process reference.

The 2-process run trains a tiny MLP for a few steps in three modes (input mixing, hidden-layer mixing through
hooks, cross-rank pairing) and saves every step's parameters and plans; the reference replays the same thing
in one process, averaging the per-rank gradients as DDP does.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mixup_any import MixUp, MixupError, mixed_loss
from mixup_any.distributed import CrossRankMixer, get_rank, get_world_size, seed_for_rank, seed_mixer
from mixup_any.params import Box, MixParams

SEED, STEPS, B, D, C, WORLD = 123, 3, 5, 6, 3, 2   # B odd on purpose


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(-(2**70), 2**70), rank=st.integers(0, 4096))
def test_seed_for_rank_is_fixed_in_range_and_distinct_per_rank(seed, rank):
    s = seed_for_rank(seed, rank)
    assert s == seed_for_rank(seed, rank) and 0 <= s < 2**63
    assert s != seed_for_rank(seed, rank + 1)
    torch.Generator().manual_seed(s)  # a valid generator seed


def test_seed_mixer_same_seed_same_plans_ranks_differ_unless_asked():
    def plans(rank, same=False):
        m = seed_mixer(MixUp(alpha=1.0), SEED, rank=rank, same_on_all_ranks=same)
        return [m.sample((16, 2)) for _ in range(3)]

    a, a2, b = plans(0), plans(0), plans(1)
    assert all(torch.equal(p.index, q.index) and torch.equal(p.lam_rows(), q.lam_rows()) for p, q in zip(a, a2, strict=True))
    assert not all(torch.equal(p.index, q.index) for p, q in zip(a, b, strict=True))
    same = plans(1, same=True)
    assert all(torch.equal(p.index, q.index) for p, q in zip(plans(0, same=True), same, strict=True))
    assert get_rank() == 0 and get_world_size() == 1 and seed_for_rank(5) == seed_for_rank(5, 0)


def test_bad_arguments_raise_library_errors():
    with pytest.raises(MixupError, match="seed must be an int"):
        seed_for_rank(1.5, 0)
    with pytest.raises(MixupError, match="rank must be a non-negative int"):
        seed_for_rank(1, -1)
    with pytest.raises(MixupError, match="manual_seed"):
        seed_mixer(object(), 1)
    with pytest.raises(MixupError, match="pairing='permute' only"):
        CrossRankMixer(MixUp(pairing="same_class"))
    with pytest.raises(MixupError, match="needs a Mixer"):
        CrossRankMixer(nn.Linear(2, 2))


def test_cross_rank_mixer_without_process_group_is_the_plain_mixer():
    x, y = torch.randn(B, D), torch.arange(B) % C
    xa, ta = CrossRankMixer(MixUp(alpha=1.0, num_classes=C, seed=1))(x, y)
    xb, tb = MixUp(alpha=1.0, num_classes=C, seed=1)(x, y)
    assert torch.equal(xa, xb) and torch.equal(ta.y_b, tb.y_b) and torch.equal(ta.lam_rows(), tb.lam_rows())


# ------------------------------------------------------------------------------------------------ 2 processes

def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS, WORLD, B, D, generator=g)
    y = torch.randint(0, C, (STEPS, WORLD, B), generator=g)
    return x, y


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C))


def _snapshot(model):
    return [p.detach().clone() for p in model.parameters()]


def _worker(rank, init_file, out_dir):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from mixup_any.hooks import attach

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    x, y = _data()
    results = {}
    for mode in ("input", "hook", "cross"):
        model = _model()
        ddp = DDP(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
        mixer = seed_mixer(MixUp(alpha=1.0, num_classes=C), SEED)
        cross = CrossRankMixer(mixer)
        handle = attach(mixer, model, at="1") if mode == "hook" else None
        params, plans = [], []
        for s in range(STEPS):
            xb, yb = x[s, rank], y[s, rank]
            if mode == "hook":
                handle.arm(yb)
                out = ddp(xb)
                target = handle.target(yb)
                plans.append(handle.params)
            else:
                xm, target = (mixer if mode == "input" else cross)(xb, yb)
                out = ddp(xm)
                plans.append(cross.params if mode == "cross" else None)
            loss = mixed_loss(F.cross_entropy, out, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            params.append(_snapshot(model))
        if handle is not None:
            handle.remove()
        results[mode] = {"params": params,
                         "plans": [p.state_dict() if p is not None else None for p in plans],
                         "y_b": target.y_b}
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.barrier()
    dist.destroy_process_group()


def _reference_local(mode):
    """One process: each rank's shard mixed by that rank's mixer, per-rank gradients averaged."""
    from mixup_any.hooks import attach

    x, y = _data()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    mixers = [seed_mixer(MixUp(alpha=1.0, num_classes=C), SEED, rank=r) for r in range(WORLD)]
    out_params = []
    for s in range(STEPS):
        grads = []
        for r in range(WORLD):
            xb, yb = x[s, r], y[s, r]
            if mode == "hook":
                with attach(mixers[r], model, at="1") as h:
                    h.arm(yb)
                    out = model(xb)
                    target = h.target(yb)
            else:
                xm, target = mixers[r](xb, yb)
                out = model(xm)
            grads.append(torch.autograd.grad(mixed_loss(F.cross_entropy, out, target), list(model.parameters())))
        for p, *g in zip(model.parameters(), *grads, strict=True):
            p.grad = torch.stack(g).mean(0)
        opt.step()
        out_params.append(_snapshot(model))
    return out_params


def _reference_cross(plans):
    """One process: replay each rank's recorded cross-rank plan on the global batch (an independent kernel)."""
    x, y = _data()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    out_params = []
    for s in range(STEPS):
        xg, yg = x[s].reshape(WORLD * B, D), y[s].reshape(WORLD * B)
        grads = []
        for r in range(WORLD):
            plan = MixParams.from_state_dict(plans[r][s])
            lam, idx = plan.lam_rows(), plan.index
            xm = lam[:, None] * x[s, r] + (1 - lam[:, None]) * xg[idx]
            out = model(xm)
            loss = (lam * F.cross_entropy(out, y[s, r], reduction="none")
                    + (1 - lam) * F.cross_entropy(out, yg[idx], reduction="none")).mean()
            grads.append(torch.autograd.grad(loss, list(model.parameters())))
        for p, *g in zip(model.parameters(), *grads, strict=True):
            p.grad = torch.stack(g).mean(0)
        opt.step()
        out_params.append(_snapshot(model))
    return out_params


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    import torch.multiprocessing as mp

    d = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(d / "init"), str(d)), nprocs=WORLD, join=True)
    return [torch.load(d / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("mode", ["input", "hook"])
def test_ddp_local_mixing_equals_single_process_average_of_rank_gradients(ddp_results, mode):
    ref = _reference_local(mode)
    for r in range(WORLD):
        for s in range(STEPS):
            for got, want in zip(ddp_results[r][mode]["params"][s], ref[s], strict=True):
                torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_ddp_hook_plans_differ_between_ranks(ddp_results):
    p0 = [p["index"] for p in ddp_results[0]["hook"]["plans"]]
    p1 = [p["index"] for p in ddp_results[1]["hook"]["plans"]]
    assert not all(torch.equal(a, b) for a, b in zip(p0, p1, strict=True))


def test_ddp_cross_rank_pairing_draws_partners_from_other_ranks_and_matches_reference(ddp_results):
    plans = [[p for p in ddp_results[r]["cross"]["plans"]] for r in range(WORLD)]
    _, y = _data()
    for r in range(WORLD):
        idx = torch.stack([p["index"] for p in plans[r]])
        assert idx.min() >= 0 and idx.max() < WORLD * B
        assert all(p["index"].unique().numel() == B for p in plans[r])   # B distinct partners per step
        # over the steps, some partners live on the other rank (P(no cross-rank partner in 3 steps) ~ 1e-4)
        other = (idx // B) != r
        assert other.any()
        # the gathered targets are the partners' labels
        torch.testing.assert_close(ddp_results[r]["cross"]["y_b"], y[STEPS - 1].reshape(-1)[plans[r][-1]["index"]])
    ref = _reference_cross(plans)
    for r in range(WORLD):
        for s in range(STEPS):
            for got, want in zip(ddp_results[r]["cross"]["params"][s], ref[s], strict=True):
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------ fake world
# CrossRankMixer's stacking and padding, checked in one process: all_gather is replaced by a fake that
# returns the other rank's (padded) tensors, and the result is compared with the mixer's own kernel applied
# to the *global* batch (a different composition of the same plan).

class _FakeWorld:
    def __init__(self, rank, batches):
        self.rank, self.batches, self.calls = rank, batches, 0   # batches[r] = [x_r, y_r] in gather order

    def get_world_size(self, group=None):
        return len(self.batches)

    def get_rank(self, group=None):
        return self.rank

    def all_gather(self, out, t, group=None):
        if t.dtype == torch.int64 and t.shape == (1,) and self.calls == 0:
            for r, o in enumerate(out):
                o.copy_(torch.tensor([self.batches[r][0].shape[0]]))
        else:
            k = self.calls - 1
            for r, o in enumerate(out):
                src = self.batches[r][k]
                o.zero_()
                o[: src.shape[0]] = src
        self.calls += 1


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
@pytest.mark.parametrize("sizes", [(4, 4), (3, 5)])
def test_cross_rank_mixer_equals_the_kernel_on_the_global_batch(monkeypatch, kind, sizes):
    import mixup_any.distributed as dmod
    from mixup_any import MixParams
    from mixup_any.mixers import CutMix

    g = torch.Generator().manual_seed(0)
    batches = [[torch.randn(b, 2, 6, 6, generator=g), torch.randint(0, C, (b,), generator=g)] for b in sizes]
    xg, yg = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    for rank in range(2):
        world = _FakeWorld(rank, batches)
        monkeypatch.setattr(dmod, "_dist", lambda world=world: world)
        make = (lambda rank=rank: MixUp(alpha=1.0, num_classes=C, seed=rank)) if kind == "mixup" else (
            lambda rank=rank: CutMix(alpha=1.0, num_classes=C, seed=rank))
        cross = CrossRankMixer(make())
        x, y = batches[rank]
        xm, t = cross(x, y)
        p = cross.params
        assert p.index.unique().numel() == x.shape[0] and int(p.index.max()) < sum(sizes)
        torch.testing.assert_close(t.y_b, yg[p.index])
        # the same plan on the global batch: other rank's rows paired with themselves (lam = 1)
        start = sum(sizes[:rank])
        n = sum(sizes)
        lam = torch.ones(n)
        lam[start:start + x.shape[0]] = p.lam_rows()
        index = torch.arange(n)
        index[start:start + x.shape[0]] = p.index
        extra = None
        if isinstance(p.extra, Box):
            rows = p.extra.rows(x.shape[0])
            box = torch.zeros(n, rows.shape[1], dtype=rows.dtype)
            box[start:start + x.shape[0]] = rows
            extra = Box(box, p.extra.size)
        ref = make().mix(xg, MixParams(lam=lam, index=index, extra=extra))[start:start + x.shape[0]]
        torch.testing.assert_close(xm, ref)
        if kind == "mixup":
            w = p.lam_rows().view(-1, 1, 1, 1)
            torch.testing.assert_close(xm, w * x + (1 - w) * xg[p.index])
        assert world.calls == 3  # sizes, x, y: one gather per mixed tensor plus the sizes
