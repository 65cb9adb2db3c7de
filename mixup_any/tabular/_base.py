"""The estimators' shared input table, fit and predict (not public; the estimators build on it).

skorch's rules: ``__init__`` only stores its arguments; ``fit`` builds everything. All randomness comes from
one ``torch.Generator`` seeded from ``random_state`` (initialisation and dropout inside
``torch.random.fork_rng``), so ``fit`` neither reads nor changes the caller's global RNG state.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import Tensor

from ..exceptions import MixupError
from ..mixers.base import Mixer
from ..mixers.mixup import MixUp
from ..modes import check_eta, check_mode
from ..params import appended_partners_index
from ..policies import LamPolicy
from ._training import forward_in_chunks, seed_from, split_rows, train
from .mixer import TabularMixer, check_categorical_mixing
from .model import TabularMLP
from .preprocess import TabularPreprocessor
from .schema import identifier_columns
from .temperature import MIN_ERRORS, fit_temperature

__all__: list[str] = []

#: ``alpha=None`` means this α for each mode (see :data:`mixup_any.modes.MODES`).
DEFAULT_ALPHA = {"erm": 0.0, "mixup": 0.4, "regmixup": 0.4, "inputs_only": 0.4}


def _as_array(y: Any) -> np.ndarray:
    return np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)


def _check_missing_target(y: np.ndarray, what: str = "y") -> None:
    """A ``MixupError`` naming the rows when ``y`` holds missing values (NaN, None, pd.NA)."""
    missing = np.asarray(pd.isna(pd.DataFrame(y.reshape(len(y), -1))).any(axis=1))
    if missing.any():
        rows = np.flatnonzero(missing)
        listed = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        raise MixupError(f"{what} is missing (NaN or None) in {len(rows)} of {len(y)} rows (positions {listed}); "
                         "expected a target for every row. Drop those rows from X and y, or fill them.")


def _float_targets(y: np.ndarray, what: str) -> np.ndarray:
    """Regression targets as float64, with a ``MixupError`` for text, missing values or infinity."""
    try:
        out = y.astype(np.float64)
    except (TypeError, ValueError) as err:
        _check_missing_target(y, what)
        raise MixupError(f"Regression targets must be numbers; {what} has dtype {y.dtype}.") from err
    _check_missing_target(out, what)
    if not np.isfinite(out).all():
        raise MixupError(f"{what} holds infinity; expected finite regression targets.")
    return out


def resolve_columns(cols: Sequence[str | int] | str | int | None, names: list[str]) -> list[str] | None:
    """Column overrides as names: a position (an int that is not a column name) is looked up in ``names``."""
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
        except ValueError as err:  # scikit-learn's rule for a fitted estimator: the columns of fit, in order
            if reset or getattr(estimator, "feature_names_in_", None) is None:
                raise
            fitted, cols = [str(c) for c in estimator.feature_names_in_], [str(c) for c in X.columns]
            extra, missing = sorted(set(cols) - set(fitted)), sorted(set(fitted) - set(cols))
            what = "; ".join(f"{k} {v}" for k, v in (("missing", missing), ("not seen in fit", extra)) if v) \
                or f"the same columns in another order {cols}"
            raise MixupError(f"X's columns differ from those seen in fit ({what}); expected {fitted}, in "
                             f"that order (X[est.feature_names_in_] selects them).\n{err}") from None
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


class _AppendedPartners:
    """C-Mixup's pairing of a batch ``[rows; partners from the whole training set]`` of ``2B`` rows: row ``i``
    pairs with ``B + i``, and each partner with itself (so it stays unmixed)."""

    def __call__(self, batch_size: int, *, labels: Any = None, generator: Any = None,
                 device: Any = None) -> Tensor:
        return appended_partners_index(batch_size // 2, device)

    def __repr__(self) -> str:
        return "label_distance over the whole training set"


class _MixupTabularBase(BaseEstimator):
    """Shared fit and predict of the classifier and the regressor (not public)."""

    _kind = "base"
    _auto_mode = "mixup"  # what mode="auto" means; the classifier's is set from measurements (docs/tabular.md)

    def __init__(
        self,
        alpha: float | None = None,
        *,
        mode: str = "auto",
        eta: float = 1.0,
        mixer: Mixer | None = None,
        categorical_mixing: str = "embedding",
        pairing: str = "permute",
        bandwidth: float = 1.0,
        numeric: str = "power",
        hidden_sizes: Sequence[int] = (128, 128),
        embedding_dim: int | None = None,
        dropout: float = 0.1,
        max_epochs: int = 100,
        batch_size: int | str = "auto",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        early_stopping: bool = True,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 10,
        temperature_scaling: bool = False,
        categorical: Sequence[str | int] | None = None,
        continuous: Sequence[str | int] | None = None,
        keep_ids: bool = False,
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.alpha = alpha
        self.mode = mode
        self.eta = eta
        self.mixer = mixer
        self.categorical_mixing = categorical_mixing
        self.pairing = pairing
        self.bandwidth = bandwidth
        self.numeric = numeric
        self.hidden_sizes = hidden_sizes
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.temperature_scaling = temperature_scaling
        self.categorical = categorical
        self.continuous = continuous
        self.keep_ids = keep_ids
        self.random_state = random_state
        self.verbose = verbose

    def _check_fit_input(self, X: Any, y: Any) -> tuple[pd.DataFrame, np.ndarray]:
        """``fit``'s first step: the parameters, then ``X`` as a DataFrame and ``y`` as an array of as many rows."""
        self._check_loop_params()
        self._check_mixing_params()
        df = as_frame(self, X, reset=True)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        y_arr = _as_array(y)
        if y_arr.shape[0] != len(df):
            raise MixupError(f"X has {len(df)} rows but y has {y_arr.shape[0]}.")
        return df, y_arr

    def _check_loop_params(self) -> None:
        """The model and the training loop: sizes, rates, fractions."""
        for name in ("max_epochs", "batch_size", "n_iter_no_change"):
            v = getattr(self, name)
            if name == "batch_size" and v == "auto":
                continue
            if not isinstance(v, Integral) or isinstance(v, bool) or v < 1:
                raise MixupError(f"{name} must be a positive int, got {v!r}.")
        if not isinstance(self.validation_fraction, Real) or not 0 <= self.validation_fraction < 1:
            raise MixupError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}.")
        if not isinstance(self.lr, Real) or self.lr <= 0:
            raise MixupError(f"lr must be > 0, got {self.lr!r}.")
        if not isinstance(self.dropout, Real) or not 0 <= self.dropout < 1:
            raise MixupError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if not isinstance(self.keep_ids, bool):
            raise MixupError(f"keep_ids must be True or False, got {self.keep_ids!r}.")

    def _check_mixing_params(self) -> None:
        """categorical_mixing, the mode, eta, alpha, and a custom ``mixer``, which replaces ``alpha``,
        ``pairing`` and ``bandwidth``: setting both is an error (ignoring alpha made GridSearchCV a no-op)."""
        check_categorical_mixing(self.categorical_mixing)
        if self.mode != "auto":
            check_mode(self.mode, where=type(self).__name__)
        check_eta(self.eta)
        if self.alpha is not None:
            LamPolicy(alpha=self.alpha)  # the mixer's own check, before any work
        if self.mixer is None:
            return
        if not isinstance(self.mixer, Mixer):
            raise MixupError(f"mixer must be a mixup_any Mixer or None, got {type(self.mixer).__name__}.")
        clash = [f"{k}={getattr(self, k)!r}" for k, default in (("alpha", None), ("pairing", "permute"),
                                                                ("bandwidth", 1.0)) if getattr(self, k) != default]
        if clash:
            raise MixupError(f"mixer= replaces alpha, pairing and bandwidth, but {', '.join(clash)} "
                             "was also set and would be ignored. Tune the mixer's own parameters "
                             "(e.g. GridSearchCV over 'mixer__alpha'), or drop mixer=.")
        if self._mode() == "erm":
            raise MixupError("mode='erm' trains without mixing, so mixer= would be ignored; drop one of them.")

    def _mode(self) -> str:
        """The mode in use: ``mode``, or this estimator's measured default for ``mode="auto"``."""
        return self._auto_mode if self.mode == "auto" else str(self.mode)

    def _alpha(self) -> float:
        """The α in use: ``alpha``, or the mode's default when it is ``None`` (0 for ``"erm"``)."""
        if self._mode() == "erm":
            return 0.0
        return DEFAULT_ALPHA[self._mode()] if self.alpha is None else float(self.alpha)

    def _whole_set_pairing(self) -> bool:
        """C-Mixup as in the paper: the regressor draws partners from the whole training set."""
        return self._kind == "regressor" and self.mixer is None and self.pairing == "label_distance" \
            and self._alpha() > 0

    def _make_mixer(self, num_classes: int | None, target: str) -> Mixer:
        if self.mixer is not None:
            m = copy.deepcopy(self.mixer)  # never change the caller's object (sklearn's rule)
        else:
            pairing = _AppendedPartners() if self._whole_set_pairing() else self.pairing
            m = MixUp(alpha=self._alpha(), pairing=pairing, bandwidth=self.bandwidth)
        m.set_params(num_classes=num_classes, target=target)
        return m

    def _fit(self, y_t: Tensor, out_features: int, target_kind: str, num_classes: int | None,
             df: pd.DataFrame, stratify: bool, val: tuple[pd.DataFrame, Tensor] | None) -> None:
        """Split (or take ``val``, the checked ``eval_set``), fit the preprocessing on the training rows only,
        train, and fit the temperature on the validation rows."""
        g = torch.Generator().manual_seed(seed_from(self.random_state))
        pre = self._preprocessor(df)
        val_idx: Tensor | None
        if val is not None:  # the caller's validation rows, appended after the training rows
            n = len(df)
            train_idx, val_idx = torch.randperm(n, generator=g), torch.arange(n, n + len(val[0]))
            (x_cont, x_cat), (v_cont, v_cat) = pre.fit(df).transform_tensors(df), pre.transform_tensors(val[0])
            x_cont, x_cat, y_t = torch.cat([x_cont, v_cont]), torch.cat([x_cat, v_cat]), torch.cat([y_t, val[1]])
        else:
            held_out = float(self.validation_fraction) if self.early_stopping or self.temperature_scaling else 0.0
            train_idx, val_idx = split_rows(y_t if stratify else torch.zeros(len(y_t)), held_out, stratify, g)
            # fitted on the training rows only: the validation rows must be as new to it as to the model
            x_cont, x_cat = pre.fit(df.iloc[train_idx.sort().values.numpy()]).transform_tensors(df)
        mixer = self._make_mixer(num_classes, target_kind)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
            model = TabularMLP(x_cont.shape[1], pre.cardinalities_, out_features,
                               embedding_dim=self.embedding_dim, hidden_sizes=tuple(self.hidden_sizes),
                               dropout=float(self.dropout))
            # "embedding" mixes at the model's `joined` input (continuous columns and embeddings): one draw
            tm = TabularMixer(mixer, categorical_mixing=self.categorical_mixing,
                              cardinalities=pre.cardinalities_,
                              continuous_at_site=self.categorical_mixing == "embedding")
            log, best_epoch = train(self, model, tm, (x_cont, x_cat, y_t), train_idx, val_idx, g)
        self.preprocessor_ = pre
        self.model_ = model.eval()
        self.mixer_ = mixer
        self.history_ = log
        self.n_epochs_ = len(log)
        self.best_epoch_ = best_epoch
        self.temperature_ = 1.0
        if val_idx is not None and target_kind != "regression":  # held-out rows: never the training rows
            t = fit_temperature(self._forward(x_cont[val_idx], x_cat[val_idx]), y_t[val_idx], self._loss_fn)
            self.temperature_ = 1.0 if t is None else t
            if self.temperature_scaling and t is None:
                warnings.warn(f"temperature_scaling: the validation split ({val_idx.shape[0]} rows) cannot "
                              f"identify a temperature (fewer than {MIN_ERRORS} misclassified rows, or a fit "
                              "outside (0.01, 100)); it is left at 1. A larger validation_fraction may help.",
                              UserWarning, stacklevel=3)
        elif self.temperature_scaling:
            warnings.warn("temperature_scaling needs a validation split (validation_fraction > 0 and enough rows, "
                          "or eval_set=); the temperature is left at 1.", UserWarning, stacklevel=3)

    def _preprocessor(self, df: pd.DataFrame) -> TabularPreprocessor:
        """The unfitted preprocessing, without the identifier-like columns (``dropped_columns_``)."""
        categorical = resolve_columns(self.categorical, list(df.columns))
        continuous = resolve_columns(self.continuous, list(df.columns))
        forced = set(categorical or []) | set(continuous or [])
        ids = [] if self.keep_ids else [c for c in identifier_columns(df) if c not in forced]
        if ids:
            warnings.warn(f"{type(self).__name__}: columns {ids} look like identifiers (a distinct value in every "
                          "row: text, or a run of row numbers) and are not used as features; pass keep_ids=True "
                          "to use them, or drop them from X to silence this.", UserWarning, stacklevel=4)
        self.dropped_columns_ = ids
        return TabularPreprocessor(categorical=categorical, continuous=continuous, drop=ids, numeric=self.numeric)

    def _eval_frame(self, eval_set: Any) -> tuple[pd.DataFrame, Any]:
        """``eval_set`` as ``(X_val as a DataFrame, y_val)``: one pair, or a list holding one pair
        (LightGBM's and XGBoost's spelling), with the columns of ``X``."""
        pair = eval_set[0] if isinstance(eval_set, list) and len(eval_set) == 1 else eval_set
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise MixupError("eval_set must be a pair (X_val, y_val), or a list holding one pair; got "
                             f"{type(eval_set).__name__}{f' of length {len(eval_set)}' if hasattr(eval_set, '__len__') else ''}.")
        X_val, y_val = pair
        df_val = as_frame(self, X_val, reset=False)
        y_val = _as_array(y_val)
        if y_val.shape[0] != len(df_val):
            raise MixupError(f"eval_set: X_val has {len(df_val)} rows but y_val has {y_val.shape[0]}.")
        _check_missing_target(y_val, "eval_set's y_val")
        return df_val, y_val

    def _loss_fn(self, logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        raise NotImplementedError

    def _forward(self, x_cont: Tensor, x_cat: Tensor) -> Tensor:
        # predictions in float64: a float32 matmul rounds differently for different numbers of rows, and a
        # prediction must not depend on which other rows were passed with it
        model = copy.deepcopy(self.model_).double().eval()
        with torch.no_grad():
            return forward_in_chunks(model, x_cont.double(), x_cat)

    def predict_logits(self, X: Any) -> np.ndarray:
        """Raw model outputs ``(n, out)`` before the temperature and the softmax / sigmoid."""
        check_is_fitted(self, "model_")
        return self._forward(*self.preprocessor_.transform_tensors(as_frame(self, X, reset=False))).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
