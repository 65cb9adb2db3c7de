"""Bounds a reviewer checks from the tree: a small public surface, modules of one idea, simple functions.

At most 50 distinct names across the ``__all__`` of the package's public modules (a module or package whose
name starts with ``_`` is private), no module over 450 lines, no function above cyclomatic complexity 15
(radon). They are bounds a clear design meets on its own; a failure means a design question, not a split.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import mixup_any

PACKAGE = Path(mixup_any.__file__).resolve().parent


def _public_modules():
    yield mixup_any
    for info in pkgutil.walk_packages(mixup_any.__path__, "mixup_any."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        try:
            yield importlib.import_module(info.name)
        except ImportError:  # an optional extra (e.g. lightning) that is not installed: its names are not counted
            continue


def test_public_surface_has_at_most_50_names():
    names = {name for module in _public_modules() for name in getattr(module, "__all__", [])}
    assert len(names) <= 50, sorted(names)


def test_every_name_in_all_exists():
    for module in _public_modules():
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module.__name__}.__all__ names {name!r}, which it does not define"


def test_no_module_over_450_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450}
    assert not long, long


@pytest.mark.skipif(importlib.util.find_spec("radon") is None, reason="radon is not installed (pip install -e '.[dev]')")
def test_no_function_above_complexity_15():
    from radon.complexity import cc_visit

    over = []
    for path in PACKAGE.rglob("*.py"):
        for block in cc_visit(path.read_text()):
            if block.complexity > 15:
                over.append(f"{path.relative_to(PACKAGE)}:{block.lineno} {block.name} ({block.complexity})")
    assert not over, over
