"""torchvision ``tv_tensors`` at the edges: recognised without importing torchvision, rebuilt lazily."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..exceptions import MixupError
from ..extras import require


def is_tv_tensor(x: Any) -> bool:
    """Whether ``x`` is a torchvision ``tv_tensors`` subclass (checked without importing torchvision)."""
    return isinstance(x, Tensor) and type(x).__module__.startswith("torchvision.")


def plain(x: Tensor) -> Tensor:
    """``x`` as a plain tensor (a view; a ``tv_tensors`` subclass loses its metadata)."""
    return x.as_subclass(Tensor) if is_tv_tensor(x) else x


def rewrap(out: Tensor, like: Any, **metadata: Any) -> Tensor:
    """``out`` as the same ``tv_tensors`` type as ``like`` (with ``metadata``), or unchanged."""
    if not is_tv_tensor(like):
        return out
    return tv_tensors().wrap(out, like=like, **metadata)


def tv_tensors() -> Any:
    """``torchvision.tv_tensors``; a :class:`MixupError` naming both versions when torchvision is installed
    but was built for another torch (its compiled operators do not load)."""
    try:
        return require("torchvision.tv_tensors", "vision", feature="tv_tensors support")
    except RuntimeError as err:  # "operator torchvision::nms does not exist": a torchvision built for another torch
        import importlib.metadata as md

        import torch

        try:
            tv_version = md.version("torchvision")
        except md.PackageNotFoundError:
            tv_version = "unknown"
        raise MixupError(
            f"torchvision {tv_version} is installed but does not load with torch {torch.__version__} ({err}). "
            "torch and torchvision must be a matching pair from the same index, e.g. for the CPU build: "
            "pip install torch==2.13.0 torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu"
        ) from err
