"""scikit-learn estimators that train :class:`TabularMLP` with tabular mixup.

skorch's rules: ``__init__`` only stores its arguments; ``fit`` builds everything (``preprocessor_``,
``model_``, ``classes_``, ``n_features_in_``, ``feature_names_in_``). All randomness comes from one
``torch.Generator`` seeded from ``random_state``; the model's initialisation and dropout run inside
``torch.random.fork_rng`` seeded from that generator, so ``fit`` neither reads nor changes the
caller's global RNG state.
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from torch import Tensor

from .._imports import require
from ..calibration import MODES, check_eta, check_mode, mode_loss
from ..exceptions import MixupError
from ..mixers.base import Mixer
from ..mixers.mixup import MixUp
from ..targets import MixedTarget
from .mixer import POLICIES, TabularMixer
from .model import TabularMLP
from .preprocess import NUMERIC, TabularPreprocessor

__all__ = ["MixupTabularClassifier", "MixupTabularRegressor", "MODES", "DEFAULT_ALPHA"]

# MODES (imported from mixup_any.calibration) is the one vocabulary of every route, re-exported here for
# ``mixup-any compare`` to loop over.
#: ``alpha=None`` means this α for each mode.
DEFAULT_ALPHA = {"erm": 0.0, "mixup": 0.4, "regmixup": 0.4, "inputs_only": 0.4}

_PREDICT_CHUNK = 16384


def _seed_from(random_state: Any) -> int:
    if random_state is None:
        return secrets.randbits(62)
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):  # the caller's own RNG, as sklearn allows
        return int(random_state.randint(0, 2**31 - 1))
    raise MixupError(f"random_state must be None, an int or a numpy RandomState, got {random_state!r}.")


class _MixupTabularBase(BaseEstimator):
    """Shared training loop of the classifier and the regressor (not public)."""

    _kind = "base"

    def __init__(
        self,
        alpha: float | None = None,
        *,
        mode: str = "mixup",
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
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        temperature_scaling: bool = False,
        categorical: Sequence[str | int] | None = None,
        continuous: Sequence[str | int] | None = None,
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
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.categorical_mixing not in POLICIES:
            raise MixupError(f"categorical_mixing must be one of {POLICIES}, got {self.categorical_mixing!r}.")
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
        if self.mixer is not None and not isinstance(self.mixer, Mixer):
            raise MixupError(f"mixer must be a mixup_any Mixer or None, got {type(self.mixer).__name__}.")
        check_mode(self.mode, where=type(self).__name__)
        check_eta(self.eta)
        if self.numeric not in NUMERIC:
            raise MixupError(f"Unknown numeric={self.numeric!r}; expected one of {NUMERIC}.")
        if self.alpha is not None and (isinstance(self.alpha, bool) or not isinstance(self.alpha, Real)
                                       or not self.alpha >= 0):
            raise MixupError(f"alpha must be a number >= 0 or None (the mode's default), got {self.alpha!r}.")
        if self.mixer is not None:
            # a mixer replaces alpha, pairing and bandwidth: silently ignoring them made GridSearchCV over
            # alpha a no-op, so setting both is an error
            clash = [f"{k}={getattr(self, k)!r}" for k, default in (("alpha", None), ("pairing", "permute"),
                                                                    ("bandwidth", 1.0)) if getattr(self, k) != default]
            if clash:
                raise MixupError(f"mixer= replaces alpha, pairing and bandwidth, but {', '.join(clash)} "
                                 "was also set and would be ignored. Tune the mixer's own parameters "
                                 "(e.g. GridSearchCV over 'mixer__alpha'), or drop mixer=.")
            if self.mode == "erm":
                raise MixupError("mode='erm' trains without mixing, so mixer= would be ignored; drop one of them.")

    def _alpha(self) -> float:
        """The α in use: ``alpha``, or the mode's default when it is ``None`` (0 for ``"erm"``)."""
        if self.mode == "erm":
            return 0.0
        return DEFAULT_ALPHA[self.mode] if self.alpha is None else float(self.alpha)

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

    # ------------------------------------------------------------------ X
    def _resolve_cols(self, cols: Sequence[str | int] | None, names: list[str]) -> list[str] | None:
        if cols is None:
            return None
        if isinstance(cols, (str, Integral)):
            cols = [cols]
        out = []
        for c in cols:
            if isinstance(c, Integral) and not isinstance(c, bool) and str(c) not in names:
                if not 0 <= int(c) < len(names):
                    raise MixupError(f"Column position {c} is out of range for {len(names)} columns.")
                out.append(names[int(c)])
            else:
                out.append(str(c))
        return out

    def _prepare_X(self, X: Any, *, reset: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            if not reset:
                self._check_columns(X)
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0:
                raise MixupError("The table is empty (0 rows); expected at least one row.")
            if X.shape[1] == 0:
                raise MixupError("The table has no columns; expected at least one feature.")
            df = X.copy(deep=False)
            df.columns = [str(c) for c in X.columns]
            return df
        # infinity and values beyond float32 are left to the preprocessor, whose error names the column
        arr = validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite=False)
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def _check_columns(self, X: pd.DataFrame) -> None:
        """Columns must be those seen in fit, in the same order (scikit-learn's rule for a fitted
        estimator with ``feature_names_in_``); the error starts with scikit-learn's own wording."""
        fitted = [str(c) for c in getattr(self, "feature_names_in_", [])]
        cols = [str(c) for c in X.columns]
        if not fitted or cols == fitted:
            return
        extra = sorted(set(cols) - set(fitted))
        missing = sorted(set(fitted) - set(cols))
        what = "; ".join(f"{k} {v}" for k, v in (("missing", missing), ("not seen in fit", extra)) if v) \
            or f"the same columns in another order {cols}"
        msg = (f"X's columns differ from those seen in fit ({what}); expected {fitted}, in that order "
               "(X[est.feature_names_in_] selects them).\nThe feature names should match those that were passed "
               "during fit.\n")
        if extra:
            msg += "Feature names unseen at fit time:\n" + "".join(f"- {c}\n" for c in extra)
        if missing:
            msg += "Feature names seen at fit time, yet now missing:\n" + "".join(f"- {c}\n" for c in missing)
        if not extra and not missing:
            msg += "Feature names must be in the same order as they were in fit.\n"
        raise MixupError(msg)

    def _tensors(self, X: Any) -> tuple[Tensor, Tensor]:
        check_is_fitted(self, "model_")
        df = self._prepare_X(X, reset=False)
        names = list(self.preprocessor_.schema_.columns)
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise MixupError(f"X lacks columns seen during fit: {missing}.")
        return self.preprocessor_.transform_tensors(df)

    # ------------------------------------------------------------------ training
    def _split(self, y_enc: Tensor, stratify: bool, g: torch.Generator) -> tuple[Tensor, Tensor | None]:
        n = y_enc.shape[0]
        perm = torch.randperm(n, generator=g)
        frac = float(self.validation_fraction)
        if not (self.early_stopping or self.temperature_scaling) or frac == 0:
            return perm, None
        if stratify:
            ys = y_enc[perm]
            val_parts, train_parts = [], []
            for c in torch.unique(ys):
                rows = perm[ys == c]
                k = int(frac * rows.shape[0])
                val_parts.append(rows[:k])
                train_parts.append(rows[k:])
            val, train = torch.cat(val_parts), torch.cat(train_parts)
        else:
            k = int(frac * n)
            val, train = perm[:k], perm[k:]
        if val.shape[0] < 2 or train.shape[0] < 2:
            return perm, None
        return train, val

    def _fit(self, y_t: Tensor, out_features: int, target_kind: str, num_classes: int | None,
             df: pd.DataFrame, stratify: bool) -> None:
        seed = _seed_from(self.random_state)
        g = torch.Generator().manual_seed(seed)
        pre = TabularPreprocessor(categorical=self._resolve_cols(self.categorical, list(df.columns)),
                                  continuous=self._resolve_cols(self.continuous, list(df.columns)),
                                  numeric=self.numeric).fit(df)
        x_cont, x_cat = pre.transform_tensors(df)
        train_idx, val_idx = self._split(y_t if stratify else torch.zeros(len(y_t)), stratify, g)
        mixer = self._make_mixer(num_classes, target_kind)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
            model = TabularMLP(x_cont.shape[1], pre.cardinalities_, out_features,
                               embedding_dim=self.embedding_dim, hidden=tuple(self.hidden_sizes),
                               dropout=float(self.dropout))
            tm = self._make_tabular_mixer(mixer, model, pre.cardinalities_)
            history = self._train(model, tm, x_cont, x_cat, y_t, train_idx, val_idx, g)
        self.preprocessor_ = pre
        self.model_ = model.eval()
        self.mixer_ = mixer
        self.history_ = history["epochs"]
        self.n_epochs_ = len(history["epochs"])
        self.best_epoch_ = history["best_epoch"]
        self.temperature_ = 1.0
        if val_idx is not None and target_kind != "regression":
            with torch.no_grad():
                logits = self._forward(x_cont[val_idx], x_cat[val_idx])
            t = _fit_temperature(logits, y_t[val_idx], self._loss_fn)
            self.temperature_ = 1.0 if t is None else t
            if self.temperature_scaling and t is None:
                warnings.warn(f"temperature_scaling: the validation split ({val_idx.shape[0]} rows) cannot identify a "
                              f"temperature (fewer than {_MIN_ERRORS} misclassified rows, or a fit outside (0.01, "
                              "100)); it is left at 1. A larger validation_fraction may help.", UserWarning,
                              stacklevel=3)
        elif self.temperature_scaling:
            warnings.warn("temperature_scaling needs a validation split (validation_fraction > 0 and enough rows); "
                          "the temperature is left at 1.", UserWarning, stacklevel=3)

    def _loss_fn(self, logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        raise NotImplementedError

    def _train(self, model: TabularMLP, tm: TabularMixer, x_cont: Tensor, x_cat: Tensor, y: Tensor,
               train_idx: Tensor, val_idx: Tensor | None, g: torch.Generator) -> dict[str, Any]:
        opt = torch.optim.AdamW(model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        n = train_idx.shape[0]
        bs = _auto_batch_size(n) if self.batch_size == "auto" else int(self.batch_size)
        epochs = range(int(self.max_epochs))
        bar = None
        if self.verbose:
            tqdm = require("tqdm", feature="verbose=True (a progress bar)").tqdm
            bar = tqdm(epochs, desc=f"{type(self).__name__} {self.mode} alpha={self._alpha():g}", leave=False)
            epochs = bar
        whole = self._whole_set_pairing()
        best, best_state, best_epoch, waited = float("inf"), None, 0, 0
        log: list[dict[str, float]] = []
        with tm.attach(model, at="joined" if tm.policy == "embedding" else None) as mixing:
            for epoch in epochs:
                model.train()
                tm.mixer.set_epoch(epoch)
                perm = train_idx[torch.randperm(n, generator=g)]
                total = torch.zeros(())
                for start in range(0, n, bs):
                    idx = perm[start:start + bs]
                    if whole:  # the batch, then each row's partner from the whole training set
                        rows = torch.cat([idx, label_distance_partners(y[idx], y[train_idx], idx, train_idx,
                                                                       float(self.bandwidth), g)])
                        loss = self._step(model, mixing, opt, x_cont[rows], x_cat[rows], y[rows], g,
                                          n_rows=idx.shape[0])
                    else:
                        loss = self._step(model, mixing, opt, x_cont[idx], x_cat[idx], y[idx], g)
                    total += loss * idx.shape[0]
                entry = {"epoch": epoch, "train_loss": float(total) / n}
                if val_idx is not None:
                    model.eval()
                    with torch.no_grad():
                        val_loss = float(self._loss_fn(self._forward_model(model, x_cont[val_idx], x_cat[val_idx]),
                                                       y[val_idx]))
                    entry["val_loss"] = val_loss
                    if self.early_stopping:
                        if val_loss < best - 1e-4:
                            best, best_epoch, waited = val_loss, epoch, 0
                            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                        else:
                            waited += 1
                log.append(entry)
                if bar is not None:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in entry.items() if k != "epoch"})
                if self.early_stopping and val_idx is not None and waited >= self.n_iter_no_change:
                    break
        if bar is not None:
            bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            best_epoch = len(log) - 1
        model.eval()
        return {"epochs": log, "best_epoch": best_epoch}

    def _make_tabular_mixer(self, mixer: Mixer, model: TabularMLP, cardinalities: Sequence[int]) -> TabularMixer:
        """The embedding policy hooks the model's ``joined`` input (continuous columns and every variable's
        embedding side by side): one draw mixes the continuous columns directly and each variable in its own
        space, block-wise, in one kernel call (tested equal to mixing the continuous input and hooking each
        embedding); :meth:`_train` attaches it there. The other policies mix the inputs."""
        if self.categorical_mixing == "embedding":
            return TabularMixer(mixer, policy="embedding", cardinalities=cardinalities, continuous_at_site=True)
        return TabularMixer(mixer, policy=self.categorical_mixing, cardinalities=cardinalities)

    def _step(self, model: TabularMLP, mixing: Any, opt: torch.optim.Optimizer, x_cont: Tensor, x_cat: Tensor,
              y: Tensor, g: torch.Generator, n_rows: int | None = None) -> Tensor:
        """One training step: one draw, mixed inputs and embeddings, the mode's loss, update; the detached loss.

        ``n_rows``: only the first ``n_rows`` rows are the batch; the rest are their partners (whole-set
        C-Mixup), which pair with themselves, stay unmixed and are left out of the loss.

        RegMixup runs two forwards, the clean batch before the draw arms the embedding hooks, then the
        mixed batch: :class:`TabularMLP` has no batch statistics, so this equals one forward on the
        concatenated batch, and the hooks keep the batch's own plan.
        """
        n = x_cont.shape[0] if n_rows is None else n_rows
        clean = model(x_cont[:n], x_cat[:n]) if self.mode == "regmixup" else None
        mixing.arm(y, params=mixing.tabular.sample(x_cont, x_cat, labels=y, generator=g))
        out = model(x_cont, x_cat)
        target = mixing.target(y)
        if n_rows is not None:
            out = out[:n]
            target = dataclasses.replace(target, y_a=target.y_a[:n], y_b=target.y_b[:n], lam=target.lam[:n])
        loss = self._mode_loss(out, target, clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def _mode_loss(self, out: Tensor, target: MixedTarget, clean: Tensor | None = None) -> Tensor:
        """The training loss of ``mode`` on the mixed batch's outputs (and the clean ones for RegMixup)."""
        if self.mode == "regmixup" and clean is not None:
            return mode_loss(self._loss_fn, torch.cat([clean, out]), target, mode="regmixup", eta=float(self.eta))
        return mode_loss(self._loss_fn, out, target, mode="mixup" if self.mode == "regmixup" else self.mode,
                         eta=float(self.eta))

    @staticmethod
    def _forward_model(model: TabularMLP, x_cont: Tensor, x_cat: Tensor) -> Tensor:
        outs = [model(x_cont[i:i + _PREDICT_CHUNK], x_cat[i:i + _PREDICT_CHUNK])
                for i in range(0, x_cont.shape[0], _PREDICT_CHUNK)]
        return torch.cat(outs) if outs else torch.zeros(0, model.out_features)

    def _forward(self, x_cont: Tensor, x_cat: Tensor) -> Tensor:
        # predictions in float64: a float32 matmul rounds differently for different numbers of rows, and a
        # prediction must not depend on which other rows were passed with it
        model = copy.deepcopy(self.model_).double().eval()
        with torch.no_grad():
            return self._forward_model(model, x_cont.double(), x_cat)

    def predict_logits(self, X: Any) -> np.ndarray:
        """Raw model outputs ``(n, out)`` before the temperature and the softmax / sigmoid."""
        return self._forward(*self._tensors(X)).numpy().astype(np.float64)

    def _more_tags(self) -> dict[str, Any]:  # sklearn < 1.6
        return {"allow_nan": True}

    def __sklearn_tags__(self):  # sklearn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class _AppendedPartners:
    """Pairing of a batch ``[rows; partners]`` of ``2B`` rows: row ``i`` pairs with ``B + i``, and each
    partner with itself (so it stays unmixed)."""

    def __call__(self, batch_size: int, *, labels: Tensor | None = None, generator: Any = None,
                 device: Any = None) -> Tensor:
        tail = torch.arange(batch_size // 2, batch_size, device=device)
        return torch.cat([tail, tail])

    def __repr__(self) -> str:
        return "label_distance over the whole training set"


def label_distance_partners(y_batch: Tensor, y_train: Tensor, batch_rows: Tensor, train_rows: Tensor,
                            bandwidth: float, generator: torch.Generator) -> Tensor:
    """C-Mixup partners drawn from the whole training set (Yao et al., 2022), as row ids of the table.

    Row ``i`` takes training row ``j ≠ i`` with probability ∝ ``exp(-‖y_i - y_j‖² / (2·bandwidth²))``
    (Gumbel-max over a ``(B, N)`` matrix of kernel logits).

    Args:
        y_batch: ``(B, k)`` the batch's (standardised) targets; y_train: ``(N, k)`` the training set's.
        batch_rows: ``(B,)`` the batch's row ids; train_rows: ``(N,)`` the training set's row ids.
    """
    yb, yt = y_batch.reshape(y_batch.shape[0], -1).float(), y_train.reshape(y_train.shape[0], -1).float()
    logits = -torch.cdist(yb, yt).pow(2) / (2.0 * bandwidth**2)
    logits = logits.masked_fill(batch_rows[:, None] == train_rows[None, :], float("-inf"))
    u = torch.rand(logits.shape, generator=generator, device=generator.device).to(logits.device)
    return train_rows[(logits - torch.log(-torch.log(u.clamp(1e-12, 1.0 - 1e-7)))).argmax(1)]


def _auto_batch_size(n_train: int) -> int:
    """``"auto"``: 256 rows up to 25,600 training rows, then 1% of them, at most 1024."""
    return int(min(1024, max(256, n_train // 100)))


_MIN_ERRORS = 2  # misclassified validation rows needed to fit a temperature (see _fit_temperature)


def _fit_temperature(logits: Tensor, y: Tensor, loss_fn: Any) -> float | None:
    """The temperature ``T`` minimising the validation loss of ``logits / T`` (Guo et al., 2017), or 1.

    With no misclassified validation row the loss keeps falling as ``T → 0``, so the fit runs to its
    bound; with one, that single row decides ``T``. Measured on breast_cancer (41 validation rows, 0–2
    misclassified), such temperatures multiplied the test log loss by up to 3. So ``T`` is fitted only
    when at least :data:`_MIN_ERRORS` rows (label decisions, for multilabel) are misclassified; otherwise,
    and when the fit leaves ``(0.01, 100)``, this returns ``None`` (the caller keeps ``T = 1``).

    Args:
        logits: ``(n, C)`` validation logits; y: ``(n,)`` class ids, or ``(n, L)`` 0/1 for multilabel.
    """
    if not bool(torch.isfinite(logits).all()):
        return None  # a diverged model: no temperature can be fitted to it
    wrong = (logits > 0) != (y > 0.5) if y.is_floating_point() else logits.argmax(1) != y
    if int(wrong.sum()) < _MIN_ERRORS:
        return None
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")
    logits = logits.detach()

    def closure() -> Tensor:
        opt.zero_grad()
        loss = loss_fn(logits / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return t if np.isfinite(t) and 1e-2 < t < 1e2 else None


class MixupTabularClassifier(ClassifierMixin, _MixupTabularBase):
    """A scikit-learn classifier: :class:`TabularMLP` trained with tabular mixup.

    Binary, multiclass (any label type, e.g. strings) and multilabel (a 0/1 indicator matrix ``y``).
    DataFrames keep their column types (numeric → continuous, category/object/string/bool →
    categorical, each categorical variable mixed in its own embedding space); numeric arrays are
    all continuous unless ``categorical=[positions]``. Missing values and unseen categories at predict
    time are handled (reserved codes, median imputation with indicators).

    Args:
        alpha: Beta(α, α) of the mixing weight; ``alpha=0`` is plain training (ERM); ``None``: the
            mode's default (:data:`DEFAULT_ALPHA`).
        mode: one of :data:`MODES`: ``"erm"``, ``"mixup"``, ``"regmixup"`` (clean loss + ``eta`` × mixup
            loss) or ``"inputs_only"`` (mixed inputs, the dominant input's label); see
            :mod:`mixup_any.calibration`.
        eta: weight of RegMixup's mixed term, ``>= 0``.
        mixer: a custom :class:`~mixup_any.Mixer` instead of ``MixUp(alpha, pairing, bandwidth)``;
            setting it together with ``alpha``, ``pairing`` or ``bandwidth`` is an error (tune
            ``mixer__alpha`` instead).
        categorical_mixing: ``"embedding"``, ``"onehot"`` or ``"swap"`` (see :class:`TabularMixer`).
        pairing: partner choice, e.g. ``"permute"`` or ``"same_class"``.
        bandwidth: σ of ``pairing="label_distance"``.
        numeric: preprocessing of continuous columns: ``"power"`` (Yeo-Johnson, the default: lowest
            mean log loss on the bundled data, never worse than the others beyond the seed noise; see
            docs/tabular.md), ``"standard"``, ``"quantile"`` (to a normal distribution) or ``"robust"``
            (median/IQR, clipped to ±5); see :class:`TabularPreprocessor`.
        hidden_sizes: MLP widths. embedding_dim: one width for every variable (``None``: by cardinality).
        dropout: dropout of the hidden layers.
        max_epochs, batch_size, lr, weight_decay: the AdamW training loop; ``batch_size="auto"`` is 256
            up to 25,600 training rows, then 1% of them, at most 1024.
        early_stopping: stop when the validation loss has not improved for ``n_iter_no_change`` epochs,
            and keep the best epoch's weights.
        validation_fraction: share of the rows held out (stratified) for early stopping and the temperature.
        temperature_scaling: divide logits by ``temperature_`` (always fitted on the validation split when
            there is one) in ``predict_proba``. The temperature stays 1 (with a warning when this is
            ``True``) if the split has fewer than 2 misclassified rows, which cannot identify it.
        categorical, continuous: per-column overrides of the inferred schema (names or positions).
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

    def fit(self, X: Any, y: Any) -> MixupTabularClassifier:
        """Fit on ``X`` (DataFrame or array, ``(n, p)``) and labels ``y`` ``(n,)`` or ``(n, L)`` multilabel."""
        self._check_params()
        df = self._prepare_X(X, reset=True)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        y_arr = np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()
        if y_arr.shape[0] != len(df):
            raise MixupError(f"X has {len(df)} rows but y has {y_arr.shape[0]}.")
        check_classification_targets(y_arr)
        ytype = type_of_target(y_arr)
        if ytype == "multilabel-indicator":
            self._multilabel = True
            self.classes_ = np.arange(y_arr.shape[1])
            y_t = torch.tensor(np.asarray(y_arr, dtype=np.float32))
            self._fit(y_t, y_arr.shape[1], "multilabel", None, df, stratify=False)
            return self
        if ytype not in ("binary", "multiclass"):
            raise MixupError(f"Unsupported target type {ytype!r}; expected binary, multiclass or multilabel-indicator.")
        y1 = column_or_1d(y_arr, warn=True)
        classes, y_enc = np.unique(y1, return_inverse=True)
        if classes.shape[0] < 2:
            raise MixupError(f"The target has only one class ({classes.tolist()[0]!r}); "
                             "a classifier needs at least two.")
        self._multilabel = False
        self.classes_ = classes
        y_t = torch.tensor(y_enc, dtype=torch.int64)
        self._fit(y_t, classes.shape[0], "index", classes.shape[0], df, stratify=True)
        return self

    def _loss_fn(self, logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        if self._multilabel:
            return F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)
        return F.cross_entropy(logits, y, reduction=reduction)

    def _proba_from_logits(self, logits: np.ndarray | Tensor, temperature: float) -> np.ndarray:
        z = torch.as_tensor(logits, dtype=torch.float64) / temperature
        p = torch.sigmoid(z) if self._multilabel else torch.softmax(z, dim=-1)
        return p.numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, C)`` (per-label probabilities for multilabel)."""
        t = self.temperature_ if self.temperature_scaling else 1.0
        return self._proba_from_logits(self.predict_logits(X), t)

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

    Targets ``(n,)`` or ``(n, k)`` are standardised for training. ``pairing="label_distance"`` is
    C-Mixup (Yao et al., 2022): each row's partner is drawn **from the whole training set**, as in the
    paper, with a Gaussian kernel of width ``bandwidth`` on the (standardised) label distance (the
    partners are appended to the batch for the forward pass, unmixed, and left out of the loss). Other
    arguments as
    :class:`MixupTabularClassifier` (``temperature_scaling`` does not apply).

    Example:
        >>> import numpy as np
        >>> X = np.linspace(0, 1, 40)[:, None]
        >>> reg = MixupTabularRegressor(max_epochs=3, pairing="label_distance", random_state=0).fit(X, 2 * X[:, 0])
        >>> reg.predict(X[:3]).shape
        (3,)
    """

    _kind = "regressor"

    def fit(self, X: Any, y: Any) -> MixupTabularRegressor:
        """Fit on ``X`` (DataFrame or array, ``(n, p)``) and float targets ``(n,)`` or ``(n, k)``."""
        self._check_params()
        df = self._prepare_X(X, reset=True)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if y_arr.shape[0] != len(df):
            raise MixupError(f"X has {len(df)} rows but y has {y_arr.shape[0]}.")
        try:
            y_arr = y_arr.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise MixupError(f"Regression targets must be numbers, got dtype {y_arr.dtype}.") from err
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = column_or_1d(y_arr, warn=True)
        if not np.isfinite(y_arr).all():
            raise MixupError("Regression targets hold NaN or infinity.")
        self._y_ndim = y_arr.ndim
        y2 = y_arr.reshape(len(y_arr), -1)
        self.y_mean_ = y2.mean(axis=0)
        scale = y2.std(axis=0)
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        y_t = torch.tensor((y2 - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        self._fit(y_t, y2.shape[1], "regression", None, df, stratify=False)
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
