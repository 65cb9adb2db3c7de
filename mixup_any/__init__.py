"""mixup_any: mixup for every kind of data a PyTorch user trains on.

One random draw per batch (:class:`MixParams`), applied everywhere: input tensors, CutMix boxes,
tabular columns, categorical and token embeddings, hidden layers, and the targets or the loss.
Importing this package needs only torch; tabular, text and plotting features import their
optional dependencies lazily.
"""

from .collate import MixupCollate
from .exceptions import HookSiteError, MixupError
from .handle import MixHandle
from .hooks import attach
from .losses import mixed_loss
from .mixers import CutMix, Mixer, MixUp, RandomChoice
from .params import Box, Choice, MixParams, Swap
from .policies import LamPolicy, Pairing, TargetSpec
from .schedule import MixSchedule
from .sites import list_sites
from .targets import MixedTarget

__version__ = "0.1.0"

__all__ = [
    "Box",
    "Choice",
    "CutMix",
    "HookSiteError",
    "LamPolicy",
    "MixHandle",
    "MixParams",
    "MixSchedule",
    "MixUp",
    "MixedTarget",
    "Mixer",
    "MixupCollate",
    "MixupError",
    "Pairing",
    "RandomChoice",
    "Swap",
    "TargetSpec",
    "attach",
    "list_sites",
    "mixed_loss",
]
