"""The `mixup-any compare` command on tiny CSVs: outputs, honesty lines, one-line user errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from mixup_any.cli import main  # noqa: E402

QUICK = ["--quick", "--epochs", "3", "--folds", "2", "--no-progress"]


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _csv(tmp_path, n: int = 60, task: str = "classification"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    df = pd.DataFrame({
        "x": x,
        "z": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "color": rng.choice(["red", "green", "blue", None], size=n),
    })
    df["y"] = np.where(x > 0, "yes", "no") if task == "classification" else 3 * x + rng.normal(size=n)
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path


def test_compare_classification_writes_complete_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--alpha", "0.2", "1.0", "--out", str(out), *QUICK])
    stdout = capsys.readouterr().out
    assert code == 0
    for name in ("ERM (alpha=0)", "mixup alpha=0.2", "mixup alpha=1", "HistGradientBoosting", "ECE (temp.-scaled)"):
        assert name in stdout
    assert "Verdict on mixup:" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["folds.csv", "reliability.png", "summary.json", "summary.txt"]
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 2 * 4  # 2 folds x (ERM, 2 alphas, HGB)
    assert folds["accuracy"].between(0, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    d = summary["paired_vs_erm"]["mixup alpha=0.2"]["accuracy"]
    assert d["low"] <= d["diff"] <= d["high"]
    assert d["verdict"] in ("within noise", "better", "worse")
    # the paired difference is the mean of per-fold differences (independent recomputation)
    a = folds[folds.model == "mixup alpha=0.2"].sort_values("fold")["accuracy"].to_numpy()
    b = folds[folds.model == "ERM (alpha=0)"].sort_values("fold")["accuracy"].to_numpy()
    assert d["diff"] == pytest.approx((a - b).mean())


def test_compare_regression(tmp_path, capsys):
    out = tmp_path / "r"
    path = _csv(tmp_path, task="regression")
    code = main(["compare", str(path), "--target", "y", "--pairing", "label_distance", "--out", str(out), *QUICK])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "RMSE" in stdout and "MAE" in stdout and "C-Mixup alpha=0.4" in stdout
    assert "HistGradientBoosting" in stdout
    assert not (out / "reliability.png").exists()


def _one_line_error(capsys, code: int, match: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mixup-any: error:") and match in err
    assert "Traceback" not in err


def test_missing_csv(tmp_path, capsys):
    code = main(["compare", str(tmp_path / "nope.csv"), "--target", "y", "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code, "no such CSV file")
    assert not (tmp_path / "o").exists()


def test_missing_target_column(tmp_path, capsys):
    code = main(["compare", str(_csv(tmp_path)), "--target", "label", "--out", str(tmp_path / "o"), *QUICK])
    _one_line_error(capsys, code, "target column 'label' not found; columns are: x, z, color, y")
    assert not (tmp_path / "o").exists()


def test_target_required_with_csv(tmp_path, capsys):
    _one_line_error(capsys, main(["compare", str(_csv(tmp_path))]), "--target COL is required")


def test_one_class_target(tmp_path, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": range(20), "y": ["a"] * 20}).to_csv(path, index=False)
    _one_line_error(capsys, main(["compare", str(path), "--target", "y", *QUICK]), "only one class ('a')")


@pytest.mark.parametrize("content", ["", "x,y\n"])
def test_empty_data(tmp_path, capsys, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    code = main(["compare", str(path), "--target", "y", *QUICK])
    _one_line_error(capsys, code, "cannot read" if not content else "no rows")


def test_bad_option_is_one_line(capsys):
    _one_line_error(capsys, main(["compare", "--folds", "many"]), "invalid int value: 'many'")
    _one_line_error(capsys, main(["compare", "--folds", "1"]), "--folds must be at least 2")
    _one_line_error(capsys, main([]), "choose a command")


def test_too_few_rows_per_class(tmp_path, capsys):
    path = tmp_path / "rare.csv"
    pd.DataFrame({"x": range(20), "y": ["a"] * 19 + ["b"]}).to_csv(path, index=False)
    _one_line_error(capsys, main(["compare", str(path), "--target", "y", *QUICK]), "rarest class has 1 rows")


def test_builtin_dataset_runs_offline(tmp_path, capsys):
    code = main(["compare", "--no-hgb", "--out", str(tmp_path / "b"), *QUICK, "--epochs", "1"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "credit_data" in stdout and "4454 rows" in stdout and "MIT" in stdout


def test_interrupted_run_writes_nothing(tmp_path, capsys, monkeypatch):
    from mixup_any.tabular import MixupTabularClassifier

    calls = []

    def fit(self, X, y):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, X, y)

    original = MixupTabularClassifier.fit
    monkeypatch.setattr(MixupTabularClassifier, "fit", fit)
    out = tmp_path / "o"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--out", str(out), *QUICK])
    assert code == 130
    assert "interrupted; no outputs written" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_without_matplotlib_the_plot_is_skipped_with_a_note(tmp_path, capsys, monkeypatch):
    import mixup_any._imports as imports

    real = imports.is_available
    monkeypatch.setattr(imports, "is_available", lambda name: False if name == "matplotlib" else real(name))
    out = tmp_path / "o"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--no-hgb", "--out", str(out), *QUICK])
    assert code == 0
    assert "matplotlib is not installed, so no reliability diagram was drawn" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["folds.csv", "summary.json", "summary.txt"]
