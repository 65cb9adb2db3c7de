"""Mixers: the kernels that apply one plan (:class:`~mixup_any.params.MixParams`) to a batch."""

from .base import Mixer
from .choice import RandomChoice
from .cutmix import CutMix
from .mixup import MixUp

__all__ = ["CutMix", "Mixer", "MixUp", "RandomChoice"]
