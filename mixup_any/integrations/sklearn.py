"""scikit-learn estimators (a leaf re-export of :mod:`mixup_any.tabular`)."""

from __future__ import annotations

from ..tabular.estimators import MixupTabularClassifier, MixupTabularRegressor

__all__ = ["MixupTabularClassifier", "MixupTabularRegressor"]
