"""CutMix: vectorized boxes and segments against a per-sample loop, lam = kept area, edge cases, errors."""

from __future__ import annotations

import itertools
import math
import pickle
import random
from collections import Counter
from dataclasses import replace

import pytest
import torch
from _mix_reference import bounds_rows, loop_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any import CutMix, MixParams, MixupError
from mixup_any.mixers.cutmix import box_mask, host_box
from mixup_any.params import Box

Y4 = torch.tensor([0, 1, 2, 3])
Y6 = torch.arange(6)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def box_area(box: torch.Tensor) -> torch.Tensor:
    area = torch.ones(box.shape[0], dtype=torch.float64)
    for d in range(box.shape[1] // 2):
        area = area * (box[:, 2 * d + 1] - box[:, 2 * d]).double()
    return area


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 7), h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 9999),
       per_sample=st.booleans(), channels_last=st.booleans(), p=st.sampled_from([1.0, 0.5]))
def test_images_match_per_sample_loop_and_lam_is_kept_area(b, h, w, seed, per_sample, channels_last, p):
    x = torch.randn(b, 3, h, w, generator=gen(seed))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    mixer = CutMix(alpha=1.0, per_sample=per_sample, p=p, per_sample_p=True)
    params = mixer.sample(x.shape, generator=gen(seed + 1))
    box = bounds_rows(params.extra, b)
    assert box.shape == (b, 4) and box.dtype == torch.int64
    assert bool((box[:, 0] <= box[:, 1]).all() & (box[:, 1] <= h).all() & (box[:, 3] <= w).all())
    lam = params.lam_rows().double()
    mixed = params.index != torch.arange(b)  # rows left out by p pair with themselves: any box is the identity
    torch.testing.assert_close(lam[mixed], (1 - box_area(box) / (h * w))[mixed], rtol=0, atol=1e-6)
    assert bool(((lam >= 0) & (lam <= 1)).all())
    before = x.clone()
    got = mixer.mix(x, params)
    assert torch.equal(got, loop_reference(x, params))
    assert torch.equal(x, before)
    assert got.stride() == x.stride()  # channels_last stays channels_last


@pytest.mark.parametrize("shape,axis,ref_axes", [((5, 2, 50), -1, (2,)), ((5, 40, 8), 1, (1,)), ((3, 64), 1, (1,))])
@pytest.mark.parametrize("per_sample", [False, True])
def test_sequence_segments(shape, axis, ref_axes, per_sample):
    x = torch.randn(*shape, generator=gen(3))
    mixer = CutMix(axis=axis, per_sample=per_sample)
    params = mixer.sample(x.shape, generator=gen(4))
    seg = bounds_rows(params.extra, shape[0])
    assert seg.shape == (shape[0], 2)
    length = shape[ref_axes[0]]
    torch.testing.assert_close(params.lam_rows().double(), 1 - (seg[:, 1] - seg[:, 0]).double() / length, rtol=0, atol=1e-6)
    assert torch.equal(mixer.mix(x, params), loop_reference(x, params, ref_axes))


def test_empty_box_and_self_pairing_are_the_identity():
    x = torch.randn(4, 3, 9, 9)
    p = CutMix().sample(x.shape, generator=gen())
    empty = replace(p, extra=Box(torch.zeros(4, 4, dtype=torch.long), (9, 9)))
    assert torch.equal(CutMix().mix(x, empty), x)
    assert torch.equal(CutMix().mix(x, replace(p, index=torch.arange(4))), x)


@pytest.mark.parametrize("per_sample", [False, True])
def test_unmixed_rows_stay_exact(per_sample):
    mixer = CutMix(p=0.5, per_sample_p=True, per_sample=per_sample)
    x = torch.randn(64, 1, 8, 8)
    x[::7] = float("inf")  # rows left out stay exact next to partners holding inf
    params = mixer.sample(x.shape, generator=gen(5))
    out = mixer.mix(x, params)
    keep = params.lam_rows() == 1
    assert 0 < int(keep.sum()) < 64
    if per_sample:  # a box per row: the rows left out get an empty one
        assert torch.equal(box_area(params.extra.bounds)[keep], torch.zeros(int(keep.sum()), dtype=torch.float64))
    else:  # one box for the batch: the rows left out pair with themselves
        assert torch.equal(params.index[keep], torch.arange(64)[keep])
    assert torch.equal(out[keep], x[keep])


def test_per_batch_plan_holds_one_host_box_and_its_area_as_lam():
    params = CutMix(seed=6).sample((16, 3, 20, 20))
    y0, y1, x0, x1 = params.extra.bounds
    assert all(isinstance(v, int) for v in params.extra.bounds) and not params.extra.per_row
    assert 0 <= y0 <= y1 <= 20 and 0 <= x0 <= x1 <= 20
    assert isinstance(params.lam, float) and params.lam == 1 - (y1 - y0) * (x1 - x0) / 400


def test_per_sample_boxes_differ():
    params = CutMix(per_sample=True).sample((16, 3, 20, 20), generator=gen(7))
    assert len({tuple(r) for r in params.extra.bounds.tolist()}) > 8


@pytest.mark.parametrize("lo,hi", [(0.2, 0.3), (0.0, 0.1), (0.5, 0.5)])
def test_min_max_area(lo, hi):
    h = w = 40
    params = CutMix(min_area=lo, max_area=hi, per_sample=True).sample((400, 1, h, w), generator=gen(8))
    box = params.extra.bounds
    cut = 1 - params.lam.double()
    assert bool((cut <= hi + 1e-9).all())
    inside = (box[:, 0] > 0) & (box[:, 1] < h) & (box[:, 2] > 0) & (box[:, 3] < w)  # not clipped
    side = int(lo**0.5 * h)
    assert bool(((box[inside, 1] - box[inside, 0]) >= side).all())


def test_mean_kept_area_follows_beta():
    lam = CutMix(alpha=1.0, per_sample=True).sample((4000, 1, 64, 64), generator=gen(9)).lam
    # uniform cut fraction, reduced a little by clipping at the border: mean lam a bit above 1/2
    assert 0.5 < float(lam.mean()) < 0.7


def test_box_mask_and_a_full_cut():
    m = box_mask(torch.tensor([[1, 3, 0, 2]]), (1, 1, 4, 4), (2, 3))
    assert m.shape == (1, 1, 4, 4) and int(m.sum()) == 4
    full = CutMix(lam=0.0, per_sample=True, seed=0).sample((3, 1, 6, 6)).extra.bounds
    assert bool((box_area(full) > 0).all())


@pytest.mark.parametrize("shape,axes", [((3, 2, 5, 7), (2, 3)), ((3, 2, 5, 7), (3, 2)), ((3, 5, 7), (1, 2)),
                                        ((3, 9, 2), (1,))])
def test_box_mask_matches_slicing(shape, axes):
    g = gen(14)
    ends = [torch.randint(0, shape[a] + 1, (shape[0], 2), generator=g).sort(1).values for a in axes]
    box = torch.stack(ends, 1).view(shape[0], -1)
    want = torch.zeros(shape, dtype=torch.bool)
    for i in range(shape[0]):
        sl = [slice(None)] * (len(shape) - 1)
        for d, a in enumerate(axes):
            sl[a - 1] = slice(int(box[i, 2 * d]), int(box[i, 2 * d + 1]))
        want[i][tuple(sl)] = True
    assert torch.equal(box_mask(box, shape, axes).expand(shape), want)


def _box_law(cut, sizes):
    """Exact law of one box: sides int(n * cut**(1/k)) around centres uniform on range(n), clipped."""
    axes = []
    for n in sizes:
        length = int(cut ** (1 / len(sizes)) * n)
        starts = [c - length // 2 for c in range(n)]
        ends = Counter((min(max(s, 0), n), min(max(s + length, 0), n)) for s in starts)
        axes.append([(e, k / n) for e, k in ends.items()])
    combos = itertools.product(*axes)
    return {sum((e for e, _ in combo), ()): math.prod(q for _, q in combo) for combo in combos}


@pytest.mark.parametrize("cut,sizes", [(0.3, (7, 7)), (0.5, (12, 12)), (0.3, (5, 9)), (0.3, (11,)),
                                       (0.8, (6, 4))])
def test_boxes_follow_the_cutmix_law(cut, sizes):
    """Per-row boxes (on the device) and the per-batch box (on the host) against the exact law of the draw."""
    n, law = 20000, _box_law(cut, sizes)
    shape = (n, 1, *sizes)
    mixer = CutMix(lam=1 - cut, per_sample=True, axis=(-2, -1) if len(sizes) == 2 else -1)
    rows = mixer.sample(shape, generator=gen(15)).extra.bounds.tolist()
    rng = random.Random(16)
    for drawn in (Counter(map(tuple, rows)), Counter(host_box(rng, cut, sizes)[0] for _ in range(n))):
        assert set(drawn) <= set(law)
        for box, q in law.items():
            assert abs(drawn[box] - n * q) <= 5 * math.sqrt(n * q * (1 - q)) + 1, (box, drawn[box], n * q)


def test_per_row_lam_is_float32_whatever_the_default_dtype():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        p = CutMix(per_sample=True, seed=0).sample((4, 1, 8, 8))
    finally:
        torch.set_default_dtype(before)
    assert p.lam.dtype == torch.float32 and p.extra.bounds.dtype == torch.int64


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64], ids=str)
def test_dtype_kept(dtype):
    x = torch.randn(4, 3, 8, 8).to(dtype)
    assert CutMix(seed=0)(x, Y4)[0].dtype == dtype


def test_same_seed_same_output_and_pickle():
    x = torch.randn(6, 3, 16, 16)
    m = CutMix(per_sample=True, seed=11)
    a = CutMix(per_sample=True, seed=11)(x, Y6)[0]
    b = pickle.loads(pickle.dumps(m))(x, Y6)[0]
    assert torch.equal(a, b)


def test_gradients_flow():
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    m = CutMix(seed=1)
    p = m.sample(x.shape)
    out = m.mix(x, p)
    out.sum().backward()
    # every input element is copied exactly once per row that reads it: gradient counts the readers
    assert x.grad is not None and float(x.grad.sum()) == pytest.approx(out.numel())


def test_nested_batch_uses_one_box():
    x = {"img": torch.randn(4, 3, 8, 8), "aux": torch.randn(4, 1, 8, 8)}
    m = CutMix(seed=2)
    p = m.sample(x["img"].shape)
    out = m.mix(x, p)
    assert torch.equal(out["aux"], loop_reference(x["aux"], p)) and torch.equal(out["img"], loop_reference(x["img"], p))


def test_errors():
    with pytest.raises(MixupError, match="axis 3 does not exist"):
        CutMix(axis=3)(torch.randn(4, 2, 10), Y4)
    with pytest.raises(MixupError, match="needs float inputs"):
        CutMix()(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), Y4)
    with pytest.raises(MixupError, match="smaller than the minimum box"):
        CutMix(min_area=0.1)(torch.randn(4, 3, 2, 2), Y4)
    with pytest.raises(MixupError, match="min_area .* must not exceed max_area"):
        CutMix(min_area=0.5, max_area=0.2)
    with pytest.raises(MixupError, match="fraction of the area"):
        CutMix(max_area=2.0)
    with pytest.raises(MixupError, match="int .* or a pair of ints"):
        CutMix(axis=(1, 2, 3))
    with pytest.raises(MixupError, match="CutMix replays plans with Box, but this plan carries no record"):
        CutMix().mix(torch.randn(2, 1, 4, 4), MixParams(lam=torch.tensor([0.5, 0.5]), index=torch.tensor([1, 0])))


def test_eval_and_p_zero_are_exact():
    x = torch.randn(4, 3, 8, 8)
    assert CutMix().eval()(x, Y4)[0] is x
    assert CutMix(p=0.0)(x, Y4)[0] is x


@pytest.mark.parametrize("dtype,bits", [(torch.float32, torch.int32), (torch.bfloat16, torch.int16),
                                        (torch.float64, torch.int64)], ids=str)
def test_selection_is_bit_exact_for_non_finite_values(dtype, bits):
    x = torch.randn(8, 2, 6, 6, generator=gen(12)).to(dtype)
    x[0, 0, 0, 0], x[1, 1, 2, 3], x[2, 0, 5, 5], x[3, 1, 1, 1] = float("inf"), float("nan"), -0.0, float("-inf")
    m = CutMix(per_sample=True)
    p = m.sample(x.shape, generator=gen(13))
    assert torch.equal(m.mix(x, p).view(bits), loop_reference(x, p).view(bits))


def test_a_cut_axis_of_length_zero_is_rejected():
    with pytest.raises(MixupError, match=r"has length 0 there"):
        CutMix(seed=0)(torch.ones(4, 3, 0, 5), torch.tensor([0, 1, 0, 1]))


@pytest.mark.parametrize("drawn, given, axis, msg", [
    ((4, 1, 16, 16), (4, 1, 8, 8), (-2, -1), "drawn for 16x16 but the tensor is 8x8"),
    ((4, 1, 16, 16), (4, 1, 16, 8), (-2, -1), "drawn for 16x16 but the tensor is 16x8"),
    ((4, 3, 20), (4, 3, 10), -1, "drawn for 20 but the tensor is 10"),
])
def test_a_box_replayed_on_another_size_is_refused(drawn, given, axis, msg):
    mixer = CutMix(axis=axis, seed=0)
    p = mixer.sample(drawn)
    assert p.extra.size == tuple(drawn[a] for a in mixer.axes_for(drawn))
    with pytest.raises(MixupError, match=msg):
        mixer.mix(torch.rand(given), p)
    with pytest.raises(MixupError, match=r"CutMix \(x\['b'\]\): this box was drawn for"):  # every leaf is checked
        mixer.mix({"a": torch.rand(drawn), "b": torch.rand(given)}, p)
    assert mixer.mix(torch.rand(drawn), p).shape == drawn  # the shape it was drawn for is applied


def test_construction_refuses_the_batch_axis_repeated_axes_and_non_bool_flags():
    for axis in (0, (0, 1), (1, 1), (-1, -1)):
        with pytest.raises(MixupError, match="distinct non-batch dims"):
            CutMix(axis=axis)
    for flag in ("fold", "per_sample", "per_sample_p"):
        with pytest.raises(MixupError, match=f"{flag} must be True or False, got 'no'"):
            CutMix(**{flag: "no"})
    with pytest.raises(MixupError, match="per_sample must be True or False, got 1"):
        CutMix(per_sample=1)


def test_a_partner_index_out_of_range_is_a_mixup_error():
    p = CutMix(seed=0).sample((4, 1, 8, 8))
    bad = replace(p, index=torch.tensor([0, 1, 2, 4]))
    with pytest.raises(MixupError, match=r"index holds a partner outside \[0, 4\)"):
        CutMix().mix(torch.rand(4, 1, 8, 8), bad)


@pytest.mark.parametrize(("kwargs", "shape"), [({"lam": 0.0, "axis": -1}, (64, 3, 7)), ({"min_area": 1.0}, (64, 3, 3, 7)),
                                               ({"lam": 1.0}, (64, 3, 5, 5))])
def test_per_row_lam_is_the_kept_area_exactly(kwargs, shape):
    # never below 0: a box that covers everything keeps exactly 0, an empty one exactly 1
    p = CutMix(per_sample=True, seed=0, **kwargs).sample(shape)
    sizes = shape[2:] if kwargs.get("axis") is None else shape[-1:]
    ext = p.extra.bounds.view(64, len(sizes), 2).diff(dim=2).prod(1).view(64).double()
    ref = 1.0 - ext / math.prod(sizes)
    assert (p.lam >= 0).all() and torch.allclose(p.lam.double(), ref, rtol=1e-7, atol=0)
    full = ext == math.prod(sizes)
    assert torch.equal(p.lam[full], torch.zeros(int(full.sum())))
    assert torch.equal(p.lam[ext == 0], torch.ones(int((ext == 0).sum())))
    assert (full.any() if kwargs.get("lam") != 1.0 else (ext == 0).all())
