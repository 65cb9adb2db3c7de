"""Optional dependencies: imported lazily, with an install hint when missing."""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from types import ModuleType

__all__ = ["require", "is_available"]


@cache
def is_available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, extra: str = "all", *, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`ModuleNotFoundError` naming the extra that installs it.

    Example:
        >>> require("math").sqrt(4.0)
        2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = f"{feature} needs" if feature else "This feature needs"
        raise ModuleNotFoundError(
            f"{what} the optional package {module.split('.')[0]!r}, which is not installed. "
            f"Install it with: pip install 'mixup-any[{extra}]'"
        ) from err
