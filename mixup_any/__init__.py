"""mixup_any: mixup for every kind of data a PyTorch user trains on.

One random draw per batch (:class:`MixParams`), applied everywhere: input tensors, CutMix boxes,
tabular columns, categorical and token embeddings, hidden layers, and the targets or the loss.
Importing this package needs only torch; tabular, text and plotting features import their
optional dependencies lazily.
"""

from .collate import MixupCollate
from .exceptions import HookSiteError, MixupError
from .functional import mix, mix_batch
from .hooks import MixHandle, attach, list_sites
from .losses import MixedLoss, mixed_loss, soft_target_cross_entropy
from .mixers import CutMix, Mixer, MixUp, RandomChoice
from .params import MixParams
from .policies import LamPolicy, Pairing, TargetSpec
from .sampling import sample_beta, sample_index, sample_lambda
from .schedule import MixSchedule
from .targets import MixedTarget, mix_target

__version__ = "0.1.0"

__all__ = [
    "HookSiteError",
    "LamPolicy",
    "Pairing",
    "TargetSpec",
    "MixHandle",
    "MixParams",
    "MixSchedule",
    "CutMix",
    "MixUp",
    "MixupCollate",
    "RandomChoice",
    "MixedLoss",
    "MixedTarget",
    "Mixer",
    "MixupError",
    "attach",
    "list_sites",
    "mix",
    "mix_batch",
    "mix_target",
    "mixed_loss",
    "sample_beta",
    "sample_index",
    "sample_lambda",
    "soft_target_cross_entropy",
    "__version__",
]
