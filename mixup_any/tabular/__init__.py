"""Tabular mixup (needs pandas and scikit-learn: ``pip install 'mixup-any[tabular]'``).

* :class:`TabularPreprocessor`: scikit-learn preprocessing to ``(x_cont, x_cat)`` tensors, with the
  continuous and categorical columns inferred from the dtypes (:mod:`~mixup_any.tabular.schema`).
* :class:`TabularMixer`: one draw for the continuous columns, every categorical embedding and the target.
* :class:`TabularMLP`: a built-in model (per-variable embeddings + MLP).
* :class:`MixupTabularClassifier` / :class:`MixupTabularRegressor`: scikit-learn estimators.
* :func:`load_credit_data`: a real credit-scoring table shipped with the package.
"""

from ..extras import require

require("pandas", "tabular", feature="mixup_any.tabular")
require("sklearn", "tabular", feature="mixup_any.tabular")

from .datasets import load_credit_data  # noqa: E402
from .estimators import MixupTabularClassifier, MixupTabularRegressor  # noqa: E402
from .mixer import TabularMixer  # noqa: E402
from .model import TabularMLP  # noqa: E402
from .preprocess import TabularPreprocessor  # noqa: E402

__all__ = ["load_credit_data", "MixupTabularClassifier", "MixupTabularRegressor", "TabularMLP", "TabularMixer",
           "TabularPreprocessor"]
