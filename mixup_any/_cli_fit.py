"""The fits of ``mixup-any compare``: the models (ERM, each mixing method at each α, gradient boosting as
context), one fit per model and fold, and each fold's test metrics."""

from __future__ import annotations

import argparse
import sys
from typing import Any

CONTEXT = "HistGradientBoosting"
BASELINE = "ERM (alpha=0)"
HGB_VALIDATION = 0.2  # the share of each training fold gradient boosting holds out for early stopping


def models(args: argparse.Namespace, task: str) -> dict[str, Any]:
    """ERM, then each mixing method of ``--methods`` at each ``--alpha``: ``{row name: unfitted estimator}``."""
    from .tabular import MixupTabularClassifier, MixupTabularRegressor

    est = MixupTabularClassifier if task == "classification" else MixupTabularRegressor
    # keep_ids: the command has left out the identifier-like columns of the whole table (unless --keep-ids)
    common = dict(max_epochs=args.epochs, categorical_mixing=args.categorical_mixing, random_state=args.seed,
                  keep_ids=True)
    out = {BASELINE: est(mode="erm", alpha=0.0, **common)}
    for method in (m for m in args.methods if m != "erm"):
        label = "C-Mixup" if method == "mixup" and args.pairing == "label_distance" else method
        for a in args.alpha:
            out[f"{label} alpha={a:g}"] = est(mode=method, alpha=a, pairing=args.pairing, **common)
    return out


def hgb(task: str, seed: int) -> Any:
    """Gradient boosting as a well-configured baseline: a small learning rate, early stopping on 20% of the rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    return cls(learning_rate=0.05, max_iter=1000, early_stopping=True, validation_fraction=HGB_VALIDATION,
               n_iter_no_change=20, categorical_features="from_dtype", random_state=seed)


def hgb_frame(X: Any) -> Any:
    """Object/bool/string columns as pandas categories (low cardinality) or ordinal codes (high)."""
    import pandas as pd

    X = X.copy()
    for c in X.columns:
        s = X[c]
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype("category")
            X[c] = s if len(s.cat.categories) <= 250 else s.cat.codes.replace(-1, float("nan")).astype(float)
    return X


def class_metrics(probs: Any, y_idx: Any) -> dict[str, float]:
    """Accuracy, log loss, ECE and the Brier score of probabilities ``(n, C)`` for class ids ``(n,)``."""
    import torch

    from . import metrics

    p, y = torch.as_tensor(probs, dtype=torch.float64), torch.as_tensor(y_idx, dtype=torch.int64)
    return {"accuracy": metrics.accuracy(p, y), "log_loss": metrics.log_loss(p, y),
            "ece": metrics.expected_calibration_error(p, y), "brier": metrics.brier_score(p, y)}


def reg_metrics(pred: Any, y: Any) -> dict[str, float]:
    """RMSE, MAE and R² of predictions ``(n,)`` against targets ``(n,)``."""
    import numpy as np

    err = np.asarray(pred, dtype=float) - np.asarray(y, dtype=float)
    var = float(np.var(np.asarray(y, dtype=float)))
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.mean(err**2)) / var if var > 0 else float("nan")}


def _softmax(logits: Any, temperature: float) -> Any:
    import torch

    return torch.softmax(torch.as_tensor(logits, dtype=torch.float64) / temperature, dim=-1).numpy()


def validation_rows(tr: Any, y_idx: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """``(fit rows, validation rows)`` of the training rows ``tr``: ``fraction`` of them held out (stratified for
    classification), the same for every model of a fold; ``(tr, None)`` when nothing can be held out."""
    from sklearn.model_selection import train_test_split

    if fraction <= 0:
        return tr, None
    try:
        fit, val = train_test_split(tr, test_size=fraction, random_state=seed,
                                    stratify=None if y_idx is None else y_idx[tr])
    except ValueError:  # too few rows (of a class) to hold any out: the estimator trains on them all
        return tr, None
    return fit, val


def _score(name: str, est: Any, X: Any, y_fit: Any, y_idx: Any, tr: Any, te: Any,
           seed: int = 0) -> tuple[dict[str, Any], dict]:
    """Fit ``est`` on rows ``tr`` (the MLPs with ``eval_set=`` on :func:`validation_rows` of them); ``(metrics on
    rows te, {pooled name: test probabilities})``."""
    if name == CONTEXT:
        est = est.fit(X.iloc[tr], y_fit[tr])
        if y_idx is None:
            return reg_metrics(est.predict(X.iloc[te]), y_fit[te]), {}
        probs = est.predict_proba(X.iloc[te])
        return class_metrics(probs, y_idx[te]), {name: probs}
    fit, val = validation_rows(tr, y_idx, est.validation_fraction, seed)
    est = est.fit(X.iloc[fit], y_fit[fit], eval_set=None if val is None else (X.iloc[val], y_fit[val]))
    if y_idx is None:
        return reg_metrics(est.predict(X.iloc[te]), y_fit[te]) | {"epochs": est.n_epochs_}, {}
    logits = est.predict_logits(X.iloc[te])
    probs, calibrated = _softmax(logits, 1.0), _softmax(logits, est.temperature_)
    scaled = class_metrics(calibrated, y_idx[te])
    row = class_metrics(probs, y_idx[te]) | {"log_loss_ts": scaled["log_loss"], "ece_ts": scaled["ece"],
                                              "temperature": est.temperature_, "epochs": est.n_epochs_}
    return row, {name: probs, f"{name} + temp. scaling": calibrated}


def fit_folds(X: Any, y_fit: Any, y_idx: Any, splits: list[Any], estimators: dict[str, Any],
              args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """Every model of ``estimators`` (and :data:`CONTEXT`) on every fold: the rows of ``folds.csv`` and, for
    classification (``y_idx`` not ``None``), each model's test probabilities over the first repeat
    (``{name: [(test rows, probs), ...]}``, for the reliability diagram)."""
    from sklearn.base import clone
    from tqdm import tqdm

    names = list(estimators) + ([] if args.no_hgb else [CONTEXT])
    hgb_X: Any = hgb_frame(X) if not args.no_hgb else None  # used only by the CONTEXT model
    bar = tqdm(total=len(splits) * len(names), desc="fitting", unit="fit", disable=args.no_progress or None,
               file=sys.stderr)
    folds: list[dict[str, Any]] = []
    pooled: dict[str, list[Any]] = {}
    for k, (tr, te) in enumerate(splits):
        rep = k // args.folds
        for name in names:
            bar.set_postfix_str(f"repeat {rep + 1} fold {k % args.folds + 1}: {name}")
            est = hgb("classification" if y_idx is not None else "regression", args.seed) if name == CONTEXT \
                else clone(estimators[name])
            row, probs = _score(name, est, hgb_X if name == CONTEXT else X, y_fit, y_idx, tr, te, args.seed + k)
            folds.append({"model": name, "repeat": rep, "fold": k % args.folds, **row})
            if rep == 0:
                for pname, p in probs.items():
                    pooled.setdefault(pname, []).append((te, p))
            bar.update(1)
    bar.close()
    return folds, pooled
