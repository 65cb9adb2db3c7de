"""The README's two commands are the ones CI and users run."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv .venv[^\n]*)\n```", text)


def test_ci_runs_exactly_the_readme_test_command():
    tests = [c for c in _commands() if "pytest" in c]
    assert len(tests) == 1, "README must show exactly one test command"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests[0] in ci, ".ci/run must run the README test command verbatim"


def test_readme_main_job_runs_the_cli_on_builtin_data():
    mains = [c for c in _commands() if "mixup-any compare" in c]
    assert len(mains) == 1 and "torch==2.13.0" in mains[0]
