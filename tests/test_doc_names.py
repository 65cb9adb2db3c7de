"""Every ``mixup_any.*`` name that the docs, the README or the library's own text (messages, docstrings)
mention resolves to something that exists, and the fixes that messages suggest run.

A name whose module needs an optional package that is not installed is skipped."""

from __future__ import annotations

import importlib
import pathlib
import re

import pytest

from mixup_any.exceptions import MixupError

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "mixup_any").rglob("*.py"))]
NAME = re.compile(r"(?<![\w/.])mixup_any(?:\.[A-Za-z_]\w*)+")

#: names that are known not to resolve, in files this test's owner does not edit: strict, so each flips when fixed
KNOWN: dict[str, str] = {}


def _mentions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        for name in NAME.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name.rstrip("."), []).append(str(path.relative_to(ROOT)))
    return found


MENTIONS = _mentions()


def resolve(name: str) -> object:
    """Import the longest importable module prefix of ``name``, then follow the rest as attributes."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as err:
            if err.name and not err.name.startswith("mixup_any"):
                pytest.skip(f"{name} needs {err.name}, which is not installed")
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(f"nothing of {name} imports")


def test_the_scan_finds_names():
    assert "mixup_any.tabular" in MENTIONS and len(MENTIONS) > 20


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN[n], strict=True))
                                  if n in KNOWN else n for n in sorted(MENTIONS)])
def test_every_mentioned_name_resolves(name):
    try:
        resolve(name)
    except AttributeError as err:
        raise AssertionError(f"{name} (mentioned in {sorted(set(MENTIONS[name]))}) does not exist: {err}") from err


def test_the_estimators_suggest_only_their_own_arguments():
    """A message that suggests ``name=[...]`` to an estimator's user names an argument the estimators take."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    from mixup_any.tabular import MixupTabularClassifier

    X = pd.DataFrame({"when": pd.to_datetime(["2024-01-01"] * 4), "x": [0.0, 1.0, 2.0, 3.0]})
    with pytest.raises(MixupError) as err:
        MixupTabularClassifier(max_epochs=1).fit(X, [0, 1, 0, 1])
    suggested = set(re.findall(r"\b(\w+)=\[", str(err.value)))
    assert suggested and suggested <= set(MixupTabularClassifier().get_params())


def test_random_choice_weights_fix_runs():
    from mixup_any import CutMix, MixUp, RandomChoice

    w = [1.0, 3.0]
    with pytest.raises(MixupError) as err:
        RandomChoice([MixUp(alpha=1.0), CutMix(alpha=1.0)], weights=w)
    fix = re.search(r"e\.g\. (weights=.*?\])\.?$", str(err.value)).group(1)
    namespace = {"w": w, "weights": w}
    exec(fix, namespace)  # runs the suggested fix as written
    RandomChoice([MixUp(alpha=1.0), CutMix(alpha=1.0)], weights=namespace["weights"])
