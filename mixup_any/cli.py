"""The mixup-any command: does mixup help on *your* table? Repeated k-fold CV of ERM vs mixup.

    mixup-any compare                        # built-in real data (credit scoring, 4,454 rows), offline
    mixup-any compare data.csv --target y    # your CSV (--sep ';', --encoding latin-1 for other dialects)
    mixup-any compare --alpha 0.1 0.4 1.0 --folds 5 --repeats 3 --out results/

Prints mean ± std over folds, the paired difference of each mixup run against ERM with a 95%
corrected-t interval (Nadeau & Bengio, 2003: folds share training rows, so the naive interval is
too narrow), says plainly when a difference is within the fold-to-fold noise, adds scikit-learn's
HistGradientBoosting as context, and writes the tables and a reliability diagram to --out.
User errors (an option out of range, a missing file or column, an unwritable --out, a one-class target,
too few rows for the folds) exit with status 2 and one line on stderr, before anything is fitted or
written; Ctrl-C exits with 130; a reader that stops early (| head) does not stop the files being written.
"""

from __future__ import annotations

import argparse
import codecs
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from ._cli_data import UserError, class_codes, load, plural, task_of
from ._cli_fit import CONTEXT, HGB_VALIDATION, fit_folds, models
from ._cli_outputs import OUTPUTS, outputs, say, write_outputs
from ._cli_report import recommend, render, summarise
from .exceptions import MixupError
from .extras import require

__all__: list[str] = []  # internal: the public names are re-exported by the package

QUICK = {"folds": 3, "repeats": 1, "epochs": 30}  # what --quick fills in where the option is not given
FULL = {"folds": 5, "repeats": 2, "epochs": 100}
VALIDATION_PERCENT = 20  # the estimators' default validation_fraction, which compare keeps (tested)
MAX_FOLDS, MAX_REPEATS, MAX_EPOCHS = 100, 100, 100_000
METHODS = ("erm", "mixup", "regmixup", "inputs_only")
CLASS_METRICS = ["accuracy", "log_loss", "log_loss_ts", "ece", "ece_ts", "brier"]
CLASS_NOTES = ["'temp.-scaled' = logits divided by a temperature fitted on the validation split",
               "Brier as scikit-learn's brier_score_loss (two classes: mean squared error of the positive "
               "class's probability)"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + error
        raise UserError(f"{message} (see {self.prog} --help)")


def _check_args(args: argparse.Namespace) -> None:
    """Option values that argparse's types do not catch; nothing is read, fitted or written yet."""
    quick = QUICK if args.quick else FULL  # --quick fills in only what was not given
    for name in quick:
        if getattr(args, name) is None:
            setattr(args, name, quick[name])
    _in_range("--folds", args.folds, 2, MAX_FOLDS)
    _in_range("--repeats", args.repeats, 1, MAX_REPEATS)
    _in_range("--epochs", args.epochs, 1, MAX_EPOCHS)
    _in_range("--seed", args.seed, 0, 2**32 - 1)
    _in_range("--threads", args.threads, 1, os.cpu_count() or 1)
    bad = [a for a in args.alpha if not (math.isfinite(a) and a >= 0)]
    if bad:
        raise UserError(f"--alpha values must be finite numbers >= 0 (0 = no mixing), got {bad[0]}")
    from .policies import LamPolicy

    for a in args.alpha:  # the library's own check, as a fit would make it
        try:
            LamPolicy(alpha=a)
        except MixupError as err:
            raise UserError(f"--alpha {a:g}: {str(err).strip().splitlines()[0]}") from None
    _check_csv_options(args)
    _check_out(args.out)


def _in_range(option: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UserError(f"{option} must be an integer from {low} to {high}, got {value}")


def _check_csv_options(args: argparse.Namespace) -> None:
    if args.sep in ("\\t", "tab"):
        args.sep = "\t"
    if not args.sep:
        raise UserError("--sep must not be empty (e.g. --sep ';' or --sep tab)")
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise UserError(f"unknown --encoding {args.encoding!r} (e.g. utf-8, latin-1, cp1252)") from None
    if args.csv is not None:
        path = Path(args.csv)
        if path.is_dir():
            raise UserError(f"{path} is a directory, not a CSV file")
        if not path.exists():
            raise UserError(f"no such CSV file: {path}")
        if args.target is None:
            raise UserError("--target COL is required with a CSV (the column to predict)")


def _check_out(name: str) -> None:
    """``--out`` must be a directory we can create or write in; checked before any fitting."""
    if not name.strip():
        raise UserError(f"--out must name a directory, got {name!r} (e.g. --out results)")
    out = Path(name)
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


def _cross_validation(X: Any, y: Any, task: str, args: argparse.Namespace) -> tuple[Any, Any, Any, list[Any]]:
    """``(classes, y_idx, y_fit, splits)``: class names and ids (``None`` for regression), the targets the models
    are fitted on, and the ``(train rows, test rows)`` of every fold of the repeated (stratified) k-fold."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    if len(X) < 2 * args.folds:
        raise UserError(f"{plural(len(X), 'row')} are too few for {args.folds}-fold cross-validation")
    classes, y_idx = class_codes(y, args.folds) if task == "classification" else (None, None)
    kfold = RepeatedKFold if classes is None else RepeatedStratifiedKFold
    splits = list(kfold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed).split(X, y_idx))
    y_fit = y.astype(float).to_numpy() if classes is None else classes[y_idx]
    if classes is not None and not args.no_hgb:
        _check_hgb_split(splits, y_idx, classes, args.folds)
    return classes, y_idx, y_fit, splits


def _check_hgb_split(splits: list[Any], y_idx: Any, classes: Any, folds: int) -> None:
    """Gradient boosting holds out a stratified 20% of each training fold for early stopping (scikit-learn's
    ``train_test_split``): refuse, before anything is fitted, folds too small for it."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    for tr, _ in splits:
        try:
            train_test_split(tr, test_size=HGB_VALIDATION, stratify=y_idx[tr], random_state=0)
        except ValueError:
            counts = np.bincount(y_idx[tr], minlength=len(classes))
            rarest = int(counts.argmin())
            what = (f"a training fold holds {plural(int(counts[rarest]), 'row')} of class {classes[rarest]!r}"
                    if counts[rarest] < 2 else
                    f"a training fold of {plural(len(tr), 'row')} is too small to hold out {len(classes)} classes")
            raise UserError(f"with --folds {folds}, {what}; HistGradientBoosting's stratified early-stopping split "
                            f"needs at least 2 rows of each class (use fewer --folds, more rows, or --no-hgb)") from None


def _describe(X: Any, y: Any, name: str, classes: Any, args: argparse.Namespace) -> str:
    """The run's header: the data, its columns' roles, the cross-validation and the model."""
    import pandas as pd

    from .tabular.schema import infer_schema

    schema = infer_schema(X)  # a column it cannot use is a MixupError: one line and status 2
    integers = [str(c) for c in schema.continuous if pd.api.types.is_integer_dtype(X[c].dtype)]
    return (f"mixup-any compare: {name}\n"
            f"  {plural(len(X), 'row')}, {plural(X.shape[1], 'feature')} ({len(schema.continuous)} continuous, "
            f"{len(schema.categorical)} categorical), target {y.name!r} "
            + (f"({len(classes)} classes)" if classes is not None else "(regression)") + "\n"
            + (f"  integers taken as numbers: {', '.join(integers)} (codes such as zip codes: --categorical COL)\n"
               if integers else "")
            + f"  {args.folds}-fold CV x {plural(args.repeats, 'repeat')} (seed {args.seed}); "
            f"MLP up to {plural(args.epochs, 'epoch')},\n"
            f"  early stopping on a {VALIDATION_PERCENT}% validation split; "
            f"categorical mixing: {args.categorical_mixing}")


def _compare(args: argparse.Namespace) -> int:
    for module in ("pandas", "sklearn", "tqdm"):  # one line naming the extra if one is missing
        require(module, "tabular", feature="mixup-any compare")
    X, y, name = load(args)
    task = task_of(y, args)
    classes, y_idx, y_fit, splits = _cross_validation(X, y, task, args)
    header = _describe(X, y, name, classes, args)

    import torch

    for message in [] if args.no_warnings else args.warnings:
        print(f"mixup-any: warning: {message} (--no-warnings silences this)", file=sys.stderr, flush=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    estimators = models(args, task)
    names = list(estimators) + ([] if args.no_hgb else [CONTEXT])
    say(header)
    t0 = time.perf_counter()
    folds, pooled = fit_folds(X, y_fit, y_idx, splits, estimators, args)
    elapsed = time.perf_counter() - t0

    metrics, notes = (CLASS_METRICS, CLASS_NOTES) if task == "classification" else (["rmse", "mae", "r2"], [])
    summary = summarise(folds, names, metrics, 1.0 / (args.folds - 1))
    text = render(summary, names, metrics, len(splits), context=[CONTEXT], footnotes=notes)
    text += "\n" + recommend(summary, context=CONTEXT)
    say("\n" + text)
    say(f"({plural(len(splits) * len(names), 'fit')} in {elapsed:.0f} s)")
    files = outputs(folds, summary, text, pooled, y_idx, 0 if classes is None else len(classes), args)
    write_outputs(Path(args.out), files)
    say("wrote " + ", ".join(str(Path(args.out) / f) for f in files))
    return 0


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="mixup-any", description="mixup for every kind of data; 'compare' measures it on a table.")
    ap.add_argument("--version", action="version", version=f"mixup-any {__version__}")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    c = sub.add_parser("compare", help="repeated k-fold CV of ERM vs mixup on a table",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q, f = QUICK, FULL
    c.add_argument("csv", nargs="?", help="a CSV file (default: built-in credit_data from R package modeldata)")
    c.add_argument("--target", help="column to predict (default: Status for the built-in data; required with a CSV)")
    c.add_argument("--sep", default=",", help="field separator of the CSV, e.g. ';' or tab (default: '%(default)s')")
    c.add_argument("--encoding", default="utf-8", help="text encoding of the CSV, e.g. latin-1 (default: %(default)s)")
    c.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="auto: regression for a numeric target with more than 20 values or non-integers, "
                        "classification otherwise (default: %(default)s)")
    c.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to ignore: ids, leaks (default: none)")
    c.add_argument("--categorical", nargs="+", default=[], metavar="COL",
                   help="columns that are categories although they hold numbers, e.g. zip codes (default: none)")
    c.add_argument("--folds", type=int, help=f"k of the k-fold CV, 2 to {MAX_FOLDS} "
                                             f"(default: {f['folds']}; {q['folds']} with --quick)")
    c.add_argument("--repeats", type=int, help=f"repeats of the k-fold CV with new folds, 1 to {MAX_REPEATS} "
                                               f"(default: {f['repeats']}; {q['repeats']} with --quick)")
    c.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD",
                   help="training methods, each against ERM: erm, mixup, regmixup (clean loss + the mixup loss), "
                        "inputs_only (mixed inputs, the dominant input's label) (default: all)")
    c.add_argument("--alpha", type=float, nargs="+", default=[0.4],
                   help="one or more alphas (an alpha grid) for each mixing method (default: 0.4)")
    c.add_argument("--pairing", choices=["permute", "label_distance"], default="permute",
                   help="label_distance = C-Mixup (regression only) (default: %(default)s)")
    c.add_argument("--categorical-mixing", choices=["embedding", "onehot", "swap"], default="embedding",
                   help="how categorical variables are mixed (default: %(default)s)")
    c.add_argument("--epochs", type=int, help=f"max epochs, 1 to {MAX_EPOCHS}; early stopping usually ends sooner "
                                              f"(default: {f['epochs']}; {q['epochs']} with --quick)")
    c.add_argument("--seed", type=int, default=0, help="seed of the folds and the models, 0 to 2**32-1 "
                                                       "(default: %(default)s)")
    c.add_argument("--threads", type=int, default=1,
                   help="torch threads, 1 to the number of CPUs; 1 is fastest for these small MLPs "
                        "(default: %(default)s)")
    c.add_argument("--out", default="mixup-any-results",
                   help="directory for the tables and the plot (default: %(default)s)")
    c.add_argument("--quick", action="store_true",
                   help=f"{q['folds']} folds x {q['repeats']} repeat, at most {q['epochs']} epochs, where --folds, "
                        "--repeats or --epochs are not given (default: off)")
    c.add_argument("--no-hgb", action="store_true", help="skip the HistGradientBoosting context row (default: off)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar (default: off)")
    c.add_argument("--keep-ids", action="store_true",
                   help="use identifier-like columns (a distinct text value, or a run of row numbers, in every "
                        "row) as features; by default they are left out with a warning (default: off)")
    c.add_argument("--no-warnings", action="store_true",
                   help="no warnings about dropped rows or identifier-like columns (default: off)")
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
    except (UserError, MixupError, ModuleNotFoundError) as err:  # ours, the library's, a missing extra's
        print(f"mixup-any: error: {str(err).strip().splitlines()[0]}", file=sys.stderr)  # in one line
        return 2
    except KeyboardInterrupt:
        print("mixup-any: interrupted; no outputs written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
