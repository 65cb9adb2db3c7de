"""The ``mixup-any`` command: does mixup help on *your* table? Repeated k-fold CV of ERM vs mixup.

    mixup-any compare                        # built-in real data (credit scoring, 4,454 rows), offline
    mixup-any compare data.csv --target y    # your CSV (--sep ';', --encoding latin-1 for other dialects)
    mixup-any compare --alpha 0.1 0.4 1.0 --folds 5 --repeats 3 --out results/

Prints mean ± std over folds, the paired difference of each mixup run against ERM with a 95%
corrected-t interval (Nadeau & Bengio, 2003: folds share training rows, so the naive interval is
too narrow), says plainly when a difference is within the fold-to-fold noise, adds scikit-learn's
HistGradientBoosting as context, and writes the tables and a reliability diagram to ``--out``.
User errors (bad option, missing file or column, unwritable --out, one-class target, empty data) exit
with status 2 and one line on stderr, before anything is fitted or written; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import codecs
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from ._cli_report import recommend, render, summarise
from ._imports import is_available, require
from .exceptions import MixupError

__all__ = ["main"]

BUILTIN_TARGET = "Status"
OUTPUTS = ("folds.csv", "summary.json", "summary.txt", "reliability.png")  # the files the command owns
CONTEXT = "HistGradientBoosting"
BASELINE = "ERM (alpha=0)"
METHODS = ("erm", "mixup", "regmixup", "inputs_only")


class UserError(Exception):
    """A problem with the command line or the data: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + error
        raise UserError(f"{message} (see {self.prog} --help)")


def _warn(args: argparse.Namespace, message: str) -> None:
    """Queue a warning; they are printed once the data passed every check (an error stays one line)."""
    args.warnings.append(message)


def _print_warnings(args: argparse.Namespace) -> None:
    if not args.no_warnings:
        for message in args.warnings:
            print(f"mixup-any: warning: {message} (--no-warnings silences this)", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- checks
def _check_args(args: argparse.Namespace) -> None:
    """Option values that argparse's types do not catch; nothing is imported or read yet."""
    if args.quick:
        args.folds, args.repeats, args.epochs = min(args.folds, 3), 1, min(args.epochs, 30)
    if args.folds < 2:
        raise UserError(f"--folds must be at least 2, got {args.folds}")
    if args.repeats < 1 or args.epochs < 1:
        raise UserError(f"--repeats and --epochs must be at least 1, got {args.repeats} and {args.epochs}")
    if args.threads < 0:
        raise UserError(f"--threads must be 0 (torch's default) or a positive number, got {args.threads}")
    bad = [a for a in args.alpha if not (math.isfinite(a) and a >= 0)]
    if bad:
        raise UserError(f"--alpha values must be finite numbers >= 0 (0 = no mixing), got {bad[0]}")
    if args.sep in ("\\t", "tab"):
        args.sep = "\t"
    if not args.sep:
        raise UserError("--sep must not be empty (e.g. --sep ';' or --sep tab)")
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise UserError(f"unknown --encoding {args.encoding!r} (e.g. utf-8, latin-1, cp1252)") from None
    if args.target is not None and args.target in args.drop:
        raise UserError(f"--drop names the target column {args.target!r}; drop only feature columns")
    if args.csv is not None:
        path = Path(args.csv)
        if path.is_dir():
            raise UserError(f"{path} is a directory, not a CSV file")
        if not path.exists():
            raise UserError(f"no such CSV file: {path}")
        if args.target is None:
            raise UserError("--target COL is required with a CSV (the column to predict)")
    _check_out(Path(args.out))


def _check_out(out: Path) -> None:
    """``--out`` must be a directory we can create or write in; checked before any fitting."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is an existing file; give a directory")
    parent = out.absolute()
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"--out {out} is under {parent}, which is a file, not a directory")
    try:
        tempfile.TemporaryDirectory(dir=parent, prefix=".mixup-any-probe-").cleanup()
    except OSError as err:
        raise UserError(f"--out {out}: cannot write in {parent} ({err.strerror or err})") from None
    for name in OUTPUTS:
        if (out / name).is_dir():
            raise UserError(f"--out {out} holds a directory named {name}, where an output file goes")


# ---------------------------------------------------------------------------------------------- data
def _load(args: argparse.Namespace) -> tuple[Any, Any, str]:
    import pandas as pd

    if args.csv is None:
        from .tabular.datasets import CREDIT_DATA_SOURCE, load_credit_data

        df, name, target = load_credit_data(), CREDIT_DATA_SOURCE, args.target or BUILTIN_TARGET
    else:
        path, name, target = Path(args.csv), Path(args.csv).name, args.target
        try:
            df = pd.read_csv(path, sep=args.sep, encoding=args.encoding)
        except UnicodeDecodeError:
            raise UserError(f"cannot read {name} as {args.encoding} text; "
                            "pass the file's encoding, e.g. --encoding latin-1") from None
        except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, OSError) as err:
            raise UserError(f"cannot read {name} as CSV: {str(err).strip().splitlines()[0]}") from None
    if df.shape[0] == 0:
        raise UserError(f"{name}: the table has no rows")
    if target not in df.columns:
        cols = [str(c) for c in df.columns]
        listed = ", ".join(cols[:20]) + (f", ... ({len(cols)} columns)" if len(cols) > 20 else "")
        hint = next((f"; the header was read as one column: pass --sep {s!r}" if s != "\t" else
                     "; the header was read as one column: pass --sep tab"
                     for s in (";", "\t", "|") if len(cols) == 1 and s in cols[0]), "")
        raise UserError(f"target column {target!r} not found{hint}; columns are: {listed}")
    missing = [c for c in args.drop if c not in df.columns]
    if missing:
        raise UserError(f"--drop names unknown columns: {', '.join(map(repr, missing))}")
    if target in args.drop:
        raise UserError(f"--drop names the target column {target!r}; drop only feature columns")
    ids = _identifier_like(df.drop(columns=[target, *args.drop]))  # on every row, before any is dropped
    n_missing = int(df[target].isna().sum())
    if n_missing == len(df):
        raise UserError(f"every value of the target column {target!r} is missing")
    if n_missing:
        _warn(args, f"dropped {n_missing} of {len(df)} rows whose target {target!r} is missing")
        df = df[df[target].notna()]
    df = df.drop(columns=args.drop)
    y = df.pop(target)
    if df.shape[1] == 0:
        raise UserError("there are no feature columns besides the target")
    for col in ids:
        _warn(args, f"column {col!r} looks like an identifier (a different value in every row) and is used as a "
                    f"feature; --drop it if it is not one")
    return df, y, name


def _identifier_like(X: Any) -> list[str]:
    """Columns with a distinct value in every row: text labels (names, ids) or a run of row numbers."""
    import pandas as pd

    n = len(X)
    found: list[str] = []
    if n < 10:
        return found
    for col in X.columns:
        s = X[col]
        if s.isna().any() or s.nunique() != n or pd.api.types.is_bool_dtype(s.dtype):
            continue
        if pd.api.types.is_integer_dtype(s.dtype):
            if int(s.max()) - int(s.min()) == n - 1:  # n distinct integers in a range of n: row numbers
                found.append(str(col))
        elif not pd.api.types.is_numeric_dtype(s.dtype):
            found.append(str(col))
    return found


def _task(y: Any, args: argparse.Namespace) -> str:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype)
    task = args.task
    if task == "regression" and not numeric:
        example = y.iloc[0]
        raise UserError(f"--task regression needs a numeric target; {y.name!r} holds text such as {example!r}")
    if task == "auto":
        task = "classification"
        if numeric and (y.nunique() > 20 or not (y == y.round()).all()):
            task = "regression"
    if task == "classification" and args.pairing == "label_distance":
        raise UserError(f"--pairing label_distance (C-Mixup) pairs rows with close regression targets, but "
                        f"{y.name!r} is a classification target (--task regression if it is a number)")
    return task


# ---------------------------------------------------------------------------------------------- models
def _models(args: argparse.Namespace, task: str) -> dict[str, Any]:
    """ERM, then each mixing method of ``--methods`` at each ``--alpha``: ``{row name: unfitted estimator}``."""
    from .tabular import MixupTabularClassifier, MixupTabularRegressor

    est = MixupTabularClassifier if task == "classification" else MixupTabularRegressor
    common = dict(max_epochs=args.epochs, policy=args.policy, random_state=args.seed)
    models = {BASELINE: est(mode="erm", alpha=0.0, **common)}
    for method in (m for m in args.methods if m != "erm"):
        label = "C-Mixup" if method == "mixup" and args.pairing == "label_distance" else method
        for a in args.alpha:
            models[f"{label} alpha={a:g}"] = est(mode=method, alpha=a, pairing=args.pairing, **common)
    return models


def _hgb(task: str, seed: int) -> Any:
    """Gradient boosting as a well-configured baseline: a small learning rate, early stopping on 20% of the rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    return cls(learning_rate=0.05, max_iter=1000, early_stopping=True, validation_fraction=0.2, n_iter_no_change=20,
               categorical_features="from_dtype", random_state=seed)


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


def _class_metrics(probs: Any, y_idx: Any) -> dict[str, float]:
    import torch
    from sklearn.metrics import brier_score_loss

    from . import metrics

    p, y = torch.as_tensor(probs, dtype=torch.float64), torch.as_tensor(y_idx, dtype=torch.int64)
    # scikit-learn's Brier score: for two classes the mean squared error of the positive class's probability
    # (half the sum over both classes), for more the mean over rows of the summed squared errors
    brier = brier_score_loss(y_idx, probs[:, 1] if probs.shape[1] == 2 else probs, labels=list(range(probs.shape[1])))
    return {"accuracy": metrics.accuracy(p, y), "log_loss": metrics.log_loss(p, y),
            "ece": metrics.expected_calibration_error(p, y), "brier": float(brier)}


def _reg_metrics(pred: Any, y: Any) -> dict[str, float]:
    import numpy as np

    err = np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)
    var = float(np.var(np.asarray(y, dtype=float)))
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.mean(err**2)) / var if var > 0 else float("nan")}


# ---------------------------------------------------------------------------------------------- compare
def _compare(args: argparse.Namespace) -> int:
    for module in ("pandas", "sklearn", "tqdm"):  # one line naming the extra if one is missing
        if not is_available(module):
            require(module, "tabular", feature="mixup-any compare")
    import numpy as np

    X, y, name = _load(args)
    task = _task(y, args)

    import torch
    from sklearn.base import clone
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold
    from tqdm import tqdm

    from .tabular.schema import infer_schema

    classes: Any = None  # numpy arrays (classification only)
    y_idx: Any = None
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
    try:
        schema = infer_schema(X)
    except MixupError as err:  # a column we cannot use: report it in one line
        raise UserError(str(err).strip().splitlines()[0]) from None

    _print_warnings(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    models = _models(args, task)
    names = list(models) + ([] if args.no_hgb else [CONTEXT])
    splits = list(cv.split(X, y_idx))
    print(f"mixup-any compare: {name}", flush=True)
    print(f"  {len(X)} rows, {X.shape[1]} features ({len(schema.continuous)} continuous, "
          f"{len(schema.categorical)} categorical), target {y.name!r} "
          + (f"({len(classes)} classes)" if task == "classification" else "(regression)"), flush=True)
    print(f"  {args.folds}-fold CV x {args.repeats} repeats (seed {args.seed}); MLP up to {args.epochs} epochs,\n"
          f"  early stopping on a 10% validation split; categorical mixing: {args.policy}", flush=True)

    bar = tqdm(total=len(splits) * len(names), desc="fitting", unit="fit", disable=args.no_progress or None,
               file=sys.stderr)
    folds: list[dict[str, Any]] = []
    pooled: dict[str, list[Any]] = {}
    hgb_X: Any = _hgb_frame(X) if not args.no_hgb else None  # used only by the CONTEXT model
    t0 = time.perf_counter()
    for k, (tr, te) in enumerate(splits):
        rep = k // args.folds
        for mname in names:
            bar.set_postfix_str(f"repeat {rep + 1} fold {k % args.folds + 1}: {mname}")
            row: dict[str, Any] = {"model": mname, "repeat": rep, "fold": k % args.folds}
            calibrated = None
            if mname == CONTEXT:
                est = _hgb(task, args.seed).fit(hgb_X.iloc[tr], y_fit[tr])
                if task == "classification":
                    probs = est.predict_proba(hgb_X.iloc[te])
                    row |= _class_metrics(probs, y_idx[te])
                else:
                    row |= _reg_metrics(est.predict(hgb_X.iloc[te]), y_fit[te])
            else:
                est = clone(models[mname]).fit(X.iloc[tr], y_fit[tr])
                if task == "classification":
                    logits = est.predict_logits(X.iloc[te])
                    probs = est._proba_from_logits(logits, 1.0)
                    calibrated = est._proba_from_logits(logits, est.temperature_)
                    row |= _class_metrics(probs, y_idx[te])
                    scaled = _class_metrics(calibrated, y_idx[te])
                    row["log_loss_ts"], row["ece_ts"] = scaled["log_loss"], scaled["ece"]
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

    if task == "classification":
        metrics = ["accuracy", "log_loss", "log_loss_ts", "ece", "ece_ts", "brier"]
        notes = ["'temp.-scaled' = logits divided by a temperature fitted on the validation split",
                 "Brier as scikit-learn's brier_score_loss (two classes: mean squared error of the positive "
                 "class's probability)"]
    else:
        metrics, notes = ["rmse", "mae", "r2"], []
    summary = summarise(folds, names, metrics, 1.0 / (args.folds - 1))
    text = render(summary, names, metrics, len(splits), context=[CONTEXT], footnotes=notes)
    text += "\n" + recommend(summary, context=CONTEXT)
    print("\n" + text)
    print(f"({len(splits) * len(names)} fits in {elapsed:.0f} s)")
    files = _outputs(folds, summary, text, pooled, y_idx, 0 if classes is None else len(classes), args)
    _write_outputs(Path(args.out), files)
    print("wrote " + ", ".join(str(Path(args.out) / f) for f in files))
    return 0


def _outputs(folds: list[dict[str, Any]], summary: dict[str, Any], text: str, pooled: dict[str, list[Any]],
             y_idx: Any, n_classes: int, args: argparse.Namespace) -> dict[str, bytes]:
    import pandas as pd

    files = {
        "folds.csv": pd.DataFrame(folds).to_csv(index=False).encode(),
        "summary.json": json.dumps({"args": {k: v for k, v in vars(args).items() if k != "warnings"},
                                    "warnings": args.warnings, **summary},
                                   indent=2, default=str).encode(),
        "summary.txt": (text + "\n").encode(),
    }
    if pooled:
        if is_available("matplotlib"):
            files["reliability.png"] = _reliability_png(pooled, y_idx, n_classes)
        else:
            print("note: matplotlib is not installed, so no reliability diagram was drawn "
                  "(pip install 'mixup-any[viz]').")
    return files


def _write_outputs(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into ``out`` all at once: a new directory is renamed into place; in an existing one,
    the files this command owns are replaced (and a stale one from an earlier run removed)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as err:
        raise UserError(f"cannot write the outputs to {out}: {err.strerror or err}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        for fname, data in files.items():
            (tmp / fname).write_bytes(data)
            os.chmod(tmp / fname, 0o666 & ~umask)  # mkstemp-style files are 0600; give the usual permissions
        if out.is_dir():
            for fname in OUTPUTS:
                if fname not in files:
                    (out / fname).unlink(missing_ok=True)
            for fname in files:
                os.replace(tmp / fname, out / fname)
            tmp.rmdir()
        else:
            os.chmod(tmp, 0o777 & ~umask)
            os.rename(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"cannot write the outputs to {out}: {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
    ap.add_argument("--version", action="version", version=f"mixup-any {__version__}")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    c = sub.add_parser("compare", help="repeated k-fold CV of ERM vs mixup on a table",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("csv", nargs="?", help="a CSV file (default: built-in credit_data from R package modeldata)")
    c.add_argument("--target", help="column to predict (default for the built-in data: Status)")
    c.add_argument("--sep", default=",", help="field separator of the CSV (default ','; e.g. ';' or tab)")
    c.add_argument("--encoding", default="utf-8", help="text encoding of the CSV (default utf-8; e.g. latin-1)")
    c.add_argument("--task", choices=["auto", "classification", "regression"], default="auto")
    c.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to ignore (ids, leaks)")
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--repeats", type=int, default=2)
    c.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD",
                   help="training methods, each against ERM: erm, mixup, regmixup (clean loss + the mixup loss), "
                        "inputs_only (mixed inputs, the dominant input's label); default: all")
    c.add_argument("--alpha", type=float, nargs="+", default=[0.4],
                   help="one or more alphas (an alpha grid) for each mixing method")
    c.add_argument("--pairing", choices=["permute", "label_distance"], default="permute",
                   help="label_distance = C-Mixup (regression only)")
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
    c.add_argument("--no-warnings", action="store_true",
                   help="no warnings about dropped rows or identifier-like columns")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mixup-any``; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            raise UserError("choose a command: mixup-any compare [CSV] --target COL (see mixup-any --help)")
        args.warnings = []
        _check_args(args)
        return _compare(args)
    except SystemExit as exit_:  # --help, --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except UserError as err:
        print(f"mixup-any: error: {err}", file=sys.stderr)
        return 2
    except MixupError as err:  # the data or options were refused by the library: say why, in one line
        print(f"mixup-any: error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:  # an optional dependency (see the install hint)
        print(f"mixup-any: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixup-any: interrupted; no outputs written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
