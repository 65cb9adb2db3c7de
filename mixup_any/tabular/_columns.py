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
        try:
            validate_data(estimator, X, reset=reset, skip_check_array=True)
        except ValueError as err:  # scikit-learn's rule for a fitted estimator: the columns of fit, in that order
            if reset or getattr(estimator, "feature_names_in_", None) is None:
                raise
            fitted, cols = [str(c) for c in estimator.feature_names_in_], [str(c) for c in X.columns]
            extra, missing = sorted(set(cols) - set(fitted)), sorted(set(fitted) - set(cols))
            what = "; ".join(f"{k} {v}" for k, v in (("missing", missing), ("not seen in fit", extra)) if v) \
                or f"the same columns in another order {cols}"
            raise MixupError(f"X's columns differ from those seen in fit ({what}); expected {fitted}, in that order "
                             f"(X[est.feature_names_in_] selects them).\n{err}") from None
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

