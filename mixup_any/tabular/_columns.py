"""The estimators' input table: arrays and DataFrames to a DataFrame of string-named columns, column
overrides by name or position, and scikit-learn's rule that predict sees the columns of fit (not public)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import pandas as pd
from sklearn.utils.validation import validate_data

from ..exceptions import MixupError


def resolve_columns(cols: Sequence[str | int] | str | int | None, names: list[str]) -> list[str] | None:
    """Column overrides as names: a position (an int that is not itself a column name) is looked up in ``names``."""
    if cols is None:
        return None
    out = []
    for c in [cols] if isinstance(cols, (str, int, Integral)) else cols:
        if isinstance(c, Integral) and not isinstance(c, bool) and str(c) not in names:
            if not 0 <= int(c) < len(names):
                raise MixupError(f"Column position {c} is out of range for {len(names)} columns.")
            out.append(names[int(c)])
        else:
            out.append(str(c))
    return out


def as_frame(estimator: Any, X: Any, *, reset: bool) -> pd.DataFrame:
    """``X`` as a DataFrame with string column names; sets (``reset``) or checks ``n_features_in_`` and
    ``feature_names_in_`` on ``estimator`` as scikit-learn's ``validate_data`` does. Arrays' columns are
    named ``x0, x1, ...``."""
    if isinstance(X, pd.DataFrame):
        if not reset:
            check_same_columns([str(c) for c in getattr(estimator, "feature_names_in_", [])], X)
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        if X.shape[0] == 0:
            raise MixupError("The table is empty (0 rows); expected at least one row.")
        if X.shape[1] == 0:
            raise MixupError("The table has no columns; expected at least one feature.")
        df = X.copy(deep=False)
        df.columns = [str(c) for c in X.columns]
        return df
    # infinity and values beyond float32 are left to the preprocessor, whose error names the column
    arr = validate_data(estimator, X, reset=reset, dtype="numeric", ensure_all_finite=False)
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def check_same_columns(fitted: list[str], X: pd.DataFrame) -> None:
    """Columns must be those seen in fit, in the same order (scikit-learn's rule for a fitted
    estimator with ``feature_names_in_``); the error starts with scikit-learn's own wording."""
    cols = [str(c) for c in X.columns]
    if not fitted or cols == fitted:
        return
    extra = sorted(set(cols) - set(fitted))
    missing = sorted(set(fitted) - set(cols))
    what = "; ".join(f"{k} {v}" for k, v in (("missing", missing), ("not seen in fit", extra)) if v) \
        or f"the same columns in another order {cols}"
    msg = (f"X's columns differ from those seen in fit ({what}); expected {fitted}, in that order "
           "(X[est.feature_names_in_] selects them).\nThe feature names should match those that were passed "
           "during fit.\n")
    if extra:
        msg += "Feature names unseen at fit time:\n" + "".join(f"- {c}\n" for c in extra)
    if missing:
        msg += "Feature names seen at fit time, yet now missing:\n" + "".join(f"- {c}\n" for c in missing)
    if not extra and not missing:
        msg += "Feature names must be in the same order as they were in fit.\n"
    raise MixupError(msg)
