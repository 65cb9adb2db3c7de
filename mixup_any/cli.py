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
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from ._cli_data import UserError, class_codes, load, task_of
from ._cli_fit import CONTEXT, fit_folds, models
from ._cli_outputs import OUTPUTS, outputs, write_outputs
from ._cli_report import recommend, render, summarise
from ._imports import is_available, require
from .exceptions import MixupError

__all__: list[str] = []  # internal: the public names are re-exported by the package

METHODS = ("erm", "mixup", "regmixup", "inputs_only")
CLASS_METRICS = ["accuracy", "log_loss", "log_loss_ts", "ece", "ece_ts", "brier"]
CLASS_NOTES = ["'temp.-scaled' = logits divided by a temperature fitted on the validation split",
               "Brier as scikit-learn's brier_score_loss (two classes: mean squared error of the positive "
               "class's probability)"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + error
        raise UserError(f"{message} (see {self.prog} --help)")


def _print_warnings(args: argparse.Namespace) -> None:
    if not args.no_warnings:
        for message in args.warnings:
            print(f"mixup-any: warning: {message} (--no-warnings silences this)", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- checks
def _check_args(args: argparse.Namespace) -> None:
    """Option values that argparse's types do not catch; nothing is imported or read yet."""
    if args.quick:
        args.folds, args.repeats, args.epochs = min(args.folds, 3), 1, min(args.epochs, 30)
    _check_numbers(args)
    _check_csv_options(args)
    _check_out(Path(args.out))


def _check_numbers(args: argparse.Namespace) -> None:
    if args.folds < 2:
        raise UserError(f"--folds must be at least 2, got {args.folds}")
    if args.repeats < 1 or args.epochs < 1:
        raise UserError(f"--repeats and --epochs must be at least 1, got {args.repeats} and {args.epochs}")
    if args.threads < 0:
        raise UserError(f"--threads must be 0 (torch's default) or a positive number, got {args.threads}")
    bad = [a for a in args.alpha if not (math.isfinite(a) and a >= 0)]
    if bad:
        raise UserError(f"--alpha values must be finite numbers >= 0 (0 = no mixing), got {bad[0]}")


def _check_csv_options(args: argparse.Namespace) -> None:
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


# ---------------------------------------------------------------------------------------------- compare
def _cross_validation(X: Any, y: Any, task: str, args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """``(classes, y_idx, y_fit, cv)``: class names and ids (``None`` for regression), the targets the models
    are fitted on, and the repeated (stratified) k-fold splitter."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    classes: Any = None
    y_idx: Any = None
    if task == "classification":
        classes, y_idx = class_codes(y, args.folds)
        cv: Any = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)
        y_fit = classes[y_idx]
    else:
        y_fit = y.astype(float).to_numpy()
        cv = RepeatedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)
    if len(X) < 2 * args.folds:
        raise UserError(f"{len(X)} rows are too few for {args.folds}-fold cross-validation")
    return classes, y_idx, y_fit, cv


def _describe(X: Any, y: Any, name: str, classes: Any, args: argparse.Namespace) -> str:
    """The run's header: the data, its columns' roles, the cross-validation and the model."""
    from .tabular.schema import infer_schema

    try:
        schema = infer_schema(X)
    except MixupError as err:  # a column we cannot use: report it in one line
        raise UserError(str(err).strip().splitlines()[0]) from None
    return (f"mixup-any compare: {name}\n"
            f"  {len(X)} rows, {X.shape[1]} features ({len(schema.continuous)} continuous, "
            f"{len(schema.categorical)} categorical), target {y.name!r} "
            + (f"({len(classes)} classes)" if classes is not None else "(regression)") + "\n"
            f"  {args.folds}-fold CV x {args.repeats} repeats (seed {args.seed}); MLP up to {args.epochs} epochs,\n"
            f"  early stopping on a 10% validation split; categorical mixing: {args.policy}")


def _compare(args: argparse.Namespace) -> int:
    for module in ("pandas", "sklearn", "tqdm"):  # one line naming the extra if one is missing
        if not is_available(module):
            require(module, "tabular", feature="mixup-any compare")
    X, y, name = load(args)
    task = task_of(y, args)
    classes, y_idx, y_fit, cv = _cross_validation(X, y, task, args)
    header = _describe(X, y, name, classes, args)

    import torch

    _print_warnings(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    estimators = models(args, task)
    names = list(estimators) + ([] if args.no_hgb else [CONTEXT])
    splits = list(cv.split(X, y_idx))
    print(header, flush=True)
    t0 = time.perf_counter()
    folds, pooled = fit_folds(X, y_fit, y_idx, splits, estimators, args)
    elapsed = time.perf_counter() - t0

    metrics, notes = (CLASS_METRICS, CLASS_NOTES) if task == "classification" else (["rmse", "mae", "r2"], [])
    summary = summarise(folds, names, metrics, 1.0 / (args.folds - 1))
    text = render(summary, names, metrics, len(splits), context=[CONTEXT], footnotes=notes)
    text += "\n" + recommend(summary, context=CONTEXT)
    print("\n" + text)
    print(f"({len(splits) * len(names)} fits in {elapsed:.0f} s)")
    files = outputs(folds, summary, text, pooled, y_idx, 0 if classes is None else len(classes), args)
    write_outputs(Path(args.out), files)
    print("wrote " + ", ".join(str(Path(args.out) / f) for f in files))
    return 0


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
