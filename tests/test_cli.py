"""The `mixup-any compare` command on tiny CSVs: outputs, honesty lines, one-line user errors.

Every bad-input case of the command runs as a subprocess in tests/bad_input_cases.py; this file checks the
successful runs, the output directory, the warnings, the table layout and the entry point itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from mixup_any._cli_report import format_table  # noqa: E402
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
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--methods", "erm", "mixup", "--alpha", "0.2", "1.0",
                 "--out", str(out), *QUICK])
    stdout = capsys.readouterr().out
    assert code == 0
    for name in ("ERM (alpha=0)", "mixup alpha=0.2", "mixup alpha=1", "HistGradientBoosting", "ECE (temp.-scaled)"):
        assert name in stdout
    assert "Verdict on mixup:" in stdout
    assert max(len(line) for line in (out / "summary.txt").read_text().splitlines()) <= 100
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
    assert "temp" not in stdout  # no temperature-scaling footnote for a column regression does not show
    assert not (out / "reliability.png").exists()


def _one_line_error(capsys, code: int, match: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mixup-any: error:") and match in err
    assert "Traceback" not in err


def test_builtin_dataset_runs_offline(tmp_path, capsys):
    code = main(["compare", "--no-hgb", "--out", str(tmp_path / "b"), *QUICK, "--epochs", "1"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "credit_data" in stdout and "4454 rows" in stdout and "MIT" in stdout


def test_interrupted_run_writes_nothing(tmp_path, capsys, monkeypatch):
    from mixup_any.tabular import MixupTabularClassifier

    calls = []

    def fit(self, X, y, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, X, y, **kw)

    original = MixupTabularClassifier.fit
    monkeypatch.setattr(MixupTabularClassifier, "fit", fit)
    out = tmp_path / "o"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--out", str(out), *QUICK])
    assert code == 130
    assert "interrupted; no outputs written" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_without_matplotlib_the_plot_is_skipped_with_a_note(tmp_path, capsys, monkeypatch):
    import mixup_any._cli_outputs as cli_outputs

    real = cli_outputs.is_available
    monkeypatch.setattr(cli_outputs, "is_available", lambda name: False if name == "matplotlib" else real(name))
    out = tmp_path / "o"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--no-hgb", "--out", str(out), *QUICK])
    assert code == 0
    assert "matplotlib is not installed, so no reliability diagram was drawn" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["folds.csv", "summary.json", "summary.txt"]


def _run(*argv, cwd=None, **kw):
    """The console script's entry point (mixup_any_cli.main) in a fresh interpreter."""
    code = "import sys, mixup_any_cli; sys.exit(mixup_any_cli.main())"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kw)


def test_version():
    from mixup_any import __version__

    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"mixup-any {__version__}"


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path):
    # "ready" once the launcher is imported: the signal then lands while torch imports (or, on a fast machine,
    # while fitting), never in the interpreter's own start-up, which no program can handle
    code = "import sys, mixup_any_cli; print('ready', flush=True); sys.exit(mixup_any_cli.main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "compare", "--out", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)  # a few bytecodes later main() is running; torch's import alone takes longer than this
    # a Ctrl-C that lands inside a third-party `except BaseException` during an import is swallowed there; a
    # user presses again, and so does the test (up to 5 times)
    for _ in range(5):
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=3)
            break
        except subprocess.TimeoutExpired:
            continue
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["mixup-any: interrupted; no outputs written"]
    assert not (tmp_path / "o").exists()


def test_out_is_checked_before_anything_is_fitted(tmp_path, capsys, monkeypatch):
    from mixup_any.tabular import MixupTabularClassifier

    def fit(self, X, y, **kw):
        raise AssertionError("fitted before --out was checked")

    monkeypatch.setattr(MixupTabularClassifier, "fit", fit)
    (tmp_path / "f").write_text("")
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--out", str(tmp_path / "f" / "sub"), *QUICK])
    _one_line_error(capsys, code, "which is a file, not a directory")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write in a read-only directory")
def test_read_only_out_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--out", str(ro / "o"), *QUICK])
        _one_line_error(capsys, code, "cannot write in")
    finally:
        ro.chmod(0o700)


def test_reused_out_keeps_only_this_runs_files(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["compare", str(_csv(tmp_path)), "--target", "y", "--no-hgb", "--out", str(out), *QUICK]) == 0
    assert (out / "reliability.png").exists()
    (out / "notes.txt").write_text("mine")
    reg = _csv(tmp_path, task="regression")
    assert main(["compare", str(reg), "--target", "y", "--no-hgb", "--out", str(out), *QUICK]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["folds.csv", "notes.txt", "summary.json", "summary.txt"]
    assert "rmse" in (out / "folds.csv").read_text()
    assert (out / "notes.txt").read_text() == "mine"


def test_warnings_for_dropped_rows_and_identifier_columns(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n = 40
    df = pd.DataFrame({"row": range(1, n + 1), "name": [f"person {i}" for i in range(n)],
                       "x": rng.normal(size=n), "y": rng.choice(["a", "b"], size=n)})
    df.loc[[3, 7, 11], "y"] = None
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    args = ["compare", str(path), "--target", "y", "--no-hgb", "--out", str(tmp_path / "o"), *QUICK]
    assert main(args) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("mixup-any: warning:")]
    assert len(warnings) == 3
    assert "dropped 3 of 40 rows whose target 'y' is missing" in warnings[0]
    assert "'row' looks like an identifier" in warnings[1] and "'name' looks like an identifier" in warnings[2]
    assert "left out; --keep-ids uses it" in warnings[1]
    assert "37 rows, 1 feature " in captured.out  # the estimators' rule: identifier-like columns left out
    assert main([*args, "--keep-ids"]) == 0
    captured = capsys.readouterr()
    assert "37 rows, 3 features" in captured.out and "identifier" not in captured.err
    assert main([*args, "--no-warnings"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_sep_and_encoding(tmp_path, capsys):
    df = pd.read_csv(_csv(tmp_path))
    df["color"] = df["color"].replace({"red": "rouge café"})
    path = tmp_path / "semi.csv"
    path.write_bytes(df.to_csv(index=False, sep=";").encode("latin-1"))
    code = main(["compare", str(path), "--target", "y", "--sep", ";", "--encoding", "latin-1", "--no-hgb",
                 "--out", str(tmp_path / "o"), *QUICK])
    assert code == 0
    assert "3 features (2 continuous, 1 categorical)" in capsys.readouterr().out


def _table_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("model")))
    end = next(i for i in range(start, len(lines)) if not lines[i] or lines[i].startswith("("))
    return [lines[start]] + lines[start + 2:end]


def _right_edges(line: str) -> list[int]:
    return [m.end() for m in re.finditer(r"\S+(?: \S+)*", line)]


def test_table_stays_aligned_and_narrow_for_large_values(tmp_path, capsys):
    path = _csv(tmp_path, task="regression")
    df = pd.read_csv(path)
    df["y"] = df["y"] * 1e6 + 3e7  # house-price-like magnitudes
    df.to_csv(path, index=False)
    assert main(["compare", str(path), "--target", "y", "--out", str(tmp_path / "o"), *QUICK]) == 0
    out = capsys.readouterr().out
    table = _table_lines(out)
    assert max(len(line) for line in (tmp_path / "o" / "summary.txt").read_text().splitlines()) <= 100
    edges = [_right_edges(line) for line in table]
    assert all(e[1:] == edges[0][1:] for e in edges), "\n".join(table)  # every numeric column right-aligned
    assert all(len(re.findall("±", line)) == 3 for line in table[1:])  # no two cells ran together


def test_format_table_splits_into_blocks_within_the_width():
    header = ["model"] + [f"metric {j}" for j in range(8)]
    rows = [["a long model name", *(f"{123456.789 * 10**j:.4f} ± {7.5 * 10**j:.4f}" for j in range(8))]]
    text = format_table(header, rows, max_width=100)
    assert max(len(line) for line in text.splitlines()) <= 100
    for j in range(8):  # every cell is printed once, whole
        assert text.count(rows[0][j + 1]) == 1
    assert text.count("a long model name") >= 2  # the first column repeats in each block


def test_methods_each_get_a_row_and_a_paired_difference_and_one_recommendation(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--out", str(out), *QUICK])
    stdout = capsys.readouterr().out
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = ["mixup alpha=0.4", "regmixup alpha=0.4", "inputs_only alpha=0.4", "HistGradientBoosting"]
    assert sorted(summary["paired_vs_erm"]) == sorted(rows)
    for name in rows[:3]:
        assert set(summary["paired_vs_erm"][name]) >= {"log_loss", "log_loss_ts", "ece", "ece_ts", "brier"}
    assert sum(line.startswith("Recommendation:") for line in stdout.splitlines()) == 1
    assert "brier_score_loss" in stdout  # the definition is stated


def test_unknown_method_is_a_one_line_error(tmp_path, capsys):
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--methods", "erm", "cutout", *QUICK])
    _one_line_error(capsys, code, "invalid choice: 'cutout'")


def test_brier_is_scikit_learns():
    from sklearn.metrics import brier_score_loss

    from mixup_any._cli_fit import class_metrics

    rng = np.random.default_rng(0)
    p = rng.dirichlet([1.0, 1.0], size=50)
    y = rng.integers(0, 2, size=50)
    assert class_metrics(p, y)["brier"] == pytest.approx(brier_score_loss(y, p[:, 1]))
    assert class_metrics(p, y)["brier"] == pytest.approx(float(np.mean((p[:, 1] - y) ** 2)))  # the formula
    p3 = rng.dirichlet([1.0, 1.0, 1.0], size=50)
    y3 = rng.integers(0, 3, size=50)
    assert class_metrics(p3, y3)["brier"] == pytest.approx(float(np.mean(((p3 - np.eye(3)[y3]) ** 2).sum(1))))


def _summary(verdicts: dict[str, dict[str, str]], means: dict[str, float]) -> dict:
    base = "ERM (alpha=0)"
    metrics = {n: {"log_loss": {"mean": m, "std": 0.01}} for n, m in means.items()}
    return {"baseline": base, "metrics": metrics,
            "paired_vs_erm": {n: {k: {"verdict": v} for k, v in per.items()} for n, per in verdicts.items()}}


@pytest.mark.parametrize(("verdicts", "expected"), [
    ({"HistGradientBoosting": {"log_loss": "better", "ece": "worse"}, "mixup": {"log_loss": "better"}},
     "use gradient boosting"),
    ({"HistGradientBoosting": {"log_loss": "within noise"}, "mixup": {"log_loss": "better", "ece": "within noise"},
      "regmixup": {"log_loss": "better", "ece": "better"}}, "Recommendation: regmixup;"),
    ({"mixup": {"log_loss": "better", "ece": "worse"}, "regmixup": {"log_loss": "within noise", "ece": "within noise"}},
     "keep ERM (alpha=0); no mixing method improved its log loss or ECE beyond the noise (mixup: worse"),
])
def test_recommendation_follows_the_paired_verdicts(verdicts, expected):
    from mixup_any._cli_report import recommend

    means = {"ERM (alpha=0)": 0.40, "HistGradientBoosting": 0.38, "mixup": 0.39, "regmixup": 0.37}
    assert expected in recommend(_summary(verdicts, means), context="HistGradientBoosting").replace("\n", " ")


# ---------------------------------------------------------------------------------------------- the promise
# Each user error exits 2 with one line on stderr before anything is fitted, printed on stdout or written.
@pytest.fixture
def no_fit(monkeypatch):
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mixup_any.tabular import MixupTabularClassifier

    def fit(self, X, y):
        raise AssertionError("fitted before the options were checked")

    monkeypatch.setattr(MixupTabularClassifier, "fit", fit)
    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", fit)


@pytest.mark.parametrize(("options", "match"), [
    (["--seed", "-1"], "--seed must be an integer from 0 to 4294967295, got -1"),
    (["--seed", "4294967296"], "--seed must be an integer from 0 to 4294967295, got 4294967296"),
    (["--threads", "100000"], "--threads must be an integer from 1 to"),
    (["--threads", "0"], "--threads must be an integer from 1 to"),
    (["--repeats", "1000000000"], "--repeats must be an integer from 1 to 100"),
    (["--folds", "1000000000"], "--folds must be an integer from 2 to"),
    (["--alpha", "1e-300"], "--alpha 1e-300: alpha must be 0 (no mixing) or at least 1e-06"),
    (["--alpha", "0.4", "1e-7"], "--alpha 1e-07: alpha must be 0 (no mixing) or at least 1e-06"),
    (["--quick", "--repeats", "-1"], "--repeats must be an integer from 1 to 100, got -1"),
    (["--quick", "--folds", "0"], "--folds must be an integer from 2 to"),
    (["--out", ""], "--out must name a directory"),
    (["--out", "  "], "--out must name a directory"),
])
def test_out_of_range_options_are_one_line_errors_before_anything_runs(tmp_path, capsys, no_fit, options, match):
    out = tmp_path / "o"
    argv = ["compare", str(_csv(tmp_path)), "--target", "y", "--out", str(out), "--no-progress", *options]
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("mixup-any: error:") and match in err, err
    assert captured.out == "" and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_folds_too_many_for_the_training_rows_of_a_class_is_refused_before_the_header(tmp_path, capsys, no_fit):
    path = tmp_path / "five.csv"
    path.write_text("x,y\n0.1,a\n0.5,b\n0.3,a\n0.9,b\n0.2,a\n")
    for extra in ([], ["--quick"]):
        code = main(["compare", str(path), "--target", "y", "--folds", "2", "--out", str(tmp_path / "o"), *extra])
        captured = capsys.readouterr()
        assert code == 2 and captured.out == "", captured.out
        err = captured.err.strip()
        assert len(err.splitlines()) == 1 and "--folds 2" in err and re.search("class '[ab]'", err), err
        assert "1 row " in err or "1 row;" in err or "1 row," in err, err  # singular
    assert "HistGradientBoosting" in err and "--no-hgb" in err  # the way out is named


def test_rarest_class_message_says_row_not_rows(tmp_path, capsys, no_fit):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n" + "".join(f"{i % 4},{'b' if i == 0 else 'a'}\n" for i in range(12)))
    code = main(["compare", str(path), "--target", "y", "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code, "the rarest class has 1 row, fewer than --folds 5")


def test_quick_never_overrides_an_explicit_option(tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--quick", "--folds", "2", "--repeats", "2",
                 "--epochs", "2", "--methods", "erm", "--no-hgb", "--no-progress", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "2-fold CV x 2 repeats" in stdout and "MLP up to 2 epochs" in stdout
    folds = pd.read_csv(out / "folds.csv")
    assert sorted(set(zip(folds["repeat"], folds["fold"], strict=True))) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert folds["epochs"].max() <= 2
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["args"]["folds"], summary["args"]["repeats"], summary["args"]["epochs"]) == (2, 2, 2)
    # what --quick fills in is what it promises, and the header says "1 repeat", not "1 repeats"
    code = main(["compare", str(_csv(tmp_path)), "--target", "y", "--quick", "--epochs", "2", "--methods", "erm",
                 "--no-hgb", "--no-progress", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0 and "3-fold CV x 1 repeat (seed 0)" in stdout


@pytest.mark.skipif(os.name != "posix", reason="POSIX pipes")
def test_a_closed_pipe_ends_quietly_with_the_results_written(tmp_path):
    out = tmp_path / "o"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as after `| head -0`; later lines fail the same way
    try:
        code = "import sys, mixup_any_cli; sys.exit(mixup_any_cli.main())"
        proc = subprocess.run([sys.executable, "-c", code, "compare", str(_csv(tmp_path)), "--target", "y",
                               "--methods", "erm", "mixup", "--no-hgb", "--out", str(out), *QUICK],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == ["folds.csv", "reliability.png", "summary.json", "summary.txt"]
    assert "Verdict on mixup" in (out / "summary.txt").read_text()


def test_help_is_plain_text_with_a_default_for_every_option(capsys):
    from mixup_any.cli import _parser

    assert main(["compare", "--help"]) == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":class:" not in text and ":func:" not in text
    compare = _parser()._subparsers._group_actions[0].choices["compare"]
    for action in compare._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and "default" in action.help, action.option_strings
    for option in ("--folds", "--repeats", "--seed", "--task", "--threads", "--epochs"):
        line = next(line for line in text.replace("\n                       ", " ").splitlines()
                    if line.strip().startswith(option))
        assert "default" in line, line


def test_the_header_states_the_estimators_validation_split():
    from mixup_any import cli
    from mixup_any.tabular import MixupTabularClassifier, MixupTabularRegressor

    assert cli.VALIDATION_PERCENT == round(100 * MixupTabularClassifier().validation_fraction)
    assert cli.VALIDATION_PERCENT == round(100 * MixupTabularRegressor().validation_fraction)


def test_an_all_empty_column_is_one_line_before_the_header(tmp_path, capsys):
    df = pd.DataFrame({"a": np.arange(12.0) % 5, "b": [None] * 12, "y": ["u", "v"] * 6})
    path = tmp_path / "e.csv"
    df.to_csv(path, index=False)
    assert main(["compare", str(path), "--target", "y", "--no-hgb", "--out", str(tmp_path / "o"), *QUICK]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == "mixup-any: error: column 'b' has no value in any row; --drop it"
    assert not (tmp_path / "o").exists()


def test_integer_columns_are_named_and_categorical_makes_them_categories(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n = 40
    df = pd.DataFrame({"zip": rng.choice([10115, 20095, 80331], size=n), "x": rng.normal(size=n),
                       "y": rng.choice(["a", "b"], size=n)})
    path = tmp_path / "z.csv"
    df.to_csv(path, index=False)
    args = ["compare", str(path), "--target", "y", "--no-hgb", "--methods", "erm", *QUICK]
    assert main([*args, "--out", str(tmp_path / "o1")]) == 0
    out = capsys.readouterr().out
    assert "2 features (2 continuous, 0 categorical)" in out
    assert "integers taken as numbers: zip (codes such as zip codes: --categorical COL)" in out
    assert main([*args, "--categorical", "zip", "--out", str(tmp_path / "o2")]) == 0
    out = capsys.readouterr().out
    assert "2 features (1 continuous, 1 categorical)" in out and "integers taken" not in out
    assert main([*args, "--categorical", "nope", "--out", str(tmp_path / "o3")]) == 2
    assert "--categorical names 'nope', which is not a feature column" in capsys.readouterr().err
