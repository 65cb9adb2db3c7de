"""Exact resume: stop after k steps, save model + optimizer + mixer state_dicts, rebuild everything, load, go on.

The resumed run must equal the uninterrupted one bit for bit on CPU: same mixing plans (λ, partners, hook
site), same schedule (α warm-up, off after an epoch), same parameters.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_any import MixSchedule, MixUp, mixed_loss
from mixup_any.hooks import attach

STEPS_PER_EPOCH, EPOCHS, B = 3, 4, 6
TOTAL = STEPS_PER_EPOCH * EPOCHS


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(STEPS_PER_EPOCH * B, 5, generator=g), torch.randint(0, 3, (STEPS_PER_EPOCH * B,), generator=g)


def _batch(step):
    """Batches come from a per-epoch permutation seeded by the epoch, so the data order is resumable by step."""
    x, y = _data()
    epoch, i = divmod(step, STEPS_PER_EPOCH)
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(1000 + epoch))
    rows = order[i * B:(i + 1) * B]
    return x[rows], y[rows]


def _build(seed, mode):
    torch.manual_seed(seed)  # a different init on purpose: loading the state must override it
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    schedule = MixSchedule(off_after_epoch=3, warmup_steps=4)
    mixer = MixUp(alpha=0.8, per_sample=True, p=0.8, num_classes=3, schedule=schedule, seed=seed)
    handle = attach(mixer, model, at=["input", "1", "3"]) if mode == "hook" else None
    return model, opt, mixer, handle


def _run(model, opt, mixer, handle, start, stop, log):
    for step in range(start, stop):
        if step % STEPS_PER_EPOCH == 0:
            mixer.set_epoch(step // STEPS_PER_EPOCH)
        x, y = _batch(step)
        if handle is None:
            xm, target = mixer(x, y)
            out = model(xm)
            log.append((target.lam_rows(), target.y_b.clone(), None))
        else:
            handle.arm(y)
            out = model(x)
            target = handle.target(y)
            log.append((target.lam_rows(), target.y_b.clone(), handle.params.site))
        loss = mixed_loss(F.cross_entropy, out, target)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


@pytest.mark.parametrize("mode", ["input", "hook"])
@pytest.mark.parametrize("k", [1, 4, 8])
def test_resumed_run_equals_uninterrupted_run_bit_for_bit(mode, k):
    model, opt, mixer, handle = _build(0, mode)
    full_log: list = []
    _run(model, opt, mixer, handle, 0, TOTAL, full_log)
    reference = [p.detach().clone() for p in model.parameters()]

    model, opt, mixer, handle = _build(0, mode)
    log: list = []
    _run(model, opt, mixer, handle, 0, k, log)
    state = _roundtrip({"model": model.state_dict(), "opt": opt.state_dict(), "mixer": mixer.state_dict(), "step": k})
    if handle is not None:
        handle.remove()

    model, opt, mixer, handle = _build(99, mode)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    mixer.load_state_dict(state["mixer"])
    _run(model, opt, mixer, handle, state["step"], TOTAL, log)

    assert len(log) == len(full_log) == TOTAL
    for (la, ya, sa), (lb, yb, sb) in zip(full_log, log, strict=True):
        assert torch.equal(la, lb) and torch.equal(ya, yb) and sa == sb
    for got, want in zip(model.parameters(), reference, strict=True):
        assert torch.equal(got, want)
    # the schedule really turned mixing off in the last epoch, and it was on before
    assert all(bool((lam == 1).all()) for lam, _, _ in full_log[3 * STEPS_PER_EPOCH:])
    assert not all(bool((lam == 1).all()) for lam, _, _ in full_log[:3 * STEPS_PER_EPOCH])


def test_without_the_mixer_state_the_resumed_run_differs():
    """The check above can fail: dropping the mixer's state changes the plans."""
    model, opt, mixer, handle = _build(0, "input")
    full_log: list = []
    _run(model, opt, mixer, handle, 0, 6, full_log)
    model, opt, mixer, handle = _build(0, "input")
    log: list = []
    _run(model, opt, mixer, handle, 0, 3, log)
    fresh = _build(0, "input")[2]  # same seed, but its generator and schedule restart
    fresh.set_epoch(1)
    _run(model, opt, fresh, None, 3, 6, log)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(full_log[3:], log[3:], strict=True))
