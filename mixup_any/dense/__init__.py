"""Detection boxes and segmentation masks mixed with the same plan as every other kind of data.

:class:`DetectionMix` and :class:`SegmentationMix` (``docs/dense.md``) accept torchvision's ``tv_tensors``;
torchvision (the ``vision`` extra) is imported only when one arrives.
"""

from .detection import DetectionMix, box_weighted_loss
from .masks import MixedMask, SegmentationMix, mixed_mask_loss

__all__ = ["DetectionMix", "MixedMask", "SegmentationMix", "box_weighted_loss", "mixed_mask_loss"]
