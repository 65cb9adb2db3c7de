"""Dense and structured targets mixed with the same plan: detection boxes and segmentation masks.

* :class:`DetectionMix` — MixUp on a shared canvas (the union of boxes, with per-box weights) or
  CutMix with clipped boxes, for torchvision-style ``images`` and ``targets`` (``boxes``, ``labels``);
  :func:`box_weighted_loss` applies the per-box weights.
* :class:`SegmentationMix` — MixUp, CutMix or ClassMix of images and ``(B, H, W)`` masks, giving a lazy
  :class:`MixedMask`; :func:`mixed_mask_loss` is its cross-entropy with ``ignore_index``.

Boxes may be XYXY, XYWH or CXCYWH, in pixels or normalized, and torchvision's ``tv_tensors``
(``BoundingBoxes``, ``Mask``, ``Image``) are accepted; torchvision (the ``vision`` extra) is imported
only when such a tensor arrives.
"""

from .detection import DetectionMix, box_weighted_loss
from .masks import MixedMask, SegmentationMix, mixed_mask_loss

__all__ = ["DetectionMix", "MixedMask", "SegmentationMix", "box_weighted_loss", "mixed_mask_loss"]
