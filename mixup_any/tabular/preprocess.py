"""Turn a DataFrame into the two tensors a tabular model takes, with scikit-learn transformers.

Continuous columns: a scaler chosen by ``numeric`` (``"standard"``: ``StandardScaler``;
``"quantile"``: ``QuantileTransformer(output_distribution="normal")``; ``"power"``: Yeo-Johnson
``PowerTransformer``; ``"robust"``: ``RobustScaler`` then clipping to ±5), fitted on the observed values,
then :class:`~sklearn.impute.SimpleImputer` (median, with 0/1 missing-value indicator columns). Categorical
columns: :class:`~sklearn.preprocessing.OrdinalEncoder` with two reserved codes, so every variable's embedding
table has a row for them:

* code ``0``: the value is missing (NaN / None),
* code ``1``: a category never seen during ``fit`` (met at predict time),
* codes ``2 ..``: the categories seen during ``fit``, in sorted order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from ..exceptions import MixupError
from .schema import TabularSchema, infer_schema

__all__ = ["TabularPreprocessor"]

NUMERIC = ("standard", "quantile", "power", "robust")
_CLIP = 5.0
#: the largest magnitude a continuous value may have: the model computes in float32
FLOAT32_MAX = float(np.finfo(np.float32).max)
_RESERVED = 2  # codes 0 (missing) and 1 (unknown)


def _as_strings(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Categorical values as ``str`` (so bools, numbers and strings sort together), missing as NaN."""
    df = pd.DataFrame(X).astype(object)
    return df.astype(str).where(df.notna(), np.nan).to_numpy(dtype=object)


def _shift_codes(codes: np.ndarray) -> np.ndarray:
    # OrdinalEncoder gives missing -2 and unknown -1; shifting by 2 makes them codes 0 and 1
    return np.asarray(codes, dtype=np.float64) + _RESERVED


class TabularPreprocessor(TransformerMixin, BaseEstimator):
    """Schema inference plus scikit-learn preprocessing of a DataFrame.

    Args:
        categorical: columns forced to be categorical.
        continuous: columns forced to be continuous (must hold numbers).
        drop: columns to ignore.
        numeric: the continuous columns' scaler, one of :data:`NUMERIC` (see the module docstring).

    Fitted attributes: ``schema_`` (:class:`TabularSchema`), ``column_transformer_``,
    ``cardinalities_`` (embedding table size of each categorical variable, reserved codes included),
    ``n_continuous_out_`` (scaled columns plus missing-value indicators).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", None]})
        >>> pre = TabularPreprocessor().fit(df)
        >>> x_cont, x_cat = pre.transform_tensors(pd.DataFrame({"x": [2.0], "c": ["zzz"]}))
        >>> x_cont.shape, x_cat.tolist(), pre.cardinalities_
        (torch.Size([1, 2]), [[1]], [4])
    """

    def __init__(self, categorical: Sequence[str] | None = None, continuous: Sequence[str] | None = None,
                 drop: Sequence[str] | None = None, numeric: str = "standard") -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.continuous = continuous
        self.drop = drop

    def fit(self, X: pd.DataFrame, y: object = None) -> TabularPreprocessor:
        if not isinstance(X, pd.DataFrame):
            raise MixupError(f"TabularPreprocessor needs a pandas DataFrame, got {type(X).__name__}.")
        if X.shape[0] == 0:
            raise MixupError("The table is empty (0 rows); there is nothing to fit.")
        if self.numeric not in NUMERIC:
            raise MixupError(f"Unknown numeric={self.numeric!r}; expected one of {NUMERIC}.")
        schema = infer_schema(X, categorical=self.categorical, continuous=self.continuous, drop=self.drop)
        empty = [c for c in schema.columns if X[c].isna().all()]
        if empty:
            raise MixupError(f"Column{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
                             f"{'have' if len(empty) > 1 else 'has'} no value in any of the {len(X)} rows it is "
                             "fitted on (every value missing); expected at least one. Remove such columns.")
        _check_finite(X, schema.continuous)
        parts = []
        if schema.continuous:
            cont = Pipeline([
                ("to_float", FunctionTransformer(_to_float, feature_names_out="one-to-one")),
                ("scale", _scaler(self.numeric, X.shape[0])),
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ])
            parts.append(("continuous", cont, list(schema.continuous)))
        if schema.categorical:
            cat = Pipeline([
                ("as_str", FunctionTransformer(_as_strings, feature_names_out="one-to-one")),
                ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                          encoded_missing_value=-2, dtype=np.float64)),
                ("shift", FunctionTransformer(_shift_codes, feature_names_out="one-to-one")),
            ])
            parts.append(("categorical", cat, list(schema.categorical)))
        ct = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)
        ct.fit(X)
        self.schema_: TabularSchema = schema
        self.column_transformer_ = ct
        # categories_ lists NaN too when it was seen, but missing values get the reserved code 0
        seen = ct.named_transformers_["categorical"]["encode"].categories_ if schema.categorical else []
        self.cardinalities_ = [int(sum(not pd.isna(v) for v in c)) + _RESERVED for c in seen]
        n_out = ct.transform(X.iloc[:1]).shape[1]
        self.n_continuous_out_ = n_out - len(schema.categorical)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, n_continuous_out_ + n_categorical)`` float64: scaled columns, indicators, then codes."""
        check_is_fitted(self, "column_transformer_")
        if not isinstance(X, pd.DataFrame):
            raise MixupError(f"TabularPreprocessor needs a pandas DataFrame, got {type(X).__name__}.")
        missing = [c for c in self.schema_.columns if c not in X.columns]
        if missing:
            raise MixupError(f"The table lacks columns seen during fit: {missing}.")
        _check_finite(X, self.schema_.continuous)
        return np.asarray(self.column_transformer_.transform(X), dtype=np.float64)

    def transform_tensors(self, X: pd.DataFrame) -> tuple[Tensor, Tensor]:
        """``x_cont`` ``(n, n_continuous_out_)`` float32 and ``x_cat`` ``(n, n_categorical)`` int64."""
        out = self.transform(X)
        k = self.n_continuous_out_
        x_cont = torch.tensor(out[:, :k], dtype=torch.float32)
        bad = ~torch.isfinite(x_cont).all(0)
        if bool(bad.any()):  # a scaler (e.g. Yeo-Johnson) pushed a far outlier past float32
            j = int(bad.nonzero()[0, 0])
            name = self.schema_.continuous[j] if j < len(self.schema_.continuous) else "a missing-value indicator"
            raise MixupError(f"Column {name!r} holds a value that numeric={self.numeric!r} scales beyond float32's "
                             f"range (|x| <= {FLOAT32_MAX:.3g}), far outside the values seen in fit; expected values "
                             "of the scale seen in fit. Clip the column, or use numeric='robust' or 'quantile'.")
        x_cat = torch.tensor(out[:, k:], dtype=torch.int64)
        return x_cont, x_cat


def _to_float(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    df = pd.DataFrame(X)
    try:
        return df.astype(np.float64).to_numpy()
    except (TypeError, ValueError):
        return df.apply(lambda s: pd.to_numeric(s, errors="raise")).astype(np.float64).to_numpy()


def _check_finite(X: pd.DataFrame, continuous: Sequence[str]) -> None:
    """Raise a MixupError naming the first continuous column with infinity, a value beyond float32's range,
    or a non-numeric value (NaN is allowed: it is a missing value)."""
    for c in continuous:
        try:
            v = _to_float(X[[c]])[:, 0]
        except (TypeError, ValueError) as err:
            raise MixupError(f"Continuous column {c!r} holds non-numeric values (dtype {X[c].dtype}); "
                             "expected numbers, as in fit.") from err
        bad = ~np.isnan(v) & ~(np.abs(v) <= FLOAT32_MAX)
        if bad.any():
            i = int(bad.argmax())  # the row's index label: the table may be a subset of the caller's rows
            raise MixupError(f"Column {c!r} holds {float(v[i])!r} (row {X.index[i]}); expected finite numbers within float32's range "
                             f"(|x| <= {FLOAT32_MAX:.3g}), since the model computes in float32. NaN is read as "
                             "missing; replace infinities and overflowed values by NaN or a finite number.")


def _scaler(numeric: str, n_rows: int) -> Pipeline | TransformerMixin:
    """The continuous columns' scaler; each one leaves NaN in place for the imputer after it."""
    if numeric == "quantile":
        return QuantileTransformer(output_distribution="normal", n_quantiles=max(2, min(1000, n_rows)),
                                   subsample=100_000, random_state=0)
    if numeric == "power":
        return PowerTransformer(method="yeo-johnson", standardize=True)
    if numeric == "robust":
        return Pipeline([("scale", RobustScaler()),
                         ("clip", FunctionTransformer(np.clip, kw_args={"a_min": -_CLIP, "a_max": _CLIP},
                                                      feature_names_out="one-to-one"))])
    return StandardScaler()
