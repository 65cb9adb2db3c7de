"""Real data bundled with mixup_any, for the ``mixup-any`` command and the examples (offline)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from ..extras import require

__all__ = ["load_credit_data"]

CREDIT_DATA_SOURCE = "credit_data (R package modeldata, MIT licence; credit scoring data by L. A. Belanche Muñoz)"


def load_credit_data() -> Any:
    """The ``credit_data`` table: 4,454 rows, target ``Status`` (``"good"`` / ``"bad"``), 13 features.

    9 numeric and 4 categorical columns, with missing values; see ``mixup_any/data/README.md`` for
    source and licence.

    Example:
        >>> df = load_credit_data()
        >>> df.shape, df["Status"].value_counts().to_dict()
        ((4454, 14), {'good': 3200, 'bad': 1254})
    """
    pd = require("pandas", "tabular")
    with resources.files("mixup_any").joinpath("data/credit_data.csv.gz").open("rb") as f:
        return pd.read_csv(f, compression="gzip")
