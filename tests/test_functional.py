"""The mix kernels against an independent reference, over shapes, dtypes and nested batches."""

from collections import namedtuple

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any import MixupError
from mixup_any.functional import batch_size_of, mix, mix_batch

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def reference(x, lam, index):
    # computed in float64, element by element in spirit: λ·x_i + (1-λ)·x_j
    x64 = x.double()
    out = torch.empty_like(x64)
    for i in range(x.shape[0]):
        out[i] = lam[i].double() * x64[i] + (1 - lam[i].double()) * x64[index[i]]
    return out


@settings(max_examples=60, deadline=None)
@given(
    b=st.integers(1, 9),
    trailing=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 10_000),
)
def test_mix_equals_reference(b, trailing, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, *trailing, generator=g).to(dtype)
    lam = torch.rand(b, generator=g)
    index = torch.randperm(b, generator=g)
    out = mix(x, lam, index)
    assert out.dtype == dtype and out.shape == x.shape
    tol = {torch.float16: 2e-2, torch.bfloat16: 6e-2}.get(dtype, 1e-5)
    # λ is rounded to x's dtype before mixing, as documented
    torch.testing.assert_close(out.double(), reference(x, lam.to(dtype).float(), index), atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lam_one_rows_are_bit_for_bit_unchanged(dtype):
    x = torch.randn(6, 3, 4).to(dtype)
    lam = torch.tensor([1.0, 0.3, 1.0, 0.0, 1.0, 0.5])
    index = torch.tensor([5, 4, 3, 2, 1, 0])
    out = mix(x, lam, index)
    keep = lam == 1
    assert torch.equal(out[keep], x[keep])
    # λ = 0 takes the partner exactly
    assert torch.equal(out[3], x[2])


def test_input_not_mutated_and_inplace_when_asked():
    x = torch.randn(4, 5)
    x0 = x.clone()
    lam, index = torch.tensor([0.5, 0.2, 0.9, 1.0]), torch.tensor([1, 2, 3, 0])
    out = mix(x, lam, index)
    assert torch.equal(x, x0)
    got = mix(x, lam, index, inplace=True)
    assert got.data_ptr() == x.data_ptr()
    torch.testing.assert_close(x, out)
    buf = torch.empty_like(x0)
    assert mix(x0, lam, index, out=buf).data_ptr() == buf.data_ptr()
    torch.testing.assert_close(buf, out)


def test_channels_last_kept_and_gradients_flow():
    x = torch.randn(4, 3, 5, 5).to(memory_format=torch.channels_last).requires_grad_()
    out = mix(x, torch.full((4,), 0.7), torch.tensor([1, 0, 3, 2]))
    assert out.is_contiguous(memory_format=torch.channels_last)
    out.sum().backward()
    # each row contributes 0.7 to itself and 0.3 to its partner: total gradient 1 per element
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_gradcheck_through_mix():
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor([0.2, 0.6, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: mix(t, lam, torch.tensor([2, 0, 1])), (x,))


def test_nested_batches_share_one_plan():
    Pair = namedtuple("Pair", "a b")
    lam, index = torch.tensor([0.25, 0.75]), torch.tensor([1, 0])
    batch = {"img": torch.randn(2, 3), "extra": [torch.randn(2), Pair(torch.randn(2, 1), torch.randn(2, 2))]}
    out = mix_batch(batch, lam, index)
    assert isinstance(out["extra"][1], Pair) and isinstance(out["extra"], list)
    torch.testing.assert_close(out["img"], mix(batch["img"], lam, index))
    torch.testing.assert_close(out["extra"][1].b, mix(batch["extra"][1].b, lam, index))


def test_errors_name_the_leaf():
    lam, index = torch.tensor([0.5, 0.5]), torch.tensor([1, 0])
    with pytest.raises(MixupError, match=r"batch\['ids'\] is a torch.int64 tensor.*never interpolated"):
        mix_batch({"x": torch.randn(2, 3), "ids": torch.ones(2, 3, dtype=torch.long)}, lam, index)
    with pytest.raises(MixupError, match=r"batch\[1\] is a str, not a tensor"):
        mix_batch((torch.randn(2), "meta"), lam, index)
    with pytest.raises(MixupError, match="needs a floating-point tensor, got torch.uint8"):
        mix(torch.zeros(2, 3, dtype=torch.uint8), lam, index)
    with pytest.raises(MixupError, match="has batch size 3"):
        mix(torch.randn(3, 2), lam, index)
    with pytest.raises(MixupError, match="must share its first"):
        batch_size_of({"a": torch.randn(2), "b": torch.randn(3)})
    with pytest.raises(MixupError, match="empty batch"):
        batch_size_of(torch.randn(0, 3))
    with pytest.raises(MixupError, match="out must have the shape, dtype and device"):
        mix(torch.randn(2, 3), lam, index, out=torch.empty(2, 3, dtype=torch.float64))


def test_partner_index_is_checked_again_after_an_in_place_change():
    from mixup_any.functional import check_partner_index

    index = torch.tensor([1, 0, 2])
    check_partner_index(index, 3)
    check_partner_index(index, 3)  # cached: the same tensor, unchanged
    with pytest.raises(MixupError, match="outside"):
        check_partner_index(index, 2)  # another batch size is checked again
    index[0] = 7
    with pytest.raises(MixupError, match="partner row 7"):
        check_partner_index(index, 3)  # an in-place change bumps the version: checked again
