"""scikit-learn compatibility of MixupTabularClassifier / MixupTabularRegressor."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mixup_any import MixUp  # noqa: E402
from mixup_any.exceptions import MixupError  # noqa: E402
from mixup_any.integrations.sklearn import MixupTabularClassifier, MixupTabularRegressor  # noqa: E402

FAST = dict(max_epochs=40, batch_size=64, hidden_sizes=(32,), lr=1e-2, dropout=0.0, n_iter_no_change=5)


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny MLPs: one intra-op thread is faster, and far faster on a loaded 2-core machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@parametrize_with_checks(
    [MixupTabularClassifier(random_state=0, **FAST), MixupTabularRegressor(random_state=0, **FAST)]
)
def test_sklearn_compatible(estimator, check):
    torch.set_num_threads(1)
    check(estimator)
