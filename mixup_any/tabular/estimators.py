"""scikit-learn estimators that train :class:`TabularMLP` with tabular mixup: the classifier and the
regressor, on the shared fit and predict of ``_base``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d
from torch import Tensor

from ..exceptions import MixupError
from ._base import _check_missing_target, _float_targets, _MixupTabularBase

__all__ = ["MixupTabularClassifier", "MixupTabularRegressor"]


class MixupTabularClassifier(ClassifierMixin, _MixupTabularBase):
    """A scikit-learn classifier: :class:`TabularMLP` trained with tabular mixup.

    Binary, multiclass (any label type, e.g. strings) and multilabel (a 0/1 indicator matrix ``y``).
    DataFrames keep their column types (numeric → continuous, category/object/string/bool →
    categorical, each categorical variable mixed in its own embedding space); numeric arrays are
    all continuous unless ``categorical=[positions]``. Missing values and unseen categories at predict
    time are handled (reserved codes, median imputation with indicators).

    Args:
        alpha: Beta(α, α) of the mixing weight; ``alpha=0`` is plain training (ERM); ``None``: the
            mode's default: 0.4 for every mixing mode, 0 for ``"erm"``.
        mode: ``"auto"`` (the default: ``"inputs_only"``, measured in docs/tabular.md) or one of
            :data:`~mixup_any.modes.MODES`: ``"erm"``, ``"mixup"``, ``"regmixup"`` (clean loss + ``eta``
            × mixup loss) or ``"inputs_only"`` (mixed inputs, the dominant input's label).
        eta: weight of RegMixup's mixed term, ``>= 0``.
        mixer: a custom :class:`~mixup_any.Mixer` instead of ``MixUp(alpha, pairing, bandwidth)``;
            setting it together with ``alpha``, ``pairing`` or ``bandwidth`` is an error (tune
            ``mixer__alpha`` instead).
        categorical_mixing: how categorical variables are mixed: ``"embedding"``, ``"onehot"`` or ``"swap"``
            (as :class:`TabularMixer`'s ``categorical_mixing``).
        pairing: partner choice, e.g. ``"permute"`` or ``"same_class"``.
        bandwidth: σ of ``pairing="label_distance"``.
        numeric: the continuous columns' scaler: ``"power"`` (Yeo-Johnson, the default), ``"standard"``,
            ``"quantile"`` or ``"robust"``; see :class:`TabularPreprocessor`.
        hidden_sizes: MLP widths. embedding_dim: one width for every variable (``None``: by cardinality).
        dropout: dropout of the hidden layers.
        max_epochs, batch_size, lr, weight_decay: the AdamW training loop; ``batch_size="auto"`` is 256
            up to 25,600 training rows, then 1% of them, at most 1024.
        early_stopping: stop when the validation loss has not improved for ``n_iter_no_change`` epochs,
            and keep the best epoch's weights.
        validation_fraction: share of the rows held out (stratified) for early stopping and the temperature
            (default 0.2; ignored when ``fit`` gets ``eval_set=``). The preprocessing is fitted on the
            training rows only.
        temperature_scaling: divide logits by ``temperature_`` (always fitted on the validation split when
            there is one) in ``predict_proba``. The temperature stays 1 (with a warning when this is
            ``True``) if the split has fewer than 2 misclassified rows, which cannot identify it.
        categorical, continuous: per-column overrides of the inferred schema (names or positions).
        keep_ids: use identifier-like columns (:func:`~mixup_any.tabular.schema.identifier_columns`) as
            features; by default they are left out with a warning (``dropped_columns_``) unless
            ``categorical`` or ``continuous`` names them.
        random_state: seed of the ``torch.Generator`` behind splitting, batching, mixing and initialisation.
        verbose: show a tqdm progress bar over epochs.

    Example:
        >>> import pandas as pd
        >>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 5, "c": ["a", "b", "a", "b"] * 5})
        >>> y = ["no", "yes", "no", "yes"] * 5
        >>> clf = MixupTabularClassifier(max_epochs=3, random_state=0).fit(X, y)
        >>> clf.predict(X.head(2)).shape, clf.classes_.tolist()
        ((2,), ['no', 'yes'])
    """

    _kind = "classifier"
    _auto_mode = "inputs_only"

    def fit(self, X: Any, y: Any, eval_set: Any = None) -> MixupTabularClassifier:
        """Fit on ``X`` (DataFrame or array, ``(n, p)``) and labels ``y`` ``(n,)`` or ``(n, L)`` multilabel.

        ``eval_set=(X_val, y_val)`` (or ``[(X_val, y_val)]``): validation rows for early stopping and the
        temperature, instead of the ``validation_fraction`` split; every row of ``X`` is then a training row.
        """
        df, y_arr = self._check_fit_input(X, y)
        _check_missing_target(y_arr)
        check_classification_targets(y_arr)
        ytype = type_of_target(y_arr)
        self._multilabel = ytype == "multilabel-indicator"
        if self._multilabel:
            self.classes_ = np.arange(y_arr.shape[1])
            y_t = torch.tensor(np.asarray(y_arr, dtype=np.float32))
            kind, num_classes = "multilabel", None
        elif ytype in ("binary", "multiclass"):
            self.classes_, y_enc = np.unique(column_or_1d(y_arr, warn=True), return_inverse=True)
            if self.classes_.shape[0] < 2:
                raise MixupError(f"The target has only one class ({self.classes_.tolist()[0]!r}); "
                                 "a classifier needs at least two.")
            y_t = torch.tensor(y_enc, dtype=torch.int64)
            kind, num_classes = "index", self.classes_.shape[0]
        else:
            raise MixupError(f"Unsupported target type {ytype!r}; expected binary, multiclass or multilabel-indicator.")
        self._fit(y_t, self.classes_.shape[0], kind, num_classes, df, stratify=not self._multilabel,
                  val=self._val_labels(eval_set))
        return self

    def _val_labels(self, eval_set: Any) -> tuple[pd.DataFrame, Tensor] | None:
        """``eval_set`` with its labels encoded as the training labels are (class ids, or a 0/1 matrix)."""
        if eval_set is None:
            return None
        df_val, y_val = self._eval_frame(eval_set)
        if self._multilabel:
            if y_val.ndim != 2 or y_val.shape[1] != self.classes_.shape[0] or not np.isin(y_val, (0, 1)).all():
                raise MixupError(f"eval_set's y_val must be a 0/1 matrix (n, {self.classes_.shape[0]}) like y, got "
                                 f"shape {y_val.shape}.")
            return df_val, torch.tensor(np.asarray(y_val, dtype=np.float32))
        codes = pd.Index(self.classes_).get_indexer(column_or_1d(y_val))
        if (codes < 0).any():
            unseen = pd.unique(column_or_1d(y_val)[codes < 0]).tolist()
            raise MixupError(f"eval_set's y_val holds labels not in y: {unseen[:5]}; expected labels among "
                             f"{self.classes_.tolist()[:20]}.")
        return df_val, torch.tensor(codes, dtype=torch.int64)

    def _loss_fn(self, logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        if self._multilabel:
            return F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)
        return F.cross_entropy(logits, y, reduction=reduction)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, C)`` (per-label probabilities for multilabel)."""
        z = torch.as_tensor(self.predict_logits(X)) / (self.temperature_ if self.temperature_scaling else 1.0)
        return (torch.sigmoid(z) if self._multilabel else torch.softmax(z, dim=-1)).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Labels ``(n,)`` in the type of ``classes_`` (or a 0/1 matrix ``(n, L)`` for multilabel)."""
        p = self.predict_proba(X)
        if self._multilabel:
            return (p >= 0.5).astype(np.int64)
        return self.classes_[p.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MixupTabularRegressor(RegressorMixin, _MixupTabularBase):
    """A scikit-learn regressor: :class:`TabularMLP` trained with tabular mixup.

    Targets ``(n,)`` or ``(n, k)`` are standardised for training. The default (``mode="auto"``) is
    ``"mixup"``. ``pairing="label_distance"`` is C-Mixup (Yao et al., 2022): each row's partner is drawn from
    the whole training set, with a Gaussian kernel of width ``bandwidth`` on the standardised label
    distance. Other arguments as :class:`MixupTabularClassifier` (``temperature_scaling`` does not apply;
    inputs-only mixing is not defined for regression targets).

    Example:
        >>> import numpy as np
        >>> X = np.linspace(0, 1, 40)[:, None]
        >>> reg = MixupTabularRegressor(max_epochs=3, pairing="label_distance", random_state=0).fit(X, 2 * X[:, 0])
        >>> reg.predict(X[:3]).shape
        (3,)
    """

    _kind = "regressor"

    def fit(self, X: Any, y: Any, eval_set: Any = None) -> MixupTabularRegressor:
        """Fit on ``X`` (DataFrame or array, ``(n, p)``) and float targets ``(n,)`` or ``(n, k)``;
        ``eval_set`` as in :meth:`MixupTabularClassifier.fit` (for early stopping)."""
        df, y_arr = self._check_fit_input(X, y)
        y_arr = _float_targets(y_arr, "y")
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = column_or_1d(y_arr, warn=True)
        self._y_ndim = y_arr.ndim
        y2 = y_arr.reshape(len(y_arr), -1)
        self.y_mean_ = y2.mean(axis=0)
        scale = y2.std(axis=0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        y_t = torch.tensor((y2 - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        val = None
        if eval_set is not None:
            df_val, y_val = self._eval_frame(eval_set)
            y_val = _float_targets(y_val, "eval_set's y_val").reshape(len(y_val), -1)
            if y_val.shape[1] != y2.shape[1]:
                raise MixupError(f"eval_set's y_val has {y_val.shape[1]} targets per row but y has {y2.shape[1]}.")
            val = (df_val, torch.tensor((y_val - self.y_mean_) / self.y_scale_, dtype=torch.float32))
        self._fit(y_t, y2.shape[1], "regression", None, df, stratify=False, val=val)
        return self

    def _loss_fn(self, out: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        loss = F.mse_loss(out, y, reduction="none").mean(-1)
        return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``(n,)`` (or ``(n, k)`` for multi-output targets), in the units of ``y``."""
        out = self.predict_logits(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
