"""The ``mixup-any`` command: does mixup help on *your* table? Repeated k-fold CV of ERM vs mixup.

    mixup-any compare                        # built-in real data (credit scoring, 4,454 rows), offline
    mixup-any compare data.csv --target y    # your CSV
    mixup-any compare --alpha 0.1 0.4 1.0 --folds 5 --repeats 3 --out results/

Prints mean ± std over folds, the paired difference of each mixup run against ERM with a 95%
corrected-t interval (Nadeau & Bengio, 2003: folds share training rows, so the naive interval is
too narrow), says plainly when a difference is within the fold-to-fold noise, adds scikit-learn's
HistGradientBoosting as context, and writes the tables and a reliability diagram to ``--out``.
User errors (missing file or column, one-class target, empty data) exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]

_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]
BUILTIN = ("modeldata", "credit_data", "Status")


class UserError(Exception):
    """A problem with the command line or the data: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + error
        raise UserError(f"{message} (see mixup-any {self.prog.split()[-1]} --help)")


def _t_crit(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


# ---------------------------------------------------------------------------------------------- data
def _load(args: argparse.Namespace) -> tuple[Any, Any, str]:
    import pandas as pd

    if args.csv is None:
        from .tabular.datasets import CREDIT_DATA_SOURCE, load_credit_data

        df = load_credit_data()
        name, target = CREDIT_DATA_SOURCE, BUILTIN[2]
        target = args.target or target
    else:
        path = Path(args.csv)
        if not path.is_file():
            raise UserError(f"no such CSV file: {path}")
        if args.target is None:
            raise UserError("--target COL is required with a CSV (the column to predict)")
        try:
            df = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise UserError(f"cannot read {path} as CSV: {str(err).splitlines()[0]}") from err
        name, target = path.name, args.target
    if df.shape[0] == 0:
        raise UserError(f"{name}: the table has no rows")
    if target not in df.columns:
        raise UserError(f"target column {target!r} not found; columns are: {', '.join(map(str, df.columns))}")
    df = df[df[target].notna()]
    if args.drop:
        missing = [c for c in args.drop if c not in df.columns]
        if missing:
            raise UserError(f"--drop names unknown columns: {missing}")
        df = df.drop(columns=args.drop)
    y = df.pop(target)
    if df.shape[1] == 0:
        raise UserError("there are no feature columns besides the target")
    if len(df) == 0:
        raise UserError(f"every value of the target column {target!r} is missing")
    return df, y, name


def _task(y: Any, requested: str) -> str:
    import pandas as pd

    if requested != "auto":
        return requested
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        if y.nunique() > 20 or not (y.dropna() == y.dropna().round()).all():
            return "regression"
    return "classification"


# ---------------------------------------------------------------------------------------------- models
def _models(args: argparse.Namespace, task: str) -> dict[str, Any]:
    from .tabular import MixupTabularClassifier, MixupTabularRegressor

    est = MixupTabularClassifier if task == "classification" else MixupTabularRegressor
    common = dict(max_epochs=args.epochs, categorical_mixing=args.policy, random_state=args.seed)
    models = {"ERM (alpha=0)": est(alpha=0.0, **common)}
    for a in args.alpha:
        label = "C-Mixup" if args.pairing == "label_distance" else "mixup"
        models[f"{label} alpha={a:g}"] = est(alpha=a, pairing=args.pairing, **common)
    return models


def _hgb(task: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    return cls(categorical_features="from_dtype", random_state=seed)


def _hgb_frame(X: Any) -> Any:
    """Object/bool/string columns as pandas categories (low cardinality) or ordinal codes (high)."""
    import pandas as pd

    X = X.copy()
    for c in X.columns:
        s = X[c]
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype("category")
            X[c] = s if len(s.cat.categories) <= 250 else s.cat.codes.replace(-1, float("nan")).astype(float)
    return X


# ---------------------------------------------------------------------------------------------- metrics
def _class_metrics(probs: Any, y_idx: Any) -> dict[str, float]:
    import torch

    from . import metrics

    p, y = torch.as_tensor(probs, dtype=torch.float64), torch.as_tensor(y_idx, dtype=torch.int64)
    return {"accuracy": metrics.accuracy(p, y), "log_loss": metrics.log_loss(p, y),
            "ece": metrics.expected_calibration_error(p, y), "brier": metrics.brier_score(p, y)}


def _reg_metrics(pred: Any, y: Any) -> dict[str, float]:
    import numpy as np

    err = np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)
    var = float(np.var(np.asarray(y, dtype=float)))
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.mean(err**2)) / var if var > 0 else float("nan")}


_HIGHER_BETTER = {"accuracy": True, "log_loss": False, "ece": False, "ece_ts": False, "brier": False,
                  "rmse": False, "mae": False, "r2": True}
_LABELS = {"accuracy": "accuracy", "log_loss": "log loss", "ece": "ECE", "ece_ts": "ECE (temp.-scaled)",
           "brier": "Brier", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}


def _mean_sd(v: Sequence[float]) -> tuple[float, float]:
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


def _paired(a: Sequence[float], b: Sequence[float], test_over_train: float) -> dict[str, float]:
    """Mean of ``a - b`` with a 95% Nadeau-Bengio corrected resampled-t interval."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    m, sd = _mean_sd(d)
    j = len(d)
    se = math.sqrt((1.0 / j + test_over_train) * sd**2) if j > 1 else float("nan")
    h = _t_crit(j - 1) * se if j > 1 else float("nan")
    return {"diff": m, "low": m - h, "high": m + h, "se": se}


# ---------------------------------------------------------------------------------------------- compare
def _compare(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    from ._imports import require

    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, name = _load(args)
    task = _task(y, args.task)
    if task == "classification":
        classes, y_idx = np.unique(y.astype(str).to_numpy(), return_inverse=True)
        if len(classes) < 2:
            raise UserError(f"the target has only one class ({classes[0]!r}); nothing to classify")
        smallest = int(np.bincount(y_idx).min())
        if smallest < args.folds:
            raise UserError(f"the rarest class has {smallest} rows, fewer than --folds {args.folds}; "
                            "use fewer folds")
        cv = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)
        y_fit = classes[y_idx]
    else:
        y_fit = y.astype(float).to_numpy()
        cv = RepeatedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)
    if len(X) < 2 * args.folds:
        raise UserError(f"{len(X)} rows are too few for {args.folds}-fold cross-validation")

    from .tabular import infer_schema

    try:
        schema = infer_schema(X)
    except Exception as err:  # a column we cannot use: report it in one line
        raise UserError(str(err)) from err
    models = _models(args, task)
    names = list(models) + ([] if args.no_hgb else ["HistGradientBoosting"])
    splits = list(cv.split(X, y_idx if task == "classification" else None))
    print(f"mixup-any compare: {name}", flush=True)
    print(f"  {len(X)} rows, {X.shape[1]} features ({len(schema.continuous)} continuous, "
          f"{len(schema.categorical)} categorical), target {y.name!r} "
          + (f"({len(classes)} classes)" if task == "classification" else "(regression)"), flush=True)
    print(f"  {args.folds}-fold CV x {args.repeats} repeats (seed {args.seed}); MLP up to {args.epochs} epochs, "
          f"early stopping on a 10% validation split; categorical mixing: {args.policy}", flush=True)

    tqdm = require("tqdm", feature="mixup-any compare").tqdm
    bar = tqdm(total=len(splits) * len(names), desc="fitting", unit="fit", disable=args.no_progress or None,
               file=sys.stderr)
    folds: list[dict[str, Any]] = []
    pooled: dict[str, list[Any]] = {}
    hgb_X = _hgb_frame(X) if not args.no_hgb else None
    t0 = time.perf_counter()
    for k, (tr, te) in enumerate(splits):
        rep = k // args.folds
        for mname in names:
            bar.set_postfix_str(f"repeat {rep + 1} fold {k % args.folds + 1}: {mname}")
            row: dict[str, Any] = {"model": mname, "repeat": rep, "fold": k % args.folds}
            if mname == "HistGradientBoosting":
                est = _hgb(task, args.seed).fit(hgb_X.iloc[tr], y_fit[tr])
                if task == "classification":
                    probs = est.predict_proba(hgb_X.iloc[te])
                    row |= _class_metrics(probs, y_idx[te])
                    calibrated = None
                else:
                    row |= _reg_metrics(est.predict(hgb_X.iloc[te]), y_fit[te])
            else:
                from sklearn.base import clone

                est = clone(models[mname]).fit(X.iloc[tr], y_fit[tr])
                if task == "classification":
                    logits = est.predict_logits(X.iloc[te])
                    probs = est._proba_from_logits(logits, 1.0)
                    calibrated = est._proba_from_logits(logits, est.temperature_)
                    row |= _class_metrics(probs, y_idx[te])
                    row["ece_ts"] = _class_metrics(calibrated, y_idx[te])["ece"]
                    row["temperature"] = est.temperature_
                else:
                    row |= _reg_metrics(est.predict(X.iloc[te]), y_fit[te])
                row["epochs"] = est.n_epochs_
            if task == "classification" and rep == 0:
                pooled.setdefault(mname, []).append((te, probs))
                if calibrated is not None:
                    pooled.setdefault(f"{mname} + temp. scaling", []).append((te, calibrated))
            folds.append(row)
            bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - t0

    metrics_list = (["accuracy", "log_loss", "ece", "ece_ts", "brier"] if task == "classification"
                    else ["rmse", "mae", "r2"])
    summary = _summarise(folds, names, metrics_list, 1.0 / (args.folds - 1))
    text = _render(summary, names, metrics_list, len(splits))
    print(text)
    print(f"({len(splits) * len(names)} fits in {elapsed:.0f} s)")
    _write_outputs(Path(args.out), folds, summary, text, pooled, y_idx if task == "classification" else None,
                   len(classes) if task == "classification" else 0, args)
    return 0


def _summarise(folds: list[dict[str, Any]], names: list[str], metrics_list: list[str],
               test_over_train: float) -> dict[str, Any]:
    per: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for r in folds:
        for m in metrics_list:
            if m in r:
                per[r["model"]].setdefault(m, []).append(r[m])
    table = {n: {m: dict(zip(("mean", "std"), _mean_sd(v), strict=True)) for m, v in per[n].items()} for n in names}
    erm = names[0]
    diffs: dict[str, dict[str, Any]] = {}
    for n in names[1:]:
        diffs[n] = {}
        for m in metrics_list:
            if m in per[n] and m in per[erm]:
                d = _paired(per[n][m], per[erm][m], test_over_train)
                if math.isnan(d["low"]):
                    d["verdict"] = "n/a (one fold)"
                elif d["low"] <= 0 <= d["high"]:
                    d["verdict"] = "within noise"
                else:
                    d["verdict"] = "better" if (d["diff"] > 0) == _HIGHER_BETTER[m] else "worse"
                diffs[n][m] = d
    return {"metrics": table, "paired_vs_erm": diffs, "baseline": erm}


def _render(summary: dict[str, Any], names: list[str], metrics_list: list[str], n_folds: int) -> str:
    width = max(len(n) for n in names) + 2
    head = f"\n{'model':<{width}}" + "".join(f"{_LABELS[m]:>20}" for m in metrics_list)
    lines = [head, "-" * len(head.strip("\n"))]
    for n in names:
        cells = []
        for m in metrics_list:
            s = summary["metrics"][n].get(m)
            cells.append(f"{s['mean']:.4f} ± {s['std']:.4f}" if s else "—")
        lines.append(f"{n:<{width}}" + "".join(f"{c:>20}" for c in cells))
    lines.append(f"(mean ± std over {n_folds} folds; 'temp.-scaled' = logits divided by a temperature fitted on "
                 "the validation split)")
    any_beyond = False
    for n, per_m in summary["paired_vs_erm"].items():
        lines.append(f"\n{n} minus {summary['baseline']} (paired over folds, 95% corrected-t interval):")
        for m, d in per_m.items():
            lines.append(f"  {_LABELS[m]:<20} {d['diff']:+.4f}  [{d['low']:+.4f}, {d['high']:+.4f}]  {d['verdict']}")
            if n != "HistGradientBoosting":
                any_beyond |= d["verdict"] in ("better", "worse")
    if any(n != "HistGradientBoosting" for n in summary["paired_vs_erm"]):
        lines.append("\nVerdict on mixup: " + (
            "some differences from ERM exceed the fold-to-fold noise (marked 'better' / 'worse' above); "
            "the others are within it." if any_beyond else
            "every difference from ERM is within the fold-to-fold noise; on this table mixup neither helps nor "
            "hurts measurably."))
    return "\n".join(lines)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give outputs the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_outputs(out: Path, folds: list[dict[str, Any]], summary: dict[str, Any], text: str,
                   pooled: dict[str, list[Any]], y_idx: Any, n_classes: int, args: argparse.Namespace) -> None:
    import pandas as pd

    from ._imports import is_available

    out.mkdir(parents=True, exist_ok=True)
    written = []
    files = {
        "folds.csv": pd.DataFrame(folds).to_csv(index=False).encode(),
        "summary.json": json.dumps({"args": {k: v for k, v in vars(args).items() if k != "func"}, **summary},
                                   indent=2, default=str).encode(),
        "summary.txt": (text + "\n").encode(),
    }
    png = None
    if pooled:
        if is_available("matplotlib"):
            png = _reliability_png(pooled, y_idx, n_classes)
        else:
            print("note: matplotlib is not installed, so no reliability diagram was drawn "
                  "(pip install 'mixup-any[viz]').")
    if png is not None:
        files["reliability.png"] = png
    for fname, data in files.items():
        _atomic_write(out / fname, data)
        written.append(str(out / fname))
    print("wrote " + ", ".join(written))


def _reliability_png(pooled: dict[str, list[Any]], y_idx: Any, n_classes: int, n_bins: int = 15) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 5.0), dpi=110)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    for name, parts in pooled.items():
        idx = np.concatenate([p[0] for p in parts])
        probs = np.concatenate([p[1] for p in parts])
        conf, pred = probs.max(1), probs.argmax(1)
        correct = pred == np.asarray(y_idx)[idx]
        bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
        xs, ys = [], []
        for b in range(n_bins):
            sel = bins == b
            if sel.sum() >= 5:
                xs.append(conf[sel].mean())
                ys.append(correct[sel].mean())
        ax.plot(xs, ys, marker="o", ms=3, lw=1.2, label=name)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    lo = 1.0 / max(n_classes, 2) - 0.02
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(max(0.0, lo - 0.15), 1.02)
    ax.set_title("Reliability (out-of-fold predictions, first repeat)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- entry
def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="mixup-any", description="mixup for every kind of data; `compare` measures it on a table.")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    c = sub.add_parser("compare", help="repeated k-fold CV of ERM vs mixup on a table",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("csv", nargs="?", help="a CSV file (default: built-in credit_data from R package modeldata)")
    c.add_argument("--target", help="column to predict (default for the built-in data: Status)")
    c.add_argument("--task", choices=["auto", "classification", "regression"], default="auto")
    c.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to ignore (ids, leaks)")
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--repeats", type=int, default=2)
    c.add_argument("--alpha", type=float, nargs="+", default=[0.4], help="one or more alphas (an alpha grid)")
    c.add_argument("--pairing", choices=["permute", "label_distance"], default="permute",
                   help="label_distance = C-Mixup (regression)")
    c.add_argument("--policy", choices=["embedding", "onehot", "swap"], default="embedding",
                   help="how categorical variables are mixed")
    c.add_argument("--epochs", type=int, default=100, help="max epochs (early stopping usually ends sooner)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest for these small MLPs; 0 = torch default)")
    c.add_argument("--out", default="mixup-any-results", help="directory for the tables and the plot")
    c.add_argument("--quick", action="store_true", help="3 folds x 1 repeat, at most 30 epochs")
    c.add_argument("--no-hgb", action="store_true", help="skip the HistGradientBoosting context row")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mixup-any``; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            raise UserError("choose a command: mixup-any compare [CSV] --target COL (see mixup-any --help)")
        if args.quick:
            args.folds, args.repeats, args.epochs = min(args.folds, 3), 1, min(args.epochs, 30)
        if args.folds < 2:
            raise UserError(f"--folds must be at least 2, got {args.folds}")
        if args.repeats < 1 or args.epochs < 1:
            raise UserError("--repeats and --epochs must be at least 1")
        if any(a < 0 for a in args.alpha):
            raise UserError(f"--alpha values must be >= 0, got {args.alpha}")
        return _compare(args)
    except UserError as err:
        print(f"mixup-any: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:  # an optional dependency (see the install hint)
        print(f"mixup-any: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixup-any: interrupted; no outputs written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
