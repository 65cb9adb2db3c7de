"""Tabular mixup (needs pandas and scikit-learn: ``pip install 'mixup-any[tabular]'``).

* :func:`infer_schema` / :class:`TabularSchema`: continuous and categorical columns of a DataFrame.
* :class:`TabularPreprocessor`: scikit-learn preprocessing to ``(x_cont, x_cat)`` tensors.
* :class:`TabularMixer`: one draw for the continuous columns, every categorical embedding and the target.
* :class:`TabularMLP`: a built-in model (per-variable embeddings + MLP).
* :class:`MixupTabularClassifier` / :class:`MixupTabularRegressor`: scikit-learn estimators.
"""

from .._imports import require

require("pandas", "tabular", feature="mixup_any.tabular")
require("sklearn", "tabular", feature="mixup_any.tabular")

from .datasets import load_credit_data  # noqa: E402
from .estimators import MixupTabularClassifier, MixupTabularRegressor  # noqa: E402
from .mixer import TabularMixer, TabularMixHandle  # noqa: E402
from .model import TabularMLP  # noqa: E402
from .preprocess import TabularPreprocessor  # noqa: E402
from .schema import TabularSchema, infer_schema  # noqa: E402

__all__ = ["load_credit_data", "MixupTabularClassifier", "MixupTabularRegressor", "TabularMLP", "TabularMixHandle",
           "TabularMixer", "TabularPreprocessor", "TabularSchema", "infer_schema"]
