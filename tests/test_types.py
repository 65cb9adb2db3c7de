"""The package type-checks: `mypy mixup_any` with the settings in pyproject.toml reports no error."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e '.[dev]')")
def test_mypy_reports_no_error():
    run = subprocess.run([sys.executable, "-m", "mypy", "mixup_any"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, f"mypy mixup_any failed:\n{run.stdout}{run.stderr}"
