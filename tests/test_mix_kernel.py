"""``mixup_any.functional.mix`` in its three forms (new tensor, ``out=``, ``inplace=True``).

Each form must equal the formula ``lam * x + (1 - lam) * x[index]`` (written independently here), agree with
the others bit for bit, keep dtype and memory format, and leave ``x`` alone unless asked.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any import MixUp, functional
from mixup_any.exceptions import MixupError
from mixup_any.functional import lerp_rows, mix
from mixup_any.params import MixParams

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
SHAPES = [((6, 3, 64, 64), False), ((6, 3, 64, 64), True), ((7, 3, 8, 8), True), ((9, 40, 300), False),
          ((33, 17), False), ((4, 2, 3, 40, 40), False), ((1, 3, 70, 70), False)]
TOL = {torch.float32: 1e-6, torch.float64: 1e-12, torch.bfloat16: 2e-2, torch.float16: 2e-3}


def formula(x: torch.Tensor, lam: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    xs = x.double()
    w = lam.double().view(-1, *([1] * (x.ndim - 1)))
    partner = torch.stack([xs[j] for j in index.tolist()])  # a loop over rows: the reference only
    return w * xs + (1 - w) * partner


def make(shape, channels_last, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    b = shape[0]
    lam = torch.rand(b, generator=g)
    lam[0] = 1.0
    return x, lam, torch.randperm(b, generator=g)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("shape", "channels_last"), SHAPES, ids=str)
def test_every_form_equals_the_formula_and_each_other(shape, channels_last, dtype):
    x, lam, index = make(shape, channels_last, dtype)
    before = x.clone()
    new = mix(x, lam, index)
    torch.testing.assert_close(new.double(), formula(x, lam, index), rtol=TOL[dtype], atol=TOL[dtype])
    assert torch.equal(x, before)  # not mutated
    assert new.dtype == dtype and new.stride() == x.stride()  # dtype and memory format kept
    out = torch.empty_like(x)
    assert mix(x, lam, index, out=out) is out and torch.equal(out, new)
    assert mix(x, lam, index, inplace=True) is x and torch.equal(x, new)
    assert torch.equal(new[0], before[0])  # lam = 1: the row is unchanged, bit for bit


@pytest.mark.parametrize("form", ["new", "out", "inplace", "grad"])
def test_rows_with_lam_one_stay_exact_next_to_inf_and_nan(form):
    x = torch.tensor([[float("inf"), 5.0], [1.0, float("nan")], [float("-inf"), 2.0], [3.0, 4.0]])
    lam = torch.tensor([1.0, 1.0, 0.5, 1.0], requires_grad=form == "grad")
    index = torch.tensor([1, 0, 3, 2])  # the kept rows are paired with rows holding inf or NaN
    before = x.clone()
    if form == "new" or form == "grad":
        new = mix(x, lam, index)
    elif form == "out":
        new = mix(x, lam, index, out=torch.empty_like(x))
    else:
        new = mix(x.clone(), lam, index, inplace=True)
    for i in (0, 1, 3):
        assert torch.equal(new[i].nan_to_num(7.0), before[i].nan_to_num(7.0))  # inf, 5, NaN... kept as they were
    assert new[2, 1] == 3.0  # mixed rows are mixed


def test_autograd_matches_the_formula():
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    lam, index = torch.tensor([0.3, 0.8, 1.0, 0.5], dtype=torch.float64), torch.tensor([1, 0, 3, 2])
    assert torch.autograd.gradcheck(lambda t: mix(t, lam, index), (x,))


def test_out_of_wrong_dtype_is_rejected():
    x, lam, index = make((6, 3, 8, 8), False, torch.float32)
    with pytest.raises(MixupError, match="out must have the shape, dtype and device of x"):
        mix(x, lam, index, out=torch.empty(6, 3, 8, 8, dtype=torch.float64))


def test_plan_on_another_device_is_rejected():
    x, lam, index = make((6, 3, 8, 8), False, torch.float32)
    with pytest.raises(MixupError, match="plan is on meta but x is on cpu"):
        mix(x, lam.to("meta"), index.to("meta"))


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 9), n=st.sampled_from([5, 300]), seed=st.integers(0, 10_000), per_batch=st.booleans())
def test_property_matches_formula_for_any_partner_index(b, n, seed, per_batch):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, generator=g, dtype=torch.float64)
    lam = torch.rand(1 if per_batch else b, generator=g, dtype=torch.float64).expand(b).contiguous()
    index = torch.randint(0, b, (b,), generator=g) if seed % 2 else torch.randperm(b, generator=g)
    ref = formula(x, lam, index)
    torch.testing.assert_close(mix(x, lam, index), ref)
    torch.testing.assert_close(mix(x.clone(), lam, index, inplace=True), ref)  # not a permutation: still right


@pytest.fixture
def permuted_kernel_always(monkeypatch):
    """The permutation kernel for every size (it runs from ``PERMUTED_MIN_NUMEL`` elements on)."""
    monkeypatch.setattr(functional, "PERMUTED_MIN_NUMEL", 0)


def test_the_permutation_kernel_runs_only_from_its_size_on():
    index = torch.randperm(256, generator=torch.Generator().manual_seed(0))
    for cols, kernel in ((8, False), (functional.PERMUTED_MIN_NUMEL // 256, True)):
        x = torch.randn(256, cols, requires_grad=True)
        out = lerp_rows(x, 0.3, index, permutation=True)
        assert ("Permuted" in type(out.grad_fn).__name__) == kernel


@pytest.mark.parametrize("pairing", ["permute", "flip", "roll", "same_class"])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.usefixtures("permuted_kernel_always")
def test_gradient_of_a_drawn_plan_equals_autograd_through_index_select(pairing, channels_last):
    # "permute" and "flip" draw permutations, differentiated by the inverse permutation; others by autograd
    mixer = MixUp(alpha=1.0, pairing=pairing, seed=0)
    x = torch.randn(7, 3, 4, 5, dtype=torch.float64)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = x.contiguous(memory_format=layout).requires_grad_()
    p = mixer.sample(x.shape, labels=torch.tensor([0, 1, 0, 1, 1, 0, 2]))
    assert isinstance(p.lam, float) and (p.permutation is p.index) == (pairing in ("permute", "flip"))
    g = torch.randn(x.shape, dtype=torch.float64)
    got = torch.autograd.grad(mixer.mix(x, p), x, g)[0]
    ref = torch.autograd.grad(torch.lerp(x.index_select(0, p.index), x, p.lam), x, g)[0]
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    mixer.mix(x, p).sum().backward()  # an expanded gradient: a permutation gives each row w + (1 - w) = 1
    if pairing in ("permute", "flip", "roll"):
        torch.testing.assert_close(x.grad, torch.ones_like(x))


@pytest.mark.usefixtures("permuted_kernel_always")
def test_a_plan_whose_index_is_replaced_is_differentiated_as_any_index():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    p = MixUp(alpha=1.0, seed=0).sample(x.shape)
    q = dataclasses.replace(p, index=torch.tensor([1, 1, 0, 4, 4]))  # rows 1 and 4 are partners twice
    g = torch.randn(5, 3, dtype=torch.float64)
    got = torch.autograd.grad(MixUp().mix(x, q), x, g)[0]
    ref = torch.autograd.grad(torch.lerp(x.index_select(0, q.index), x, q.lam), x, g)[0]
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("permuted_kernel_always")
def test_the_permutation_kernel_passes_gradcheck_and_gradgradcheck():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    index = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    out = lerp_rows(x, 0.3, index, permutation=True)
    assert "Permuted" in type(out.grad_fn).__name__  # the kernel under test, not autograd's index_select
    assert torch.autograd.gradcheck(lambda t: lerp_rows(t, 0.3, index, permutation=True), (x,))
    assert torch.autograd.gradgradcheck(lambda t: lerp_rows(t, 0.3, index, permutation=True), (x,))


@pytest.mark.usefixtures("permuted_kernel_always")
def test_torch_func_and_forward_mode_ad_see_the_same_mix():
    # the permutation kernel has a jvp and a generated vmap rule
    x, t = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    index = torch.randperm(6, generator=torch.Generator().manual_seed(0))

    def f(v):
        return lerp_rows(v, 0.3, index, permutation=True)

    def ref(v):
        return torch.lerp(v.index_select(0, index), v, 0.3)

    torch.testing.assert_close(torch.func.grad(lambda v: f(v).square().sum())(x),
                               torch.func.grad(lambda v: ref(v).square().sum())(x))
    torch.testing.assert_close(torch.func.jvp(f, (x,), (t,)), torch.func.jvp(ref, (x,), (t,)))
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x.clone().requires_grad_(), t)
        tangent = torch.autograd.forward_ad.unpack_dual(f(dual)).tangent
    torch.testing.assert_close(tangent, torch.lerp(t.index_select(0, index), t, 0.3))


def test_the_permutation_record_is_not_saved_and_moves_with_the_plan():
    p = MixUp(alpha=1.0, seed=0).sample((4, 3))
    assert p.permutation is p.index and "permutation" not in p.state_dict()
    moved = p.to("meta")
    assert moved.permutation is moved.index
    assert dataclasses.replace(p, lam=0.5).permutation is None  # a changed plan claims nothing
    assert MixParams.from_state_dict(p.state_dict()).permutation is None
    with pytest.raises(TypeError):
        MixParams(lam=0.5, index=p.index, permutation=p.index)  # set by the mixer only


def test_a_hook_site_mixes_with_the_permutation_kernel(monkeypatch):
    # the handle labels the plan with its site (at_site): the permutation record must survive it
    from torch import nn

    from mixup_any import attach

    calls = []
    kernel = functional._PermutedLerp.apply
    monkeypatch.setattr(functional._PermutedLerp, "apply", lambda *a: calls.append(1) or kernel(*a))
    p = MixUp(alpha=1.0, seed=0).sample((4, 3))
    assert p.at_site("x").permutation is p.at_site("x").index
    model = nn.Sequential(nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 2))
    with attach(MixUp(alpha=1.0, seed=0), model, at="0") as mix:
        mix.arm(torch.zeros(256, dtype=torch.long))
        model(torch.randn(256, 8)).sum().backward()
    assert calls == [1] and mix.params.permutation is mix.params.index
