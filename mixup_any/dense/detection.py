"""Detection batches mixed with one plan: MixUp on a shared canvas (Bag of Freebies), CutMix clipping boxes.

The rules (canvas and padding, per-box weights, which CutMix boxes are clipped, kept or dropped, and the
reads back to the host) are in ``docs/dense.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..exceptions import MixupError
from ..mixers import CutMix, Mixer, MixUp
from ..params import Box, MixParams, check_extra, check_given
from .boxes import BoxFormat, check_boxes, check_shape, from_xyxy, plain, rewrap, to_xyxy

__all__ = ["DetectionMix", "box_weighted_loss"]

def _clip(b: Tensor, p: Tensor, own: Tensor) -> tuple[Tensor, Tensor]:
    """Boxes ``b`` ``(N, 4)`` XYXY against the pasted boxes ``p`` ``(N, 4)`` XYXY: (boxes, visible fraction).

    An own box (``own`` ``(N,)`` true) keeps its part outside the paste: a side is moved to the paste's
    edge only when the paste covers the box across its whole other extent. A partner's box keeps its
    part inside the paste.
    """
    a, c = b[:, :2], b[:, 2:]
    lo, hi = torch.maximum(a, p[:, :2]), torch.minimum(c, p[:, 2:])  # the covered part
    inter, area = (hi - lo).clamp(min=0).prod(dim=1), (c - a).prod(dim=1)
    starts, ends = lo <= a, hi >= c
    across = ((inter > 0).unsqueeze(1) & starts & ends).flip(1)  # x: covered over the whole height; y: width
    outside = torch.cat((torch.where(across & starts, hi, a), torch.where(across & ends, lo, c)), dim=1)
    boxes = torch.where(own.unsqueeze(1), outside, torch.cat((lo, hi), dim=1))
    # the visible area over the area: exact at a tie with min_visible (1 - inter / area is not)
    return boxes, torch.where(own, area - inter, inter) / area


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

    def _boxes(self, targets: Any, images: list[Tensor]) -> tuple[list[Tensor], BoxFormat]:
        """Validate the targets; return each image's boxes ``(N_i, 4)`` as XYXY pixels, and the batch's format."""
        if isinstance(targets, Tensor) or not isinstance(targets, (list, tuple)):
            raise MixupError(f"Detection targets must be a list of dicts with 'boxes' and 'labels', one per "
                             f"image, got {type(targets).__name__}. Class-index targets (B,) are mixed by the "
                             "mixer itself: mixer(x, y).")
        if len(targets) != len(images):
            raise MixupError(f"There are {len(images)} images but {len(targets)} targets.")
        fmt, xyxy = None, []
        for i, (t, x) in enumerate(zip(targets, images, strict=True)):
            if not isinstance(t, Mapping) or "boxes" not in t:
                got = type(t).__name__ if not isinstance(t, Mapping) else f"a dict with keys {sorted(t)}"
                raise MixupError(f"targets[{i}] is {got}; every target of a detection batch must be a dict "
                                 "with 'boxes' (N, 4) and 'labels' (N,). A batch cannot mix boxes with other "
                                 "kinds of targets (class indices, masks).")
            if "masks" in t:
                raise MixupError(f"targets[{i}] has instance 'masks', which DetectionMix does not mix; drop them, "
                                 "or mix semantic masks with SegmentationMix.")
            boxes = t["boxes"]
            check_shape(boxes, f"targets[{i}]['boxes']")
            for f in self.fields:
                v = t.get(f)
                if not isinstance(v, Tensor) or v.ndim < 1 or v.shape[0] != boxes.shape[0]:
                    got = f"shape {tuple(v.shape)}" if isinstance(v, Tensor) else type(v).__name__
                    raise MixupError(f"targets[{i}][{f!r}] must be a tensor with one row per box "
                                     f"({boxes.shape[0]},), got {got}. Set fields= to the per-box keys your "
                                     "targets have.")
            if boxes.device != x.device:
                raise MixupError(f"targets[{i}]['boxes'] is on {boxes.device} but images[{i}] on {x.device}.")
            f_i = BoxFormat.of(boxes, self.format)
            if fmt is not None and f_i != fmt:
                raise MixupError(f"targets[{i}]['boxes'] are {f_i}, but targets[0]['boxes'] are {fmt}; one "
                                 "box format per batch.")
            fmt, size = f_i, (x.shape[-2], x.shape[-1])
            canvas = getattr(boxes, "canvas_size", None)
            if canvas is not None and tuple(canvas) != size:
                raise MixupError(f"targets[{i}]['boxes'] has canvas_size {tuple(canvas)}, but images[{i}] is "
                                 f"H x W = {size[0]} x {size[1]}.")
            xyxy.append(to_xyxy(boxes, f_i, size))
        assert fmt is not None  # at least one image
        if self.check:
            check_boxes(xyxy, [(x.shape[-2], x.shape[-1]) for x in images], fmt)
        return xyxy, fmt

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
    ) -> tuple[Any, list[dict[str, Any]]]:
        """Mix ``images`` and their ``targets`` (the rules are in ``docs/dense.md``).

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
        xyxy, fmt = self._boxes(targets, imgs)
        if params is None:
            params = self.sample(imgs, generator=generator)
        else:
            check_given(params, "DetectionMix(images, targets, params=...)", len(imgs), rows="images")
        if not params.mixed:
            return images, [{**t, "weights": torch.ones(len(t["boxes"]), device=t["boxes"].device)} for t in targets]
        check_extra(params, (type(None), Box), "DetectionMix (MixUp and CutMix plans; wrap each mixer of a "
                    "RandomChoice in its own DetectionMix)")
        idx = params.index.tolist()  # a CPU plan: no device sync
        x, out = self._mix_images(imgs, params, idx)
        boxes, fields, weights = self._mix_boxes(targets, xyxy, params, idx)
        new_targets = [{**t, "boxes": from_xyxy(bx, fmt, (o.shape[-2], o.shape[-1]), t["boxes"]), **fd, "weights": w}
                       for t, bx, o, fd, w in zip(targets, boxes, out, fields, weights, strict=True)]
        if isinstance(images, Tensor):  # images of one size: the mixed batch is the result
            return rewrap(x, images), new_targets
        return [rewrap(o, v) for o, v in zip(out, images, strict=True)], new_targets

    def _mix_images(self, imgs: list[Tensor], params: MixParams, idx: list[int]) -> tuple[Tensor, list[Tensor]]:
        """The images zero-padded to the largest ``(B, C, H, W)`` and mixed by the mixer, and each image's result.

        MixUp blends the whole padded batch and gives each pair its canvas; CutMix pastes inside the smallest
        height and width (where its box lies) and gives each image its own size.
        """
        hs, ws = [v.shape[-2] for v in imgs], [v.shape[-1] for v in imgs]
        x = torch.stack([F.pad(plain(v), (0, max(ws) - w, 0, max(hs) - h)) for v, h, w in zip(imgs, hs, ws, strict=True)])
        if not isinstance(params.extra, Box):
            self.mixer.mix(x, params, inplace=True)
            return x, [o[:, :max(hs[i], hs[j]), :max(ws[i], ws[j])] for i, (o, j) in enumerate(zip(x, idx, strict=True))]
        box = params.extra
        box.check_fits((min(hs), min(ws)), "DetectionMix")
        if isinstance(box.bounds, Tensor) and bool((box.bounds[:, 1::2] > box.bounds.new_tensor(box.size)).any()):  # a CPU plan
            raise MixupError(f"The plan's boxes reach beyond the smallest image ({min(hs)} x {min(ws)}); draw "
                             "the plan with DetectionMix.sample(images).")
        self.mixer.mix(x[..., :min(hs), :min(ws)], params, inplace=True)  # a view: the paste lands in x
        return x, [o[:, :h, :w] for o, h, w in zip(x, hs, ws, strict=True)]

    def _mix_boxes(self, targets: Any, xyxy: list[Tensor], params: MixParams, idx: list[int]) -> tuple:
        """Each image's own boxes, then its partner's: per image boxes ``(M_i, 4)`` XYXY, fields and weights.

        MixUp keeps every box, weighted λ (own) or 1 - λ (partner's); CutMix clips them (:func:`_clip`) and
        keeps those with at least ``min_visible`` of their area visible, weight 1. The whole batch at once.
        """
        b, n = len(xyxy), [len(v) for v in xyxy]
        dev = xyxy[0].device
        rows = torch.arange(b, device=dev)
        owner = torch.cat((rows.repeat_interleave(torch.tensor(n, device=dev)),
                           rows.repeat_interleave(torch.tensor([n[j] for j in idx], device=dev))))
        own = torch.arange(owner.shape[0], device=dev) < sum(n)  # own boxes come first
        boxes = torch.cat(xyxy + [xyxy[j] for j in idx])
        fields = {f: torch.cat([plain(t[f]) for t in targets] + [plain(targets[j][f]) for j in idx]) for f in self.fields}
        if isinstance(params.extra, Box):
            paste = params.extra.rows(b).to(dev)[owner][:, [2, 0, 3, 1]]  # (y0, y1, x0, x1) -> XYXY
            boxes, visible = _clip(boxes, paste.to(boxes.dtype), own)
            keep = (visible >= self.min_visible) & (visible > 0)
            owner, boxes, fields = owner[keep], boxes[keep], {f: v[keep] for f, v in fields.items()}
            weights = torch.ones(owner.shape[0], device=dev)
            counts = owner.bincount(minlength=b).tolist()  # the one read of the kept counts
        else:
            lam = params.lam_rows().to(dev)[owner]
            weights = torch.where(own, lam, 1 - lam)
            counts = [n[i] + n[j] for i, j in enumerate(idx)]
        order = owner.argsort(stable=True)  # per image: its own boxes, then its partner's

        def split(v: Tensor) -> tuple[Tensor, ...]:
            return v[order].split(counts)

        per_field = {f: split(v) for f, v in fields.items()}
        return split(boxes), [{f: s[i] for f, s in per_field.items()} for i in range(b)], split(weights)


def box_weighted_loss(losses: Tensor | Sequence[Tensor], weights: Tensor | Sequence[Tensor], *,
                      reduction: str = "mean") -> Tensor:
    """Per-box losses weighted by the boxes' ``"weights"`` from :class:`DetectionMix`.

    Args:
        losses: ``(N,)`` one loss per ground-truth box (all images concatenated), or a list of ``(N_i,)``.
            A detector that matches anchors or cells to boxes gathers the weights with the same match:
            ``weights[matched_box]``.
        weights: ``(N,)`` or a list of ``(N_i,)``, in the same order.
        reduction: ``"mean"`` — ``sum(w * loss) / sum(w)`` (0 for a batch without boxes),
            ``"sum"`` — ``sum(w * loss)`` or ``"none"`` — ``w * loss``.

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
