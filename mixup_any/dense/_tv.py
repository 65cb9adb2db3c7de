"""torchvision ``tv_tensors`` at the edges: recognised without importing torchvision, rewrapped on the way out."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..extras import require


def is_tv_tensor(x: Any) -> bool:
    """Whether ``x`` is a torchvision ``tv_tensors`` subclass (checked without importing torchvision)."""
    return isinstance(x, Tensor) and type(x).__module__.startswith("torchvision.")


def plain(x: Tensor) -> Tensor:
    """``x`` as a plain tensor (a view; a ``tv_tensors`` subclass loses its metadata)."""
    return x.as_subclass(Tensor) if is_tv_tensor(x) else x


def rewrap(out: Tensor, like: Any, **metadata: Any) -> Tensor:
    """``out`` as the same ``tv_tensors`` type as ``like`` (with ``metadata``), or unchanged.

    torchvision is imported already when ``like`` is one of its tensors.
    """
    if not is_tv_tensor(like):
        return out
    return require("torchvision.tv_tensors", "vision").wrap(out, like=like, **metadata)  # type: ignore[no-any-return]
