"""Mixers: the kernels that apply one plan (:class:`~mixup_any.params.MixParams`) to a batch."""

from .base import Mixer
from .mixup import MixUp

__all__ = ["Mixer", "MixUp"]
