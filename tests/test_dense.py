"""mixup_any.dense against independent references: hand-built batches, pixel rasters and per-pixel loops."""

import math
import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mixup_any import CutMix, MixParams, MixUp, MixupError
from mixup_any.dense import DetectionMix, MixedMask, SegmentationMix, box_weighted_loss, mixed_mask_loss
from mixup_any.dense.boxes import BoxFormat, from_xyxy, to_xyxy
from mixup_any.dense.masks import classmix_region
from mixup_any.params import Box


def plan(lam, index, box=None, size=(6, 5)):
    """A plan; ``box`` is drawn for images of H x W = ``size``."""
    return MixParams(torch.tensor(lam), torch.tensor(index),
                     extra=None if box is None else Box(torch.tensor(box), size))


def det_batch():
    """Two images of different sizes, three boxes."""
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 20, 30, generator=g), torch.rand(3, 24, 16, generator=g)]
    targets = [{"boxes": torch.tensor([[1.0, 2.0, 10.0, 12.0]]), "labels": torch.tensor([3]), "image_id": 7},
               {"boxes": torch.tensor([[0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 16.0, 20.0]]),
                "labels": torch.tensor([1, 2]), "image_id": 8}]
    return images, targets


# ------------------------------------------------------------------------------------------------ formats
def test_box_formats_by_hand():
    size = (10, 20)  # H, W
    xyxy = torch.tensor([[2.0, 1.0, 12.0, 5.0]])
    cases = {("xywh", False): [[2.0, 1.0, 10.0, 4.0]], ("cxcywh", False): [[7.0, 3.0, 10.0, 4.0]],
             ("xyxy", True): [[0.1, 0.1, 0.6, 0.5]], ("cxcywh", True): [[0.35, 0.3, 0.5, 0.4]]}
    for (fmt, norm), given_ in cases.items():
        f = BoxFormat(fmt, norm)
        torch.testing.assert_close(to_xyxy(torch.tensor(given_), f, size), xyxy)
        torch.testing.assert_close(from_xyxy(xyxy, f, size, like=xyxy), torch.tensor(given_))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["xyxy", "XYWH", "cxcywh"]), st.booleans(),
       st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4))
def test_box_formats_round_trip(fmt, norm, v):
    f = BoxFormat(fmt, norm)
    boxes = torch.tensor([v], dtype=torch.float64)
    back = from_xyxy(to_xyxy(boxes, f, (7, 13)), f, (7, 13), like=boxes)
    torch.testing.assert_close(back, boxes)


def test_integer_boxes_stay_integer():
    dm = DetectionMix(CutMix(), min_visible=0.0)
    x = torch.rand(2, 1, 8, 8)
    t = [{"boxes": torch.tensor([[0, 0, 8, 4]]), "labels": torch.tensor([0])},
         {"boxes": torch.tensor([[0, 4, 8, 8]]), "labels": torch.tensor([1])}]
    _, out = dm(x, t, params=plan([0.5, 0.5], [1, 0], [[0, 8, 0, 4], [0, 0, 0, 0]], (8, 8)))
    assert out[0]["boxes"].dtype == torch.int64
    assert out[0]["boxes"].tolist() == [[4, 0, 8, 4], [0, 4, 4, 8]]


# ------------------------------------------------------------------------------------------------ MixUp
def test_detection_mixup_hand_built_canvas_boxes_and_weights():
    images, targets = det_batch()
    out, tg = DetectionMix()(images, targets, params=plan([0.7, 0.6], [1, 0]))
    for i, (j, lam) in enumerate([(1, 0.7), (0, 0.6)]):
        ref = torch.zeros(3, 24, 30)  # max H, max W; padding at the bottom and right
        a, b = images[i], images[j]
        for c in range(3):
            for y in range(24):
                for x in range(30):
                    va = a[c, y, x] if y < a.shape[1] and x < a.shape[2] else 0.0
                    vb = b[c, y, x] if y < b.shape[1] and x < b.shape[2] else 0.0
                    ref[c, y, x] = lam * va + (1 - lam) * vb
        torch.testing.assert_close(out[i], ref)
        torch.testing.assert_close(tg[i]["boxes"], torch.cat((targets[i]["boxes"], targets[j]["boxes"])))
        assert tg[i]["labels"].tolist() == targets[i]["labels"].tolist() + targets[j]["labels"].tolist()
        n_i, n_j = len(targets[i]["boxes"]), len(targets[j]["boxes"])
        torch.testing.assert_close(tg[i]["weights"], torch.tensor([lam] * n_i + [1 - lam] * n_j))
        assert tg[i]["image_id"] == targets[i]["image_id"]
    assert targets[0]["boxes"].shape == (1, 4) and "weights" not in targets[0]  # inputs untouched


def test_detection_mixup_normalized_boxes_follow_the_canvas():
    images, targets = det_batch()
    norm = [{**t, "boxes": t["boxes"] / torch.tensor([x.shape[2], x.shape[1]] * 2)} for t, x in zip(targets, images, strict=False)]
    _, px = DetectionMix()(images, targets, params=plan([0.7, 0.6], [1, 0]))
    _, nm = DetectionMix(normalized=True)(images, norm, params=plan([0.7, 0.6], [1, 0]))
    for p, n in zip(px, nm, strict=False):
        torch.testing.assert_close(n["boxes"] * torch.tensor([30.0, 24.0, 30.0, 24.0]), p["boxes"])


def test_detection_mixup_tensor_batch_is_the_lerp_formula():
    x = torch.rand(3, 2, 5, 6)
    t = [{"boxes": torch.tensor([[0.0, 0.0, 2.0, 2.0]]), "labels": torch.tensor([i])} for i in range(3)]
    out, tg = DetectionMix()(x, t, params=plan([0.2, 0.5, 0.9], [2, 0, 1]))
    assert isinstance(out, torch.Tensor)
    ref = torch.stack([lam * x[i] + (1 - lam) * x[j] for i, j, lam in [(0, 2, 0.2), (1, 0, 0.5), (2, 1, 0.9)]])
    torch.testing.assert_close(out, ref)
    assert [t_["labels"].tolist() for t_ in tg] == [[0, 2], [1, 0], [2, 1]]


def test_unmixed_plan_returns_inputs_with_unit_weights():
    images, targets = det_batch()
    dm = DetectionMix(MixUp(alpha=1.5))
    dm.mixer.eval()
    out, tg = dm(images, targets)
    assert out is images
    assert [t["weights"].tolist() for t in tg] == [[1.0], [1.0, 1.0]]


def test_default_mixer_is_beta_1_5():
    assert DetectionMix().mixer.alpha == 1.5


# ------------------------------------------------------------------------------------------------ weights
def test_box_weighted_loss_against_hand_sums():
    loss, w = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.5, 0.5, 0.25])
    assert box_weighted_loss(loss, w, reduction="sum").item() == pytest.approx(0.5 + 1.0 + 1.0)
    assert box_weighted_loss([loss[:1], loss[1:]], [w[:1], w[1:]]).item() == pytest.approx(2.5 / 1.25)
    torch.testing.assert_close(box_weighted_loss(loss, w, reduction="none"), loss * w)
    assert box_weighted_loss(torch.zeros(0), torch.zeros(0)).item() == 0.0


def test_self_paired_image_gives_the_plain_mean_loss():
    images, targets = det_batch()
    _, tg = DetectionMix()(images, targets, params=plan([0.3, 0.8], [0, 1]))
    per_box = [t["boxes"].sum(1) for t in tg]  # any per-box loss: duplicated boxes, weights λ and 1 - λ
    plain = torch.cat([t["boxes"].sum(1) for t in targets]).mean()
    torch.testing.assert_close(box_weighted_loss(per_box, [t["weights"] for t in tg]), plain)


# ------------------------------------------------------------------------------------------------ CutMix
def test_cutmix_clipping_on_a_grid_with_known_answers():
    x = torch.arange(2 * 100, dtype=torch.float32).view(2, 1, 10, 10)
    own = torch.tensor([[2.0, 2.0, 8.0, 8.0],    # left 3 columns covered, full height: clipped, half visible
                        [6.0, 1.0, 9.0, 4.0],    # untouched
                        [1.0, 1.0, 4.0, 4.0],    # fully covered: dropped
                        [3.0, 0.0, 9.0, 2.0]])   # left 2 of 6 columns covered: clipped, 2/3 visible
    part = torch.tensor([[0.0, 0.0, 4.0, 4.0],   # inside the paste up to x = 5: clipped to (0, 0, 4, 4)
                         [4.0, 6.0, 8.0, 9.0],   # x 4..5 of 4..8 inside: 1/4 visible: dropped
                         [2.0, 2.0, 8.0, 5.0]])  # x 2..5 of 2..8: half visible: kept as (2, 2, 5, 5)
    t = [{"boxes": own, "labels": torch.tensor([0, 1, 2, 3])}, {"boxes": part, "labels": torch.tensor([4, 5, 6])}]
    # row 0 pastes rows 0..10, columns 0..5 of image 1; row 1 is not mixed (empty box)
    out, tg = DetectionMix(CutMix(), min_visible=0.5)(x, t, params=plan([0.5, 1.0], [1, 1], [[0, 10, 0, 5], [0, 0, 0, 0]],
                                                                                   (10, 10)))
    ref = x[0].clone()
    ref[:, :, :5] = x[1, :, :, :5]
    torch.testing.assert_close(out[0], ref)
    torch.testing.assert_close(out[1], x[1])
    assert tg[0]["boxes"].tolist() == [[5.0, 2.0, 8.0, 8.0], [6.0, 1.0, 9.0, 4.0], [5.0, 0.0, 9.0, 2.0],
                                       [0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 5.0, 5.0]]
    assert tg[0]["labels"].tolist() == [0, 1, 3, 4, 6]
    assert tg[0]["weights"].tolist() == [1.0] * 5
    assert tg[1]["boxes"].tolist() == part.tolist() and tg[1]["labels"].tolist() == [4, 5, 6]


def _raster_reference(box, paste, size, inside):
    """Visible pixels of an integer box as a raster: (bounding box of them, visible fraction)."""
    cells = torch.zeros(size, dtype=torch.bool)
    x1, y1, x2, y2 = box
    cells[y1:y2, x1:x2] = True
    pasted = torch.zeros(size, dtype=torch.bool)
    pasted[paste[1]:paste[3], paste[0]:paste[2]] = True
    vis = cells & (pasted if inside else ~pasted)
    frac = vis.sum().item() / cells.sum().item()
    if frac == 0:
        return None, 0.0
    ys, xs = vis.nonzero(as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1], frac


coord = st.integers(0, 9)


@settings(max_examples=60, deadline=None)
@given(st.tuples(coord, coord, coord, coord), st.tuples(coord, coord, coord, coord), st.floats(0.0, 1.0))
@example(b=(0, 0, 0, 4), p=(0, 0, 0, 3), min_visible=0.2)  # a tie: 1 of 5 pixels visible, threshold 0.2
def test_cutmix_boxes_are_the_bounding_box_of_the_visible_pixels(b, p, min_visible):
    box = [min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]) + 1, max(b[1], b[3]) + 1]
    paste = [min(p[0], p[2]), min(p[1], p[3]), max(p[0], p[2]) + 1, max(p[1], p[3]) + 1]
    x = torch.rand(2, 1, 10, 10)
    t = [{"boxes": torch.tensor([box], dtype=torch.float32), "labels": torch.tensor([0])},
         {"boxes": torch.tensor([box], dtype=torch.float32), "labels": torch.tensor([1])}]
    cut = [[paste[1], paste[3], paste[0], paste[2]]] * 2
    _, tg = DetectionMix(CutMix(), min_visible=min_visible)(x, t, params=plan([0.5, 0.5], [1, 0], cut, (10, 10)))
    got = {int(lab): bx for lab, bx in zip(tg[0]["labels"].tolist(), tg[0]["boxes"].tolist(), strict=False)}
    for label, inside in ((0, False), (1, True)):
        ref_box, frac = _raster_reference(box, paste, (10, 10), inside)
        if frac > 0 and frac >= min_visible:
            assert got[label] == ref_box
        else:
            assert label not in got


def test_cutmix_list_of_sizes_draws_inside_the_smallest_image():
    images, targets = det_batch()
    dm = DetectionMix(CutMix(alpha=1.0, seed=0))
    for _ in range(5):
        p = dm.sample(images)
        bounds = p.extra.rows(len(images))
        assert (bounds[:, 1] <= 20).all() and (bounds[:, 3] <= 16).all()
        out, tg = dm(images, targets, params=p)
        assert [tuple(o.shape) for o in out] == [(3, 20, 30), (3, 24, 16)]
        for i, j in enumerate(p.index.tolist()):
            y0, y1, x0, x1 = bounds[i].tolist()
            ref = images[i].clone()
            ref[:, y0:y1, x0:x1] = images[j][:, y0:y1, x0:x1]
            torch.testing.assert_close(out[i], ref)


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("boxes, match", [
    (torch.tensor([[1.0, 2.0, 31.0, 12.0]]), r"outside its image: targets\[0\]\['boxes'\]\[0\].*20 x 30"),
    (torch.tensor([[-1.0, 2.0, 10.0, 12.0]]), "outside its image"),
    (torch.tensor([[5.0, 2.0, 5.0, 12.0]]), r"Degenerate box: targets\[0\]\['boxes'\]\[0\]"),
    (torch.tensor([1.0, 2.0, 3.0, 4.0]), r"\(N, 4\)"),
])
def test_bad_boxes(boxes, match):
    images, targets = det_batch()
    targets[0] = {**targets[0], "boxes": boxes}
    with pytest.raises(MixupError, match=match):
        DetectionMix()(images, targets)


def test_bad_detection_input():
    images, targets = det_batch()
    with pytest.raises(MixupError, match="Unknown box format 'xyzw'"):
        DetectionMix(box_format="xyzw")
    with pytest.raises(MixupError, match="cannot mix boxes with other kinds of targets"):
        DetectionMix()(images, [targets[0], torch.tensor(3)])
    with pytest.raises(MixupError, match="list of dicts"):
        DetectionMix()(images, torch.tensor([1, 2]))
    with pytest.raises(MixupError, match=r"'labels'\] must be a tensor with one row per box \(2,\)"):
        DetectionMix()(images, [targets[0], {**targets[1], "labels": torch.tensor([1])}])
    with pytest.raises(MixupError, match="outside its image"):  # normalized boxes read as pixels fit; pixels as normalized do not
        DetectionMix(normalized=True)(images, targets)
    with pytest.raises(MixupError, match="float tensor"):
        DetectionMix()([(x * 255).byte() for x in images], targets)
    with pytest.raises(MixupError, match="MixUp or a CutMix"):
        DetectionMix(torch.nn.Linear(1, 1))


# ------------------------------------------------------------------------------------------------ masks
def seg_batch(b=3, k=4, h=6, w=5):
    g = torch.Generator().manual_seed(1)
    masks = torch.randint(0, k, (b, h, w), generator=g)
    masks[0, 0, :3] = 255
    masks[1, 2, 1] = 255
    return torch.rand(b, 2, h, w, generator=g), masks


def test_mixup_masks_equal_the_per_pixel_formula():
    x, m = seg_batch()
    p = plan([0.3, 0.6, 1.0], [1, 2, 0])
    out, t = SegmentationMix()(x, m, params=p)
    soft = t.soft(4)
    for i, (j, lam) in enumerate([(1, 0.3), (2, 0.6), (0, 1.0)]):
        torch.testing.assert_close(out[i], lam * x[i] + (1 - lam) * x[j])
        for c in range(4):
            for y in range(6):
                for xx in range(5):
                    ref = lam * float(m[i, y, xx] == c) + (1 - lam) * float(m[j, y, xx] == c)
                    assert soft[i, c, y, xx].item() == pytest.approx(ref)
    with pytest.raises(MixupError, match="blended"):
        t.hard()


def test_cutmix_masks_paste_the_partners_box():
    x, m = seg_batch()
    box = [[1, 4, 0, 2], [0, 0, 0, 0], [0, 6, 2, 5]]
    out, t = SegmentationMix(CutMix())(x, m, params=plan([0.5, 1.0, 0.4], [2, 0, 1], box))
    ref_m, ref_x = m.clone(), x.clone()
    for i, j in enumerate([2, 0, 1]):
        y0, y1, x0, x1 = box[i]
        ref_m[i, y0:y1, x0:x1] = m[j, y0:y1, x0:x1]
        ref_x[i, :, y0:y1, x0:x1] = x[j, :, y0:y1, x0:x1]
    assert torch.equal(t.hard(), ref_m) and torch.equal(out, ref_x)
    soft = t.soft(4)
    assert torch.equal(soft.argmax(1)[ref_m != 255], ref_m[ref_m != 255])
    assert torch.equal(soft.sum(1) == 0, ref_m == 255)


def test_classmix_pastes_half_of_the_partners_classes():
    g = torch.Generator().manual_seed(3)
    m = torch.randint(0, 6, (8, 7, 7), generator=g)
    m[:, 0, 0] = 255
    m[2] = torch.where(m[2] < 3, m[2], 1)  # fewer classes in one mask (3 present: 2 pasted)
    index = torch.tensor([1, 2, 3, 4, 5, 6, 7, 0])
    region = classmix_region(m, index, 6, generator=g)
    for i, j in enumerate(index.tolist()):
        present = set(m[j][m[j] != 255].tolist())
        pasted = set(m[j][region[i]].tolist())
        assert len(pasted) == math.ceil(len(present) / 2) and pasted <= present
        assert torch.equal(region[i], torch.isin(m[j], torch.tensor(sorted(pasted))))
    x = torch.rand(8, 1, 7, 7)
    out, t = SegmentationMix(MixUp(p=1.0), classmix=True, num_classes=6)(
        x, m, params=plan([0.5] * 7 + [1.0], index.tolist()), generator=torch.Generator().manual_seed(3))
    assert torch.equal(t.hard()[7], m[7]) and torch.equal(out[7], x[7])  # lam = 1: the row stays unmixed
    assert torch.equal(t.hard(), torch.where(t.lam == 0, m[index], m))


def test_mixed_mask_loss_against_a_hand_loop():
    x, m = seg_batch()
    logits = torch.randn(3, 4, 6, 5, generator=torch.Generator().manual_seed(2))
    for p in (plan([0.3, 0.6, 1.0], [1, 2, 0]), plan([0.5, 1.0, 0.4], [2, 0, 1], [[1, 4, 0, 2], [0, 0, 0, 0], [0, 6, 2, 5]])):
        mixer = SegmentationMix(CutMix() if isinstance(p.extra, Box) else MixUp())
        _, t = mixer(x, m, params=p)
        num = den = 0.0
        logp = logits.log_softmax(1)
        lam = t.lam.expand(3, 6, 5)
        for i in range(3):
            for y in range(6):
                for xx in range(5):
                    for side, w in ((t.mask_a, lam[i, y, xx].item()), (t.mask_b, 1 - lam[i, y, xx].item())):
                        c = side[i, y, xx].item()
                        if c != 255:
                            num += -w * logp[i, c, y, xx].item()
                            den += w
        assert mixed_mask_loss(logits, t).item() == pytest.approx(num / den, rel=1e-5)
        assert mixed_mask_loss(logits, t, reduction="sum").item() == pytest.approx(num, rel=1e-5)


def test_unmixed_mask_loss_is_plain_cross_entropy():
    x, m = seg_batch()
    logits = torch.randn(3, 4, 6, 5)
    ce = F.cross_entropy(logits, m, ignore_index=255)
    for p in (plan([1.0, 1.0, 1.0], [1, 2, 0]), plan([0.3, 0.6, 0.1], [0, 1, 2])):  # lam = 1, self-pairs
        _, t = SegmentationMix()(x, m, params=p)
        torch.testing.assert_close(mixed_mask_loss(logits, t), ce)
    torch.testing.assert_close(mixed_mask_loss(logits, m), ce)


def test_bad_segmentation_input():
    x, m = seg_batch()
    with pytest.raises(MixupError, match=r"Mask spatial size \(6, 4\) differs from the image's \(6, 5\)"):
        SegmentationMix()(x, m[:, :, :4])
    with pytest.raises(MixupError, match="integer class ids"):
        SegmentationMix()(x, m.float())
    with pytest.raises(MixupError, match="needs num_classes"):
        SegmentationMix(classmix=True)
    with pytest.raises(MixupError, match=r"class index 3, outside \[0, num_classes=3\)"):
        MixedMask(m, m, torch.ones(3, 1, 1)).soft(3)


# ------------------------------------------------------------------------------------------------ torchvision
def _tv_tensors():
    """torchvision.tv_tensors, or a skip that says why; MIXUP_ANY_REQUIRE_TORCHVISION=1 turns the skip into a
    failure (for an environment with a matching torch/torchvision pair)."""
    try:
        from torchvision import tv_tensors
        return tv_tensors
    except (ImportError, RuntimeError) as err:  # RuntimeError: a torchvision built for another torch
        if os.environ.get("MIXUP_ANY_REQUIRE_TORCHVISION") == "1":
            raise
        pytest.skip(f"tv_tensors tests not run: {str(err).splitlines()[0]}")


def test_tv_tensors_keep_their_types_and_formats():
    tv = _tv_tensors()
    images, targets = det_batch()
    imgs = [tv.Image(x) for x in images]
    tg = [{**t, "boxes": tv.BoundingBoxes(from_xyxy(t["boxes"], BoxFormat("cxcywh"), (0, 0), t["boxes"]),
                                          format="CXCYWH", canvas_size=tuple(x.shape[-2:]))}
          for t, x in zip(targets, images, strict=False)]
    out, got = DetectionMix()(imgs, tg, params=plan([0.7, 0.6], [1, 0]))
    _, ref = DetectionMix(box_format="cxcywh")(images, [{**t, "boxes": t["boxes"].as_subclass(torch.Tensor)}
                                                        for t in tg], params=plan([0.7, 0.6], [1, 0]))
    assert all(isinstance(o, tv.Image) for o in out)
    for g_, r in zip(got, ref, strict=False):
        assert isinstance(g_["boxes"], tv.BoundingBoxes) and g_["boxes"].format.name == "CXCYWH"
        assert tuple(g_["boxes"].canvas_size) == (24, 30)
        torch.testing.assert_close(g_["boxes"].as_subclass(torch.Tensor), r["boxes"])
    x, m = seg_batch()
    _, t = SegmentationMix()(tv.Image(x), tv.Mask(m), params=plan([0.3, 0.6, 1.0], [1, 2, 0]))
    assert torch.equal(t.mask_b, m[[1, 2, 0]])


def test_plot_dense_batch_draws_every_box_with_its_weight():
    pytest.importorskip("matplotlib")
    from mixup_any.viz import plot_dense_batch

    images, targets = det_batch()
    out, tg = DetectionMix()(images, targets, params=plan([0.7, 0.6], [1, 0]))
    x, m = seg_batch(b=2)
    fig = plot_dense_batch(out, tg, ncols=2)
    for ax, t in zip(fig.axes, tg, strict=False):
        assert [round(p.get_alpha(), 4) for p in ax.patches] == [round(w, 4) for w in t["weights"].tolist()]
        assert [p.get_xy()[0] + 0.5 for p in ax.patches] == t["boxes"][:, 0].tolist()
    _, mt = SegmentationMix(CutMix(seed=0))(x, m)
    assert len(plot_dense_batch(x, masks=mt).axes) == 2


def test_a_cutmix_box_drawn_for_another_size_is_refused_by_the_dense_mixers():
    cm = CutMix(alpha=1.0, seed=0)
    plan = cm.sample((2, 3, 16, 16))  # a box for 16x16 images
    images = [torch.rand(3, 8, 8), torch.rand(3, 8, 8)]
    targets = [{"boxes": torch.tensor([[1.0, 1.0, 4.0, 4.0]]), "labels": torch.tensor([1])} for _ in range(2)]
    with pytest.raises(MixupError, match="drawn for 16x16"):
        DetectionMix(cm)(images, targets, params=plan)
    with pytest.raises(MixupError, match="drawn for 16x16"):
        SegmentationMix(cm)(torch.rand(2, 3, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long), params=plan)
    # the plan of the right size passes
    DetectionMix(cm)(images, targets, params=DetectionMix(cm).sample(images))
    with pytest.raises(MixupError, match="reach beyond the smallest image"):  # a hand-built box per row
        DetectionMix(cm)(images, targets, params=MixParams(
            torch.tensor([0.5, 0.5]), torch.tensor([1, 0]), extra=Box(torch.tensor([[0, 9, 0, 2], [0, 2, 0, 2]]), (8, 8))))


@pytest.mark.parametrize("dense", [DetectionMix, SegmentationMix])
def test_a_plan_of_the_other_mixer_is_refused(dense):
    x, m = seg_batch(b=2, h=8, w=8)
    second = m if dense is SegmentationMix else [{"boxes": torch.tensor([[1.0, 1.0, 4.0, 4.0]]),
                                                   "labels": torch.tensor([1])}] * 2
    with pytest.raises(MixupError, match="MixUp replays plans with no record, but this plan carries Box"):
        dense(MixUp())(x, second, params=CutMix(seed=0).sample(x.shape))
    with pytest.raises(MixupError, match="CutMix replays plans with Box, but this plan carries no record"):
        dense(CutMix())(x, second, params=MixUp(seed=0).sample(x.shape))


def test_a_given_plan_for_another_batch_is_refused_by_the_core_check():
    imgs = [torch.rand(3, 8, 8) for _ in range(3)]
    targets = [{"boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]), "labels": torch.tensor([1])} for _ in range(3)]
    with pytest.raises(MixupError, match=r"DetectionMix.*plan is for 2 rows, but the batch has 3 images"):
        DetectionMix(MixUp(alpha=1.0))(imgs, targets, params=MixParams.identity(2))
    seg = SegmentationMix(MixUp(alpha=1.0), num_classes=3)
    with pytest.raises(MixupError, match=r"SegmentationMix.*plan is for 2 rows, but the batch has 3"):
        seg(torch.rand(3, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.long), params=MixParams.identity(2))
    with pytest.raises(MixupError, match="needs a MixParams"):
        seg(torch.rand(3, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.long), params={"lam": 0.5})
