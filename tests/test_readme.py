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


def test_quoted_error_message_is_the_current_one():
    from mixup_any import MixUp, MixupError

    quoted = re.search(r"`MixUp\(alpha=-1\)` → `MixupError: ([^`]+)`", (ROOT / "README.md").read_text())
    assert quoted, "the README quotes the MixUp(alpha=-1) error"
    try:
        MixUp(alpha=-1)
    except MixupError as err:
        assert str(err) == quoted.group(1)
    else:
        raise AssertionError("MixUp(alpha=-1) must raise")


def test_readme_links_render_from_the_package_metadata():
    """PyPI renders the README without the repository: no relative links or images."""
    text = (ROOT / "README.md").read_text()
    assert re.findall(r"\]\((?!https?://)[^)]*\)", text) == []


def test_docs_do_not_narrate_the_projects_history():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for pattern in (r"\bsession\b", r"the issue", r"/work/", r"/tmp/full"):
            assert not re.search(pattern, text, re.IGNORECASE), f"{path.name}: {pattern}"
