"""The layers hold: the core imports no route, routes do not import each other (import-linter contracts in
pyproject.toml), and no module imports an underscore name from another package of mixup_any."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import mixup_any

PACKAGE = pathlib.Path(mixup_any.__file__).resolve().parent
ROOT = PACKAGE.parent


def test_import_contracts_hold():
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                          "sys.exit(lint_imports_command())"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _is_package(dotted: str) -> bool:
    return (ROOT / dotted.replace(".", "/") / "__init__.py").exists()


def _is_module(dotted: str) -> bool:
    return _is_package(dotted) or (ROOT / (dotted.replace(".", "/") + ".py")).exists()


def private_imports(module: str, source: str) -> list[str]:
    """``from X import name`` lines of ``module`` that take a private name (``_x``) from another package."""
    own = module if _is_package(module) else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = own.split(".")[: len(own.split(".")) - node.level + 1] if node.level else []
        target = ".".join(base + ([node.module] if node.module else []))
        if target.split(".")[0] != "mixup_any":
            continue
        for alias in node.names:
            imported = f"{target}.{alias.name}" if _is_module(f"{target}.{alias.name}") else target
            owner = imported if _is_package(imported) else imported.rpartition(".")[0]
            private = any(p.startswith("_") and not p.startswith("__") for p in f"{target}.{alias.name}".split("."))
            if private and owner != own:
                found.append(f"{module}: from {target} import {alias.name}")
    return found


def test_no_module_imports_a_private_name_from_another_package():
    found = []
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        found += private_imports(".".join(parts[:-1] if parts[-1] == "__init__" else parts), path.read_text())
    assert found == []


def test_the_private_import_check_reports_a_route_reaching_into_the_core():
    assert private_imports("mixup_any.tabular.mixer", "from ..handle import _private\n") == [
        "mixup_any.tabular.mixer: from mixup_any.handle import _private"]
    assert private_imports("mixup_any.tabular.mixer", "from .._eager import draw_eagerly\n") != []
    assert private_imports("mixup_any.tabular.mixer", "from mixup_any.handle import MixHandle\n") == []
    assert private_imports("mixup_any.mixers.choice", "from .cutmix import _map_float_leaves\n") == []  # same package
    assert private_imports("mixup_any.handle", "from ._eager import draw_eagerly\n") == []
