"""The public surface is what ``__all__`` says: every listed name exists (optional extras skipped)."""

from __future__ import annotations

import importlib
import pkgutil

import mixup_any


def _public_modules():
    yield mixup_any
    for info in pkgutil.walk_packages(mixup_any.__path__, "mixup_any."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        try:
            yield importlib.import_module(info.name)
        except ImportError:  # an optional extra (e.g. lightning) that is not installed
            continue


def test_every_name_in_all_exists():
    for module in _public_modules():
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module.__name__}.__all__ names {name!r}, which it does not define"
