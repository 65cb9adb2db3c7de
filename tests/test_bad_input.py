"""The bad-input matrix (tests/bad_input_cases.py): every case raises its listed library error with a clear
message and leaves no hook attached; docs/bad_input.md is the table generated from these same cases."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bad_input_cases as cases  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ERRORS = {"MixupError", "HookSiteError", "TypeError", "exit 2"}


@pytest.mark.parametrize("case", cases.CASES, ids=[c.id for c in cases.CASES])
def test_bad_input_raises_the_library_error_and_leaves_no_hook(case, tmp_path):
    for mod in case.needs:
        pytest.importorskip(mod)
    assert case.error in ERRORS
    raised, message, leftover = cases.run_case(case, tmp_path)
    assert raised == case.error, f"{case.id}: expected {case.error}, got {raised}: {message}"
    assert re.search(case.match, message), f"{case.id}: {message!r} does not match {case.match!r}"
    assert len(message) > 20  # says what was expected and what arrived
    assert not leftover, f"{case.id}: hooks left on {leftover}"


def test_committed_table_matches_the_generated_one():
    missing = sorted({m for c in cases.CASES for m in c.needs if importlib.util.find_spec(m) is None})
    if missing:
        pytest.skip(f"the committed table is generated with every optional dependency; missing {missing}")
    sys.path.insert(0, str(ROOT / "tools"))
    import bad_input_table

    assert (ROOT / "docs" / "bad_input.md").read_text() == bad_input_table.render(), (
        "docs/bad_input.md is out of date: run python tools/bad_input_table.py")


def test_every_public_entry_point_family_is_in_the_matrix():
    entries = {c.entry.split("(")[0].split(".")[0] for c in cases.CASES}
    public = ("MixParams", "MixUp", "CutMix", "RandomChoice", "LamPolicy", "Pairing", "TargetSpec", "MixedTarget",
              "mixed_loss", "MixSchedule", "MixupCollate", "attach", "list_sites", "MixHandle", "TabularMixer",
              "MixupTabularClassifier", "MixupTabularRegressor", "TextMixer", "CrossRankMixer", "mixup-any")
    for name in public:
        assert name in entries, name
