"""Which columns of a table are continuous and which are categorical (:class:`TabularSchema`).

Numeric columns are continuous; ``category``, ``object``, ``string`` and ``bool`` columns are
categorical. Either can be overridden per column. A column that cannot be read as numbers is never
silently treated as continuous: forcing one raises a :class:`~mixup_any.exceptions.MixupError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from ..exceptions import MixupError

__all__: list[str] = []  # internal: the public names are re-exported by the package


@dataclass(frozen=True)
class TabularSchema:
    """The roles of a table's columns, in the order the model sees them.

    Attributes:
        continuous: names of the columns mixed directly (scaled floats).
        categorical: names of the columns mixed in their own embedding space (or swapped / one-hot).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"age": [31, 45], "job": ["a", "b"], "owner": [True, False]})
        >>> infer_schema(df)
        TabularSchema(continuous=('age',), categorical=('job', 'owner'))
    """

    continuous: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.continuous + self.categorical


def _is_categorical_dtype(s: pd.Series) -> bool:
    dt = s.dtype
    return (
        isinstance(dt, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dt)
        or pd.api.types.is_object_dtype(dt)
        or pd.api.types.is_string_dtype(dt)
    )


def _names(cols: Iterable[str] | str | None) -> list[str]:
    return [cols] if isinstance(cols, str) else list(cols or [])


def infer_schema(
    df: pd.DataFrame,
    *,
    categorical: Sequence[str] | None = None,
    continuous: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
) -> TabularSchema:
    """Infer the schema of ``df`` from its dtypes, with per-column overrides.

    Args:
        df: the feature table (targets excluded).
        categorical: columns forced to be categorical (e.g. integer codes such as a zip code).
        continuous: columns forced to be continuous; they must hold numbers (or be convertible).
        drop: columns to ignore.

    Returns:
        The schema; columns keep the order of ``df`` within each role.

    Raises:
        MixupError: an override names a column that does not exist, a column is forced to both roles,
            a non-numeric column is forced to continuous, or no column is left.
    """
    if not hasattr(df, "dtypes") or not hasattr(df, "columns"):
        raise MixupError(f"infer_schema needs a pandas DataFrame, got {type(df).__name__}.")
    cat, cont, dropped = _names(categorical), _names(continuous), set(_names(drop))
    _check_overrides(list(df.columns), cat, cont, dropped)
    roles = {c: _role(c, df[c], cat, cont) for c in df.columns if c not in dropped}
    out_cont = tuple(c for c, r in roles.items() if r == "continuous")
    out_cat = tuple(c for c, r in roles.items() if r == "categorical")
    if not out_cont and not out_cat:
        raise MixupError("The table has no feature columns left to learn from.")
    return TabularSchema(out_cont, out_cat)


def _check_overrides(columns: list[str], cat: list[str], cont: list[str], dropped: set[str]) -> None:
    """Every override names a column of the table, and no column is forced to both roles."""
    known = set(columns)
    for name, given in (("categorical", cat), ("continuous", cont), ("drop", dropped)):
        missing = [c for c in given if c not in known]
        if missing:
            raise MixupError(f"{name}= names columns that are not in the table: {missing}; "
                             f"the columns are {columns}.")
    both = sorted(set(cat) & set(cont), key=str)
    if both:
        raise MixupError(f"Columns {both} are forced to be both categorical and continuous; pick one role.")


def _role(c: str, s: pd.Series, cat: list[str], cont: list[str]) -> str:
    """``"continuous"`` or ``"categorical"``: the override, else the dtype's role."""
    if c in cat:
        return "categorical"
    if c in cont:
        if _is_categorical_dtype(s) and not pd.api.types.is_bool_dtype(s.dtype):
            converted = pd.to_numeric(s.astype(object), errors="coerce")
            bad = s.notna() & converted.isna()
            if bool(bad.any()):
                example = s[bad].iloc[0]
                raise MixupError(
                    f"Column {c!r} is forced to be continuous but holds non-numeric values "
                    f"(e.g. {example!r}, dtype {s.dtype}). Make it categorical, or convert it to numbers first."
                )
        return "continuous"
    if _is_categorical_dtype(s):
        return "categorical"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "continuous"
    raise MixupError(
        f"Column {c!r} has dtype {s.dtype}, which is neither numeric nor categorical; "
        "convert it, remove it from the table, or force its role (categorical=[...])."
    )


def identifier_columns(df: pd.DataFrame) -> list[str]:
    """Columns that look like row identifiers: with at least 10 rows and no missing value, a distinct value
    in every row that is text (names, ids) or a run of consecutive integers (row numbers).

    The estimators leave these out with a warning unless ``keep_ids=True``. Numbers that are not a run
    (measurements that happen to differ in every row) are never identifiers.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"row": range(10), "name": list("abcdefghij"), "x": [0.5] * 10})
        >>> identifier_columns(df)
        ['row', 'name']
    """
    n = len(df)
    found: list[str] = []
    if n < 10:
        return found
    for col in df.columns:
        s = df[col]
        if s.isna().any() or pd.api.types.is_bool_dtype(s.dtype) or s.nunique() != n:
            continue
        if pd.api.types.is_integer_dtype(s.dtype):
            if int(s.max()) - int(s.min()) == n - 1:  # n distinct integers in a range of n: row numbers
                found.append(str(col))
        elif not pd.api.types.is_numeric_dtype(s.dtype):
            found.append(str(col))
    return found
