"""Detection targets mixed with the plan: MixUp on a shared canvas (Bag of Freebies) and CutMix with clipped boxes.

Input format (what torchvision's detection models take): ``images`` a list of ``(C, H, W)`` float tensors
(sizes may differ) or one ``(B, C, H, W)`` tensor, and ``targets`` a list of dicts with ``"boxes"``
``(N_i, 4)`` and ``"labels"`` ``(N_i,)`` (``N_i`` may be 0). Each returned target also has
``"weights"`` ``(N_i,)``: the weight of each box in the loss (:func:`box_weighted_loss`).

**MixUp** (Zhang et al., 2019, https://arxiv.org/abs/1902.04103). Image ``i`` and its partner
``j = index[i]`` are blended on a canvas of ``max(H_i, H_j) x max(W_i, W_j)``; both images sit at the
top-left corner, nothing is resized, and the canvas is zero outside an image (padding at the bottom
and the right). The boxes are the union of both images' boxes, whose pixel coordinates do not move,
weighted ``lam[i]`` (own) and ``1 - lam[i]`` (partner's). λ ~ Beta(1.5, 1.5) by default, as in the paper.

**CutMix**. The plan's box ``(y0, y1, x0, x1)`` of the partner is pasted at the same place. The box is
drawn on the smallest height and width of the batch, so it lies inside both images of every pair.

* The image's own boxes keep the part outside the pasted box. A box is **kept** when the visible
  fraction of its area is at least ``min_visible`` (default 0.5), else dropped. When the covered part is
  a full strip along one side of the box (the pasted box spans the box's whole height and covers its
  left or right end, or spans its whole width and covers its top or bottom), the box is **clipped** to
  the visible rectangle; otherwise (a hole in the middle, a corner, a strip through the middle) the
  visible part is not a rectangle and the box is kept **unclipped**.
* The partner's boxes are **clipped** to the pasted box and kept when the visible fraction of their
  area is at least ``min_visible``.

Every kept box of a CutMix has weight 1 (it shows a real, unblended object).

The per-pixel work is vectorized; the boxes of the whole batch are clipped in one set of tensor
operations. Variable numbers of boxes per image mean lists of per-image tensors, so the union and the
split back into images loop over the images (B small concatenations). Reads back to the host: the
partner indices (free when the plan is drawn on the CPU, as here), one flag for the box check
(``check=True``), and for CutMix the number of kept boxes per image (one read per batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from ..exceptions import MixupError
from ..mixers import CutMix, Mixer, MixUp
from ..mixers.cutmix import box_mask
from ..params import Box, MixParams, check_extra
from ._tv import plain, rewrap
from .boxes import BoxFormat, check_boxes, check_shape, from_xyxy, to_xyxy

__all__ = ["DetectionMix", "box_weighted_loss"]

Targets = list[dict[str, Any]]


def _check_plan(params: MixParams, b: int) -> None:
    if params.batch_size != b:
        raise MixupError(f"The given params are for batch size {params.batch_size}, but there are {b} images.")
    if params.mixed:
        check_extra(params, (type(None), Box), "DetectionMix (MixUp and CutMix plans; wrap each mixer of a "
                    "RandomChoice in its own DetectionMix)")


def _clip_outside(b: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """Own boxes ``b`` ``(N, 4)`` XYXY minus the pasted boxes ``p`` ``(N, 4)`` XYXY: (boxes, visible fraction)."""
    x1, y1, x2, y2 = b.unbind(1)
    ix1, iy1 = torch.maximum(x1, p[:, 0]), torch.maximum(y1, p[:, 1])
    ix2, iy2 = torch.minimum(x2, p[:, 2]), torch.minimum(y2, p[:, 3])
    iw, ih = (ix2 - ix1).clamp(min=0), (iy2 - iy1).clamp(min=0)
    area = (x2 - x1) * (y2 - y1)
    visible = (area - iw * ih) / area  # the visible area over the area: exact at a tie with min_visible (1 - c/a is not)
    hit = (iw > 0) & (ih > 0)
    full_h = hit & (iy1 <= y1) & (iy2 >= y2)  # the covered part spans the box's whole height
    full_w = hit & (ix1 <= x1) & (ix2 >= x2)
    out = torch.stack((
        torch.where(full_h & (ix1 <= x1), ix2, x1),  # covered at the left: the box starts where the paste ends
        torch.where(full_w & (iy1 <= y1), iy2, y1),
        torch.where(full_h & (ix2 >= x2), ix1, x2),
        torch.where(full_w & (iy2 >= y2), iy1, y2),
    ), dim=1)
    return out, visible


def _clip_inside(b: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """Partner boxes ``b`` ``(N, 4)`` XYXY clipped to the pasted boxes ``p``: (boxes, visible fraction)."""
    lo = torch.maximum(b[:, :2], p[:, :2])
    hi = torch.minimum(b[:, 2:], p[:, 2:])
    inter = (hi - lo).clamp(min=0).prod(dim=1)
    area = (b[:, 2:] - b[:, :2]).prod(dim=1)
    return torch.cat((lo, hi), dim=1), inter / area


class DetectionMix:
    """Mix a detection batch (images and their boxes) with one plan of a MixUp or CutMix mixer.

    Args:
        mixer: a :class:`~mixup_any.MixUp` (blend on a shared canvas; default ``MixUp(alpha=1.5)``,
            the Bag of Freebies setting) or a :class:`~mixup_any.CutMix` (paste a box, clip the boxes).
            λ policy, pairing, ``p``, ``seed`` and the train/eval switch are the mixer's.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``; a ``BoundingBoxes`` carries its own.
        normalized: boxes are fractions of the image's width and height instead of pixels.
            Boxes come back in the format they arrived in (normalized ones by the output image's size).
        min_visible: CutMix keeps a box when at least this fraction of its area is visible.
        fields: per-box entries of the targets carried with the boxes (kept, dropped and concatenated
            with them). Other entries (e.g. ``image_id``) are copied from the image's own target.
        check: validate the boxes (inside the image, positive width and height); one host read per batch.

    Example:
        >>> dm = DetectionMix(MixUp(alpha=1.5, seed=0))
        >>> images = [torch.rand(3, 20, 30), torch.rand(3, 24, 16)]
        >>> targets = [{"boxes": torch.tensor([[1.0, 2.0, 10.0, 12.0]]), "labels": torch.tensor([3])},
        ...            {"boxes": torch.tensor([[0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 16.0, 20.0]]),
        ...             "labels": torch.tensor([1, 2])}]
        >>> out, tgt = dm(images, targets, params=MixParams(torch.tensor([0.7, 0.6]), torch.tensor([1, 0])))
        >>> [tuple(x.shape) for x in out], tgt[0]["labels"].tolist(), tgt[0]["weights"].tolist()
        ([(3, 24, 30), (3, 24, 30)], [3, 1, 2], [0.699999988079071, 0.30000001192092896, 0.30000001192092896])
    """

    def __init__(
        self,
        mixer: Mixer | None = None,
        *,
        box_format: str = "xyxy",
        normalized: bool = False,
        min_visible: float = 0.5,
        fields: Sequence[str] = ("labels",),
        check: bool = True,
    ) -> None:
        if mixer is None:
            mixer = MixUp(alpha=1.5)
        if not isinstance(mixer, (MixUp, CutMix)):
            raise MixupError(f"DetectionMix needs a MixUp or a CutMix mixer, got {type(mixer).__name__}.")
        if not isinstance(min_visible, Real) or isinstance(min_visible, bool) or not 0 <= float(min_visible) <= 1:
            raise MixupError(f"min_visible must be a fraction of a box's area in [0, 1], got {min_visible!r}.")
        if isinstance(fields, str) or "boxes" in fields or "weights" in fields:
            raise MixupError(f"fields must be a list of per-box keys other than 'boxes' and 'weights', got {fields!r}.")
        self.mixer: MixUp | CutMix = mixer
        self.format: BoxFormat = BoxFormat(box_format, bool(normalized))
        self.min_visible: float = float(min_visible)
        self.fields: tuple[str, ...] = tuple(fields)
        self.check: bool = check

    def __repr__(self) -> str:
        return (f"DetectionMix({self.mixer!r}, box_format={self.format.fmt!r}, normalized={self.format.normalized}, "
                f"min_visible={self.min_visible})")

    # ------------------------------------------------------------------ input
    def _images(self, images: Any) -> list[Tensor]:
        if isinstance(images, Tensor):
            if images.ndim != 4:
                raise MixupError(f"images must be a (B, C, H, W) tensor or a list of (C, H, W) tensors, "
                                 f"got a tensor of shape {tuple(images.shape)}.")
            out = list(images.unbind(0))
        elif isinstance(images, (list, tuple)) and images and all(isinstance(x, Tensor) for x in images):
            out = list(images)
        else:
            raise MixupError(f"images must be a (B, C, H, W) tensor or a non-empty list of (C, H, W) tensors, "
                             f"got {type(images).__name__}.")
        for i, x in enumerate(out):
            if x.ndim != 3 or not x.is_floating_point():
                raise MixupError(f"images[{i}] must be a (C, H, W) float tensor, got {x.dtype} of shape "
                                 f"{tuple(x.shape)}. Convert uint8 images first, e.g. x.float() / 255.")
            if x.shape[0] != out[0].shape[0] or x.device != out[0].device:
                raise MixupError(f"images[{i}] has {x.shape[0]} channels on {x.device}, but images[0] has "
                                 f"{out[0].shape[0]} on {out[0].device}; a batch needs one of each.")
        return out

    def _targets(self, targets: Any, images: list[Tensor]) -> tuple[list[Tensor], BoxFormat]:
        """Validate the targets; return each image's boxes as XYXY pixels, and the batch's box format."""
        b = len(images)
        if isinstance(targets, Tensor) or not isinstance(targets, (list, tuple)):
            raise MixupError(f"Detection targets must be a list of dicts with 'boxes' and 'labels', one per "
                             f"image, got {type(targets).__name__}. Class-index targets (B,) are mixed by the "
                             "mixer itself: mixer(x, y).")
        if len(targets) != b:
            raise MixupError(f"There are {b} images but {len(targets)} targets.")
        fmt = None
        xyxy = []
        for i, (t, x) in enumerate(zip(targets, images, strict=True)):
            boxes, fmt = self._target(i, t, x, fmt)
            xyxy.append(boxes)
        assert fmt is not None
        if self.check:
            counts = torch.tensor([len(v) for v in xyxy], device=images[0].device)
            owner = torch.repeat_interleave(torch.arange(b, device=images[0].device), counts)
            check_boxes(torch.cat(xyxy), owner, [(x.shape[-2], x.shape[-1]) for x in images], fmt)
        return xyxy, fmt

    def _target(self, i: int, t: Any, x: Tensor, fmt: BoxFormat | None) -> tuple[Tensor, BoxFormat]:
        """Validate ``targets[i]`` of image ``x`` ``(C, H, W)``; its boxes ``(N, 4)`` as XYXY pixels, and its format.

        ``fmt`` is the format of the targets before it (``None`` for the first): one format per batch.
        """
        self._check_fields(i, t)
        boxes = t["boxes"]
        if boxes.device != x.device:
            raise MixupError(f"targets[{i}]['boxes'] is on {boxes.device} but images[{i}] on {x.device}.")
        f_i = BoxFormat.of(boxes, self.format)
        if fmt is not None and f_i != fmt:
            raise MixupError(f"targets[{i}]['boxes'] are {f_i}, but targets[0]['boxes'] are {fmt}; one "
                             "box format per batch.")
        size = (x.shape[-2], x.shape[-1])
        canvas = getattr(boxes, "canvas_size", None)
        if canvas is not None and tuple(canvas) != size:
            raise MixupError(f"targets[{i}]['boxes'] has canvas_size {tuple(canvas)}, but images[{i}] is "
                             f"H x W = {size[0]} x {size[1]}.")
        return to_xyxy(boxes, f_i, size), f_i

    def _check_fields(self, i: int, t: Any) -> None:
        """Raise MixupError unless ``targets[i]`` is a dict with ``"boxes"`` ``(N, 4)`` and the ``fields`` ``(N, ...)``."""
        if not isinstance(t, Mapping) or "boxes" not in t:
            got = type(t).__name__ if not isinstance(t, Mapping) else f"a dict with keys {sorted(t)}"
            raise MixupError(f"targets[{i}] is {got}; every target of a detection batch must be a dict "
                             "with 'boxes' (N, 4) and 'labels' (N,). A batch cannot mix boxes with other "
                             "kinds of targets (class indices, masks).")
        if "masks" in t:
            raise MixupError(f"targets[{i}] has instance 'masks', which DetectionMix does not mix; drop them, "
                             "or mix semantic masks with SegmentationMix.")
        check_shape(t["boxes"], f"targets[{i}]['boxes']")
        n = t["boxes"].shape[0]
        for f in self.fields:
            v = t.get(f)
            if not isinstance(v, Tensor) or v.ndim < 1 or v.shape[0] != n:
                got = f"shape {tuple(v.shape)}" if isinstance(v, Tensor) else type(v).__name__
                raise MixupError(f"targets[{i}][{f!r}] must be a tensor with one row per box ({n},), "
                                 f"got {got}. Set fields= to the per-box keys your targets have.")

    # ------------------------------------------------------------------ the plan
    def sample(self, images: Any, *, generator: torch.Generator | None = None) -> MixParams:
        """Draw a plan for ``images`` on the CPU (boxes of a CutMix lie inside every image of the batch)."""
        imgs = self._images(images)
        hs, ws = [x.shape[-2] for x in imgs], [x.shape[-1] for x in imgs]
        pick = min if isinstance(self.mixer, CutMix) else max
        shape = (len(imgs), imgs[0].shape[0], pick(hs), pick(ws))
        return self.mixer.sample(shape, device="cpu", generator=generator)

    def __call__(
        self,
        images: Any,
        targets: Any,
        *,
        params: MixParams | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Any, Targets]:
        """Mix ``images`` and their ``targets``; see the module docstring for the rules.

        Args:
            images: a list of ``(C, H, W)`` float tensors, or a ``(B, C, H, W)`` tensor.
            targets: a list of ``B`` dicts with ``"boxes"`` ``(N_i, 4)`` and the ``fields`` (``"labels"``).
            params: replay a plan (its ``index`` is read on the host: draw plans on the CPU).
            generator: use this generator for the draw instead of the mixer's own.

        Returns:
            The mixed images (a list, or a tensor when a tensor came in) and new target dicts with
            ``"boxes"`` (own boxes first, then the partner's), the ``fields`` and ``"weights"``.
        """
        imgs = self._images(images)
        xyxy, fmt = self._targets(targets, imgs)
        if params is None:
            params = self.sample(imgs, generator=generator)
        _check_plan(params, len(imgs))
        if not params.mixed:
            return images, [self._out(t, t["boxes"], {f: t[f] for f in self.fields},
                                      torch.ones(len(t["boxes"]), device=t["boxes"].device)) for t in targets]
        if isinstance(params.extra, Box):  # drawn for the smallest height and width, so it lies inside every image
            params.extra.check_fits((min(x.shape[-2] for x in imgs), min(x.shape[-1] for x in imgs)), "DetectionMix")
            out, boxes, fields, weights = self._cutmix(imgs, targets, xyxy, params,
                                                       params.extra.rows(len(imgs), params.device))
        else:
            out, boxes, fields, weights = self._mixup(imgs, targets, xyxy, params)
        sizes = [(x.shape[-2], x.shape[-1]) for x in out]
        new_targets = [self._out(t, from_xyxy(bx, fmt, s, t["boxes"]), fd, w)
                       for t, bx, s, fd, w in zip(targets, boxes, sizes, fields, weights, strict=True)]
        if isinstance(images, Tensor):
            return rewrap(torch.stack(out), images), new_targets
        return [rewrap(o, x) for o, x in zip(out, images, strict=True)], new_targets

    @staticmethod
    def _out(t: Mapping[str, Any], boxes: Tensor, fields: dict[str, Tensor], weights: Tensor) -> dict[str, Any]:
        return {**t, "boxes": boxes, **fields, "weights": weights}

    # ------------------------------------------------------------------ MixUp: blend on a canvas
    def _mixup(self, imgs: list[Tensor], targets: Any, xyxy: list[Tensor], params: MixParams) -> tuple:
        dev = imgs[0].device
        idx = params.index.tolist()  # a CPU plan: no device sync
        lam = params.lam_rows().to(dev)
        same = len({tuple(x.shape) for x in imgs}) == 1
        if same:  # one vectorized lerp for the whole batch
            x = torch.stack([plain(v) for v in imgs])
            w = lam.to(x.dtype).view(-1, 1, 1, 1)
            out = list(torch.lerp(x[params.index.to(dev)], x, w).unbind(0))
        else:
            out = []
            for i, j in enumerate(idx):
                a, b = plain(imgs[i]), plain(imgs[j])
                c = a.new_zeros(a.shape[0], max(a.shape[1], b.shape[1]), max(a.shape[2], b.shape[2]))
                w = lam[i].to(a.dtype)
                c[:, :a.shape[1], :a.shape[2]] = a * w
                c[:, :b.shape[1], :b.shape[2]] += b * (1 - w)
                out.append(c)
        boxes, fields, weights = [], [], []
        for i, j in enumerate(idx):
            boxes.append(torch.cat((xyxy[i], xyxy[j])))
            fields.append({f: torch.cat((plain(targets[i][f]), plain(targets[j][f]))) for f in self.fields})
            ni, nj = len(xyxy[i]), len(xyxy[j])
            weights.append(torch.cat((lam[i].expand(ni), (1 - lam[i]).expand(nj))))
        return out, boxes, fields, weights

    # ------------------------------------------------------------------ CutMix: paste and clip
    def _cutmix(self, imgs: list[Tensor], targets: Any, xyxy: list[Tensor], params: MixParams,
                box: Tensor) -> tuple:
        b = len(imgs)
        if box.shape != (b, 4):
            raise MixupError(f"The plan's box has shape {tuple(box.shape)}; expected ({b}, 4) (y0, y1, x0, x1).")
        box_h = box.tolist()
        hs, ws = [x.shape[-2] for x in imgs], [x.shape[-1] for x in imgs]
        if max(r[1] for r in box_h) > min(hs) or max(r[3] for r in box_h) > min(ws):
            raise MixupError(f"The plan's boxes reach beyond the smallest image ({min(hs)} x {min(ws)}); draw "
                             "the plan with DetectionMix.sample(images).")
        out = _paste(imgs, params.index, box, box_h)
        return (out, *self._cut_boxes(targets, xyxy, params.index.tolist(), box.to(imgs[0].device)))

    def _cut_boxes(self, targets: Any, xyxy: list[Tensor], idx: list[int], box: Tensor) -> tuple:
        """Own boxes minus the paste, partner boxes inside it: per image boxes, fields and weights (all 1).

        Args:
            xyxy: each image's boxes ``(N_i, 4)`` XYXY pixels. idx: the partner of each image.
            box: the pasted region of each image ``(B, 4)`` as ``(y0, y1, x0, x1)``, on the boxes' device.
        """
        dev, b = box.device, len(xyxy)
        paste = box[:, [2, 0, 3, 1]]  # (y0, y1, x0, x1) -> XYXY
        n_own = [len(v) for v in xyxy]
        n_par = [n_own[j] for j in idx]
        rows = torch.arange(b, device=dev)
        own_owner = torch.repeat_interleave(rows, torch.tensor(n_own, device=dev))
        par_owner = torch.repeat_interleave(rows, torch.tensor(n_par, device=dev))
        own = torch.cat(xyxy)
        par = torch.cat([xyxy[j] for j in idx])
        own_box, own_vis = _clip_outside(own, paste[own_owner].to(own.dtype))
        par_box, par_vis = _clip_inside(par, paste[par_owner].to(par.dtype))
        keep_own = (own_vis >= self.min_visible) & (own_vis > 0)
        keep_par = (par_vis >= self.min_visible) & (par_vis > 0)
        counts = torch.zeros(2, b, dtype=torch.int64, device=dev)
        counts[0].index_add_(0, own_owner, keep_own.long())
        counts[1].index_add_(0, par_owner, keep_par.long())
        c_own, c_par = counts.tolist()  # the one read of the kept counts
        own_split = own_box[keep_own].split(c_own)
        par_split = par_box[keep_par].split(c_par)
        own_f = {f: torch.cat([plain(t[f]) for t in targets])[keep_own].split(c_own) for f in self.fields}
        par_f = {f: torch.cat([plain(targets[j][f]) for j in idx])[keep_par].split(c_par) for f in self.fields}
        boxes = [torch.cat(pair) for pair in zip(own_split, par_split, strict=True)]
        fields = [{f: torch.cat((own_f[f][i], par_f[f][i])) for f in self.fields} for i in range(b)]
        weights = [torch.ones(len(bx), device=dev) for bx in boxes]
        return boxes, fields, weights


def _paste(imgs: list[Tensor], index: Tensor, box: Tensor, box_h: list[list[int]]) -> list[Tensor]:
    """Each image ``(C, H_i, W_i)`` with its partner's ``box`` region ``(B, 4)`` (``box_h`` on the host) pasted in."""
    dev = imgs[0].device
    if len({tuple(x.shape[-2:]) for x in imgs}) == 1:  # one vectorized select for the whole batch
        x = torch.stack([plain(v) for v in imgs])
        inside = box_mask(box.to(dev), x.shape, (2, 3))
        return list(torch.where(inside, x[index.to(dev)], x).unbind(0))
    out = []
    for i, j in enumerate(index.tolist()):
        y0, y1, x0, x1 = box_h[i]
        o = plain(imgs[i]).clone()
        o[:, y0:y1, x0:x1] = plain(imgs[j])[:, y0:y1, x0:x1]
        out.append(o)
    return out


def box_weighted_loss(losses: Tensor | Sequence[Tensor], weights: Tensor | Sequence[Tensor], *,
                      reduction: str = "mean") -> Tensor:
    """Per-box losses weighted by the boxes' ``"weights"`` from :class:`DetectionMix`.

    Args:
        losses: ``(N,)`` one loss per ground-truth box (all images concatenated), or a list of ``(N_i,)``.
            A detector that matches anchors or cells to boxes gathers the weights with the same match:
            ``weights[matched_box]``.
        weights: ``(N,)`` or a list of ``(N_i,)``, in the same order.
        reduction: ``"mean"`` — ``sum(w * loss) / sum(w)``, which equals the plain mean loss when no
            box is mixed (all weights 1) and when an image is paired with itself (its boxes twice, with
            weights λ and 1 - λ); 0 for a batch without boxes. ``"sum"`` — ``sum(w * loss)``.
            ``"none"`` — ``w * loss``.

    Example:
        >>> box_weighted_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.75, 0.25]))
        tensor(1.5000)
    """
    if not isinstance(losses, Tensor):
        losses = torch.cat(list(losses))
    if not isinstance(weights, Tensor):
        weights = torch.cat(list(weights))
    if losses.shape != weights.shape or losses.ndim != 1:
        raise MixupError(f"box_weighted_loss needs one loss and one weight per box, (N,) each, got losses "
                         f"{tuple(losses.shape)} and weights {tuple(weights.shape)}.")
    if reduction not in ("mean", "sum", "none"):
        raise MixupError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    weighted = losses * weights.to(losses.dtype)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / weights.sum().to(losses.dtype).clamp(min=torch.finfo(losses.dtype).tiny)
