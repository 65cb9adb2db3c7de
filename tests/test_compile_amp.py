"""torch.compile and mixed precision.

Compile: a training step with input mixing, target mixing and the mixed loss compiles with ``fullgraph=True``
for functional criteria (backends "eager" and "aot_eager" in the suite; inductor once, marked slow: its first
compile takes ~30 s here) and gives the eager result; loss modules compile with a graph break. The plan is drawn
outside the compiled region (``mixer.sample``: ``torch.Generator`` calls, which dynamo does not trace). Hook mixing
compiles with ``fullgraph=True`` when the plan is pre-drawn (``handle.arm(params=mixer.sample(...))``); drawing
inside the forward costs one graph break and still gives the eager result.

Mixed precision: bf16 autocast on CPU and fp16/bf16 tensors keep their dtype through mixing, and the losses
stay finite.
"""

from __future__ import annotations

import functools
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_any import CutMix, MixParams, MixUp, mixed_loss
from mixup_any.functional import mix
from mixup_any.hooks import attach
from mixup_any.targets import mix_target

B, D, C = 6, 8, 3


def soft_ce(out, target):
    """Cross-entropy against the mixed soft targets (torch takes class probabilities)."""
    return F.cross_entropy(out, target.soft(num_classes=out.shape[-1], dtype=out.dtype))


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _model(out=C):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, out))


CRITERIA = {
    "F.cross_entropy": (F.cross_entropy, "index"),
    "partial(weight, sum)": (functools.partial(F.cross_entropy, weight=torch.tensor([1.0, 2.0, 0.5]), reduction="sum"),
                             "index"),
    "partial(none)": (functools.partial(F.cross_entropy, reduction="none"), "index"),
    "F.binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, "multilabel"),
    "F.mse_loss": (F.mse_loss, "regression"),
    "F.cross_entropy(out, target.soft())": (soft_ce, "soft"),
}
# loss modules: mixed_loss copies the module to set reduction="none", which dynamo does not trace (a graph break)
MODULE_CRITERIA = {
    "CrossEntropyLoss(weight, sum)": (nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]), reduction="sum"), "index"),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss(), "multilabel"),
    "MSELoss": (nn.MSELoss(), "regression"),
}


def _targets(kind):
    g = torch.Generator().manual_seed(1)
    if kind == "index":
        return torch.randint(0, C, (B,), generator=g)
    if kind == "multilabel":
        return torch.rand(B, C, generator=g) < 0.5
    if kind == "regression":
        return torch.randn(B, C, generator=g)
    return torch.softmax(torch.randn(B, C, generator=g), -1)


@pytest.mark.parametrize(("backend", "name", "fullgraph"), [("eager", "F.cross_entropy", True)]
                         + [("aot_eager", n, True) for n in CRITERIA] + [("aot_eager", n, False) for n in MODULE_CRITERIA])
def test_input_target_and_loss_mixing_compile(backend, name, fullgraph):
    criterion, kind = {**CRITERIA, **MODULE_CRITERIA}[name]
    model = _model()
    x, y = torch.randn(B, D), _targets(kind)

    def step(x, y, lam, index):
        p = MixParams(lam=lam, index=index)
        out = model(mix(x, lam, index))
        target = mix_target(y, p, kind=kind, num_classes=C)
        if criterion is soft_ce:
            return criterion(out, target)
        return mixed_loss(criterion, out, target)

    compiled = torch.compile(step, fullgraph=fullgraph, backend=backend)
    mixer = MixUp(alpha=1.0, per_sample=True, seed=0)
    for _ in range(2):  # a second plan reuses the graph (lam and index are inputs, not constants)
        p = mixer.sample(x.shape)
        got = compiled(x, y, p.lam, p.index)
        want = step(x, y, p.lam, p.index)
        torch.testing.assert_close(got, want)
        g_got = torch.autograd.grad(got.sum(), list(model.parameters()))
        g_want = torch.autograd.grad(want.sum(), list(model.parameters()))
        for a, b in zip(g_got, g_want, strict=True):
            torch.testing.assert_close(a, b)
    if isinstance(criterion, nn.Module):
        assert criterion.reduction in ("mean", "sum")  # the user's module is never changed


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_image_mixing_compiles_with_fullgraph_and_keeps_memory_format(layout):
    x = torch.randn(4, 3, 64, 64)
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
    p = MixUp(alpha=1.0, seed=0).sample(x.shape)
    f = torch.compile(lambda x, lam, index: mix(x, lam, index), fullgraph=True, backend="aot_eager")
    out = f(x, p.lam, p.index)
    lam = p.lam_rows().view(-1, 1, 1, 1)
    torch.testing.assert_close(out, lam * x + (1 - lam) * x[p.index])
    assert out.is_contiguous(memory_format=torch.channels_last) == (layout == "channels_last")


def test_mixer_outside_a_compiled_model_is_the_usual_loop():
    model = _model()
    compiled = torch.compile(model, backend="aot_eager")
    mixer = MixUp(alpha=1.0, num_classes=C, seed=0)
    x, y = torch.randn(B, D), _targets("index")
    xm, t = mixer(x, y)
    torch.testing.assert_close(mixed_loss(F.cross_entropy, compiled(xm), t), mixed_loss(F.cross_entropy, model(xm), t))


def _hidden_reference(model, x, params):
    return model[2](MixUp().mix(model[1](model[0](x)), params))


def test_hook_mixing_compiles_with_fullgraph_when_the_plan_is_pre_drawn():
    model = _model()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    mixer = MixUp(alpha=1.0, num_classes=C, seed=0)
    x, y = torch.randn(B, D), _targets("index")
    with attach(mixer, model, at="1") as handle:
        for _ in range(2):
            handle.arm(y, params=mixer.sample((B, 16), labels=y))
            out = compiled(x)
            target = handle.target(y)
            torch.testing.assert_close(out, _hidden_reference(model, x, handle.params))
            assert target.mixed and torch.equal(target.y_b, y[handle.params.index])
        torch.testing.assert_close(compiled(x), model(x))  # disarmed: not mixed
    assert not model._forward_hooks and not model[1]._forward_hooks


def test_hook_mixing_that_draws_inside_the_forward_compiles_and_matches_eager():
    model = _model()
    mixer = MixUp(alpha=1.0, num_classes=C, seed=0)
    x, y = torch.randn(B, D), _targets("index")
    with attach(mixer, model, at="1") as handle:
        compiled = torch.compile(model, backend="aot_eager")
        for _ in range(2):
            handle.arm(y)
            out = compiled(x)
            handle.target(y)
            torch.testing.assert_close(out, _hidden_reference(model, x, handle.params))
            assert handle.params.mixed


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("MIXUP_ANY_SLOW"), reason="inductor's first compile takes ~30 s on 2 cores "
                    "and needs a C++ compiler; the same graph is tested with aot_eager. Run with MIXUP_ANY_SLOW=1.")
def test_inductor_compiles_the_mixed_step():
    model = _model()

    def step(x, y, lam, index):
        p = MixParams(lam=lam, index=index)
        return mixed_loss(F.cross_entropy, model(mix(x, lam, index)), mix_target(y, p, num_classes=C))

    x, y = torch.randn(B, D), _targets("index")
    p = MixUp(seed=0).sample(x.shape)
    torch.testing.assert_close(torch.compile(step, fullgraph=True)(x, y, p.lam, p.index), step(x, y, p.lam, p.index))


# ------------------------------------------------------------------------------------------------ precision

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_tensors_keep_their_dtype_and_losses_stay_finite(dtype):
    model = _model().to(dtype)
    x, y = torch.randn(B, D, dtype=dtype), _targets("index")
    mixer = MixUp(alpha=1.0, per_sample=True, num_classes=C, seed=0)
    p = mixer.sample(x.shape, labels=y)
    xm, t = mixer(x, y, params=p)
    assert xm.dtype == dtype
    torch.testing.assert_close(xm, torch.lerp(x[p.index], x, p.lam.to(dtype).view(-1, 1)))
    assert t.soft(dtype=dtype).dtype == dtype
    out = model(xm)
    for loss in (mixed_loss(F.cross_entropy, out, t), soft_ce(out, t)):
        assert loss.dtype == dtype and torch.isfinite(loss)
    with attach(mixer, model, at="1") as handle:
        handle.arm(y)
        out = model(x)
        loss = mixed_loss(nn.CrossEntropyLoss(), out, handle.target(y))
    assert out.dtype == dtype and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad.dtype == dtype and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bf16_autocast_on_cpu_keeps_dtypes_and_losses_finite():
    model = _model()
    mixer = MixUp(alpha=1.0, num_classes=C, seed=0)
    x, y = torch.randn(B, D), _targets("index")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        xm, t = mixer(x, y)
        assert xm.dtype == torch.float32  # inputs are mixed before autocast touches them
        out = model(xm)
        assert out.dtype == torch.bfloat16
        loss = mixed_loss(F.cross_entropy, out, t)
        soft = soft_ce(out, t)
        with attach(mixer, model, at="1") as handle:
            handle.arm(y)
            hidden_out = model(x)
            hidden_loss = mixed_loss(nn.CrossEntropyLoss(), hidden_out, handle.target(y))
            mixed_at = handle.params
    assert hidden_out.dtype == torch.bfloat16
    for v in (loss, soft, hidden_loss):
        assert torch.isfinite(v)
    # the hidden activation was mixed in bf16 (lam cast to the activation's dtype), as autocast computed it
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = model[1](model[0](x))
        assert h.dtype == torch.bfloat16
        ref = model[2](MixUp().mix(h, mixed_at))
    torch.testing.assert_close(hidden_out, ref)
    (loss + hidden_loss).backward()
    assert all(p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("make", [lambda: MixUp(alpha=1.0, seed=0, num_classes=4),
                                  lambda: MixUp(alpha=1.0, per_sample=True, seed=0, num_classes=4),
                                  lambda: CutMix(alpha=1.0, seed=0, num_classes=4)], ids=["mixup", "per_sample", "cutmix"])
def test_a_compiled_step_does_not_recompile_as_lam_or_the_box_changes(make):
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    mixer, counter = make(), CompileCounter()
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,))

    def loss_of(x, y, p):
        xm, t = mixer(x, y, params=p)
        return mixed_loss(F.cross_entropy, xm.mean((2, 3)).repeat(1, 2)[:, :4], t)

    step = torch.compile(loss_of, backend=counter)

    plans = [mixer.sample(x.shape, labels=y) for _ in range(8)]
    assert len({str(p.lam) + str(p.extra) for p in plans}) == 8  # every batch brings a new λ (and box)
    for p in plans[:2]:  # the first change of a host number makes it a symbol: one recompile at most
        step(x, y, p)
    warm = counter.frame_count
    for p in plans[2:]:
        torch.testing.assert_close(step(x, y, p), loss_of(x, y, p))
    assert counter.frame_count == warm <= 2
