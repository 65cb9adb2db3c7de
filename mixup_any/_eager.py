"""Draw a plan outside a ``torch.compile`` trace: one clean graph break per draw.

Sampling calls ``torch.Generator`` methods, which dynamo cannot trace; a handle's hooks run inside the
compiled forward, so once torch.compile is in use their draws go through ``torch._dynamo.disable``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import Tensor

from .params import MixParams

_DISABLED: Callable[..., MixParams] | None = None


def _draw(mixer: Any, shape: torch.Size, labels: Tensor | None, device: torch.device) -> MixParams:
    return cast(MixParams, mixer.sample(shape, labels=labels, device=device))


def prepare_compile() -> None:
    """Route draws around dynamo once it is in use (``torch._dynamo`` is only touched when already
    imported: importing it costs seconds)."""
    global _DISABLED
    if _DISABLED is None and "torch._dynamo" in sys.modules:
        _DISABLED = sys.modules["torch._dynamo"].disable(_draw, recursive=True)


def draw_eagerly(mixer: Any, shape: torch.Size, labels: Tensor | None, device: torch.device) -> MixParams:
    """``mixer.sample(shape, labels=labels, device=device)``, never traced by dynamo."""
    return (_DISABLED or _draw)(mixer, shape, labels, device)
