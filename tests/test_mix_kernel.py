"""The fast paths of ``mixup_any.functional.mix`` against the plain gathered reference.

``mix`` streams large CPU rows (one lerp per row, no gathered copy), runs small rows on flat
``(B, N)`` views, and falls back to the gathered kernel otherwise; every path must equal
``torch.lerp(x[index], x, lam)`` bit for bit, keep dtype and memory format, and leave ``x`` alone.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any.exceptions import MixupError
from mixup_any.functional import _ROW_STREAM_BYTES, mix

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
# (shape, channels_last): rows above and below the streaming threshold, 2-d to 5-d
SHAPES = [((6, 3, 64, 64), False), ((6, 3, 64, 64), True), ((7, 3, 8, 8), True), ((9, 40, 300), False),
          ((33, 17), False), ((4, 2, 3, 40, 40), False), ((1, 3, 70, 70), False)]


def reference(x: torch.Tensor, lam: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    w = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return torch.lerp(x[index], x, w)


def make(shape, channels_last, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    b = shape[0]
    lam = torch.rand(b, generator=g)
    lam[0] = 1.0
    return x, lam, torch.randperm(b, generator=g)


def test_threshold_splits_the_cases():
    big = 6 * 3 * 64 * 64 * 4 // 6
    assert big >= _ROW_STREAM_BYTES > 3 * 8 * 8 * 4


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape,cl", SHAPES)
def test_every_mode_equals_the_gathered_reference(shape, cl, dtype):
    x, lam, index = make(shape, cl, dtype)
    before = x.clone()
    ref = reference(x, lam, index)
    got = mix(x, lam, index)
    assert torch.equal(got, ref) and got.dtype == dtype and got.stride() == x.stride()
    assert torch.equal(x, before)  # the caller's tensor is untouched
    assert torch.equal(got[0], x[0])  # lam == 1 is exact
    out = torch.empty_like(x)
    assert mix(x, lam, index, out=out) is out and torch.equal(out, ref)
    xc = x.clone()
    assert mix(xc, lam, index, inplace=True) is xc and torch.equal(xc, ref)


@pytest.mark.parametrize("shape,cl", SHAPES)
def test_non_permutation_index(shape, cl):
    x, lam, _ = make(shape, cl, torch.float32)
    index = torch.randint(0, shape[0], (shape[0],), generator=torch.Generator().manual_seed(1))
    ref = reference(x, lam, index)
    assert torch.equal(mix(x, lam, index), ref)
    xc = x.clone()
    assert torch.equal(mix(xc, lam, index, inplace=True), ref)


def test_non_dense_layouts_fall_back():
    x = torch.randn(40, 8, 300).transpose(1, 2)  # neither contiguous nor channels_last
    lam, index = torch.rand(8 * 0 + 40), torch.randperm(40)
    got = mix(x, lam, index)
    assert torch.equal(got, reference(x, lam, index))
    out = torch.empty(40, 300, 8)  # contiguous out for a strided x: values still right
    assert torch.equal(mix(x, lam, index, out=out), reference(x, lam, index))


def test_autograd_flows_through_the_large_row_path():
    x = torch.randn(4, 3, 64, 64, dtype=torch.float64, requires_grad=True)
    lam, index = torch.tensor([0.3, 0.8, 1.0, 0.5], dtype=torch.float64), torch.tensor([1, 0, 3, 2])
    y = mix(x, lam, index)
    up = torch.randn_like(y)
    (got,) = torch.autograd.grad(y, x, up)
    (want,) = torch.autograd.grad(reference(x, lam, index), x, up)
    torch.testing.assert_close(got, want)
    small = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: mix(t, lam[:3], torch.tensor([2, 0, 1])), (small,))


def test_out_of_wrong_dtype_is_rejected():
    x, lam, index = make((6, 3, 64, 64), False, torch.float32)
    with pytest.raises(MixupError, match="out must have the shape and dtype of x"):
        mix(x, lam, index, out=torch.empty(6, 3, 64, 64, dtype=torch.float64))


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 9), n=st.sampled_from([5, 9000, 20000]), seed=st.integers(0, 10_000),
       per_batch=st.booleans())
def test_property_matches_reference(b, n, seed, per_batch):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, generator=g)
    lam = torch.rand(1 if per_batch else b, generator=g).expand(b).contiguous()
    index = torch.randint(0, b, (b,), generator=g) if seed % 2 else torch.randperm(b, generator=g)
    ref = reference(x, lam, index)
    assert torch.equal(mix(x, lam, index), ref)
    xc = x.clone()
    assert torch.equal(mix(xc, lam, index, inplace=True), ref)
