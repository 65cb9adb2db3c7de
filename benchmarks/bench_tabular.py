"""Tabular mixup: cost of one training epoch of MixupTabularClassifier with mixup vs with mixup off.

Figures (ratios measured interleaved in one run, medians over repeats):

* ``tabular_epoch_ratio``: epoch wall time with mixup (alpha=0.4, every categorical variable mixed in
  its own embedding space through hooks) / with mixup off (alpha=0), same model and data, the
  estimator's default batch size ("auto": 1,000 rows at 100,000 rows). Target <= 1.10.
* ``tabular_step_ratio``: the same cost per training step, single steps of the two alternating (the
  most noise-robust form on a shared machine).
* ``tabular_epoch_ratio_batch256``: the same at a fixed batch of 256 rows.
* ``tabular_epoch_ratio_vs_plain_loop``: the mixup epoch against a hand-written PyTorch loop with no
  mixer, no hooks and plain cross-entropy (the estimator with mixup off still runs its unarmed hooks).
* ``tabular_swap_epoch_ratio``: the same with the swap policy (codes swapped, no hooks).
* ``tabular_preprocess_seconds`` / ``tabular_preprocess_epoch_ratio``: scikit-learn preprocessing
  (fit + transform of the DataFrame), reported apart from the epoch.

Data: synthetic, 100,000 rows x 20 columns (10 continuous with 5% missing, 10 categorical with 3 to 200
levels); ``--quick``: 20,000 rows. Timing only; the labels are random.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from _timing import Figure, time_many


def _frame(n: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = {}
    for j in range(10):
        v = rng.normal(size=n)
        v[rng.random(n) < 0.05] = np.nan
        cols[f"num{j}"] = v
    for j, levels in enumerate([3, 5, 8, 12, 20, 30, 50, 80, 120, 200]):
        cols[f"cat{j}"] = pd.Series(rng.integers(0, levels, size=n).astype(str), dtype="object")
    return pd.DataFrame(cols), rng.integers(0, 2, size=n)


def _epoch_fn(est, model, tm, x_cont, x_cat, y):
    idx = torch.arange(x_cont.shape[0])
    g = torch.Generator().manual_seed(0)

    def run():
        est._train(model, tm, x_cont, x_cat, y, idx, None, g)

    return run


def _plain_epoch_fn(model, x_cont, x_cat, y, batch_size):
    """The same epoch as a hand-written PyTorch loop: no mixer, no hooks, plain cross-entropy."""
    import torch.nn.functional as F

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)

    def run():
        model.train()
        perm = torch.randperm(x_cont.shape[0], generator=g)
        for start in range(0, x_cont.shape[0], batch_size):
            idx = perm[start:start + batch_size]
            loss = F.cross_entropy(model(x_cont[idx], x_cat[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def _step_ratio(cache, x_cont, x_cat, y, batch_size, steps):
    """Median over alternating single training steps (the estimator's own ``_step``): mixup / off.

    Steps of the two configurations alternate one by one, so a change of machine load hits both
    alike; this is the most noise-robust form of the epoch ratio (an epoch is these steps in a row).
    """
    g = torch.Generator().manual_seed(0)
    state = {}
    for name in ("off", "mixup"):
        est, model, tm = cache[name]
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
        ctx = tm.attach(model)
        state[name] = (est, model, opt, ctx, ctx.__enter__())
    times = {"off": [], "mixup": []}
    try:
        for s in range(steps + 5):
            idx = torch.randperm(x_cont.shape[0], generator=g)[:batch_size]
            for name, (est, model, opt, _, mixing) in state.items():
                model.train()
                t0 = time.perf_counter()
                est._step(model, mixing, opt, x_cont[idx], x_cat[idx], y[idx], g)
                if s >= 5:
                    times[name].append(time.perf_counter() - t0)
    finally:
        for _, _, _, ctx, _ in state.values():
            ctx.__exit__(None, None, None)
    ratios = [a / b for a, b in zip(times["mixup"], times["off"], strict=True)]
    return statistics.median(ratios), {k: 1e3 * statistics.median(v) for k, v in times.items()}


def run(quick: bool) -> list[dict]:
    from mixup_any.tabular import MixupTabularClassifier, TabularMLP, TabularPreprocessor
    from mixup_any.tabular.estimators import _auto_batch_size

    n = 20_000 if quick else 100_000
    repeats = 5 if quick else 15  # paired epoch rounds: the epoch figure is the noisiest of the two
    df, y_np = _frame(n)
    t0 = time.perf_counter()
    pre = TabularPreprocessor().fit(df)
    x_cont, x_cat = pre.transform_tensors(df)
    pre_s = time.perf_counter() - t0
    y = torch.tensor(y_np)

    fns = {}
    est_cache: dict = {}
    auto = _auto_batch_size(100_000)  # the estimator's default at 100,000 rows, also in --quick
    runs = [("off", 0.0, "embedding", auto), ("mixup", 0.4, "embedding", auto), ("swap", 0.4, "swap", auto),
            ("off256", 0.0, "embedding", 256), ("mixup256", 0.4, "embedding", 256)]
    for name, alpha, policy, bs in runs:
        est = MixupTabularClassifier(alpha=alpha, categorical_mixing=policy, max_epochs=1, early_stopping=False,
                                     validation_fraction=0.0, batch_size=bs)
        torch.manual_seed(0)
        model = TabularMLP(x_cont.shape[1], pre.cardinalities_, 2)
        mixer = est._make_mixer(2, "index")
        mixer.manual_seed(0)
        tm = est._make_tabular_mixer(mixer, model, pre.cardinalities_)  # the estimator's own wiring
        est._multilabel = False
        fns[name] = _epoch_fn(est, model, tm, x_cont, x_cat, y)
        est_cache[name] = (est, model, tm)
    step_ratio, step_ms = _step_ratio(est_cache, x_cont, x_cat, y, auto, steps=40 if quick else 200)
    torch.manual_seed(0)
    fns["plain"] = _plain_epoch_fn(TabularMLP(x_cont.shape[1], pre.cardinalities_, 2), x_cont, x_cat, y, auto)
    # paired rounds: every round times each epoch once, interleaved; the figures are medians of the
    # per-round ratios, which cancels load drift on a shared machine better than a ratio of medians
    time_many(fns, repeats=1, warmup=0)
    rounds = [time_many(fns, repeats=1, warmup=0, seed=i) for i in range(repeats)]  # a fresh order per round
    t = {k: statistics.median(r[k] for r in rounds) for k in fns}

    def paired(a: str, b: str) -> float:
        return statistics.median(r[a] / r[b] for r in rounds)

    ratio = paired("mixup", "off")
    detail = (f"{n} rows x 20 cols (10 categorical), batch {auto} (the 'auto' size at 100,000 rows), "
              f"{torch.get_num_threads()} threads; epoch "
              f"{t['off']:.2f}s off vs {t['mixup']:.2f}s mixup (median of {repeats} paired interleaved rounds)")
    return [
        Figure("tabular_epoch_ratio", ratio, "<= 1.10", detail),
        Figure("tabular_step_ratio", step_ratio, "<= 1.10",
               f"median over {40 if quick else 200} alternating training steps (estimator._step), batch {auto}: "
               f"{step_ms['off']:.1f} ms off vs {step_ms['mixup']:.1f} ms mixup"),
        Figure("tabular_epoch_ratio_batch256", paired("mixup256", "off256"), "",
               f"batch 256: epoch {t['off256']:.2f}s off vs {t['mixup256']:.2f}s mixup (fixed per-batch cost "
               "of drawing the plan weighs more on small batches)"),
        Figure("tabular_epoch_ratio_vs_plain_loop", paired("mixup", "plain"), "",
               f"mixup epoch / a hand-written loop without mixer or hooks ({t['plain']:.2f}s), batch {auto}"),
        Figure("tabular_swap_epoch_ratio", paired("swap", "off"), "<= 1.10",
               f"swap policy: epoch {t['swap']:.2f}s vs {t['off']:.2f}s off"),
        Figure("tabular_preprocess_seconds", pre_s, "", f"sklearn fit+transform of {n} rows, once per fit"),
        Figure("tabular_preprocess_epoch_ratio", pre_s / t["off"], "", "preprocessing / one epoch without mixup"),
    ]


if __name__ == "__main__":
    import sys

    for f in run(quick="--quick" in sys.argv):
        print(f"{f['name']:<32} {f['value']:8.3f}  {f['target']:<8} {f['detail']}")
