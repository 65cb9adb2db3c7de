"""The table of ``mixup-any compare``: read it (built-in or CSV), check the target and the columns, and
decide the task. Every problem is a :class:`UserError`: one line, exit status 2, before anything is fitted."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

BUILTIN_TARGET = "Status"


class UserError(Exception):
    """A problem with the command line or the data: reported in one line, exit status 2."""


def plural(n: int, word: str) -> str:
    """``"1 row"``, ``"2 rows"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def load(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """``(X, y, name)``: the feature table, the target column and the data's name for the report.

    Rows whose target is missing are dropped (with a warning), as are the ``--drop`` columns. Warnings are
    queued in ``args.warnings``, printed once the data passed every check (an error stays one line).
    """
    from .tabular.schema import identifier_columns

    df, name, target = _read(args)
    _check_columns(df, name, target, args.drop, args.categorical)
    features = df.drop(columns=[target, *args.drop])
    empty = [str(c) for c in features.columns if features[c].isna().all()]
    if empty:
        raise UserError(f"column {empty[0]!r} has no value in any row; --drop it")
    # the estimators' rule, on every row before any is dropped: left out unless --keep-ids
    ids = [] if args.keep_ids else [c for c in identifier_columns(features) if c not in args.categorical]
    n_missing = int(df[target].isna().sum())
    if n_missing == len(df):
        raise UserError(f"every value of the target column {target!r} is missing")
    if n_missing:
        args.warnings.append(f"dropped {n_missing} of {plural(len(df), 'row')} whose target {target!r} is missing")
        df = df[df[target].notna()]
    df = df.drop(columns=[*args.drop, *ids])
    for col in args.categorical:  # categories to every model (the MLPs' embeddings, gradient boosting's categories)
        df[col] = df[col].astype("string").astype("category")
    y = df.pop(target)
    for col in ids:
        args.warnings.append(f"column {col!r} looks like an identifier (a distinct value in every row: text, or a "
                             f"run of row numbers) and is left out; --keep-ids uses it as a feature")
    if df.shape[1] == 0:
        raise UserError("there are no feature columns besides the target" + (" and identifier-like columns "
                        "(--keep-ids uses them)" if ids else ""))
    return df, y, name


def _read(args: argparse.Namespace) -> tuple[Any, str, str]:
    import pandas as pd

    if args.csv is None:
        from .tabular.datasets import CREDIT_DATA_SOURCE, load_credit_data

        return load_credit_data(), CREDIT_DATA_SOURCE, args.target or BUILTIN_TARGET
    path = Path(args.csv)
    try:
        df = pd.read_csv(path, sep=args.sep, encoding=args.encoding)
    except UnicodeDecodeError:
        raise UserError(f"cannot read {path.name} as {args.encoding} text; "
                        "pass the file's encoding, e.g. --encoding latin-1") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, OSError) as err:
        raise UserError(f"cannot read {path.name} as CSV: {str(err).strip().splitlines()[0]}") from None
    return df, path.name, args.target


def _check_columns(df: Any, name: str, target: str, drop: list[str], categorical: list[str]) -> None:
    """Rows exist, the target is a column (a hint when the header was read with the wrong separator), and
    ``--drop`` names feature columns."""
    if df.shape[0] == 0:
        raise UserError(f"{name}: the table has no rows")
    if target not in df.columns:
        cols = [str(c) for c in df.columns]
        listed = ", ".join(cols[:20]) + (f", ... ({len(cols)} columns)" if len(cols) > 20 else "")
        hint = next((f"; the header was read as one column: pass --sep {s!r}" if s != "\t" else
                     "; the header was read as one column: pass --sep tab"
                     for s in (";", "\t", "|") if len(cols) == 1 and s in cols[0]), "")
        raise UserError(f"target column {target!r} not found{hint}; columns are: {listed}")
    missing = [c for c in drop if c not in df.columns]
    if missing:
        raise UserError(f"--drop names unknown columns: {', '.join(map(repr, missing))}")
    if target in drop:
        raise UserError(f"--drop names the target column {target!r}; drop only feature columns")
    bad = [c for c in categorical if c not in df.columns or c == target or c in drop]
    if bad:
        raise UserError(f"--categorical names {bad[0]!r}, which is not a feature column")


def task_of(y: Any, args: argparse.Namespace) -> str:
    """``"classification"`` or ``"regression"``: ``--task``, or (auto) regression for a numeric target with
    more than 20 values or non-integers."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype)
    task = args.task
    if task == "regression" and not numeric:
        example = y.iloc[0]
        raise UserError(f"--task regression needs a numeric target; {y.name!r} holds text such as {example!r}")
    if task == "auto":
        continuous = numeric and (y.nunique() > 20 or not (y == y.round()).all())
        task = "regression" if continuous else "classification"
    if task == "classification" and args.pairing == "label_distance":
        raise UserError(f"--pairing label_distance (C-Mixup) pairs rows with close regression targets, but "
                        f"{y.name!r} is a classification target (--task regression if it is a number)")
    return task


def class_codes(y: Any, folds: int) -> tuple[Any, Any]:
    """``(classes, y_idx)`` of a classification target (as strings), checked for ``folds``-fold CV."""
    import numpy as np

    classes, y_idx = np.unique(y.astype(str).to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise UserError(f"the target has only one class ({classes[0]!r}); nothing to classify")
    smallest = int(np.bincount(y_idx).min())
    if smallest < folds:
        raise UserError(f"the rarest class has {plural(smallest, 'row')}, fewer than --folds {folds}; use fewer folds")
    return classes, y_idx
