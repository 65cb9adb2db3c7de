"""Manifold mixup through hooks, and a head on a frozen backbone, on scikit-learn's digits (real 8x8 images).

    python examples/manifold_mixup_digits.py [--seeds 5] [--epochs 30] [--alpha 2.0]

A small CNN (input -> block1 -> block2 -> head), trained four ways per seed:
ERM; input mixup; manifold mixup (one site per batch drawn from {input, block1, block2}, Verma et al. 2019);
and a frozen backbone (pre-trained briefly with ERM on 30% of the training split) whose new head is trained
on the whole split with and without mixing at the backbone's last conv block (the cached-feature fast path,
which equals a hook at that block). Prints accuracy, log loss and ECE (15 bins) as mean ± std over seeds,
and paired differences against the baseline with their standard error.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from mixup_any import MixUp, attach, mixed_loss
from mixup_any.frozen import cache_features
from mixup_any.metrics import accuracy, expected_calibration_error, log_loss, mean_std, paired_t_interval


def load(seed: int):
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    y = torch.tensor(y)
    tr, te = train_test_split(range(len(y)), test_size=0.3, stratify=y.numpy(), random_state=seed)
    return X[tr], y[tr], X[te], y[te]


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.block1(x)))


def metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    probs = logits.softmax(-1)
    return {"accuracy": accuracy(probs, y), "log_loss": log_loss(probs, y),
            "ece": expected_calibration_error(probs, y, n_bins=15)}


def fit(model, params, X, y, epochs, seed, mixer=None, sites=None):
    """Train ``params`` of ``model``; with ``sites`` a hook mixes one drawn site per batch."""
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
    order = torch.Generator().manual_seed(seed)
    handle = attach(mixer, model, at=sites) if sites else None  # <- manifold mixup
    try:
        for _ in range(epochs):
            model.train()
            for idx in torch.randperm(len(y), generator=order).split(64):
                if handle is not None:
                    handle.arm(y[idx])                          # <- arm the next forward
                out = model(X[idx])
                target = handle.target(y[idx]) if handle is not None else y[idx]
                loss = mixed_loss(F.cross_entropy, out, target)
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        if handle is not None:
            handle.remove()
    model.eval()


def run_seed(seed: int, epochs: int, alpha: float) -> dict[str, dict[str, float]]:
    Xtr, ytr, Xte, yte = load(seed)
    res = {}
    for name, sites in [("ERM", None), ("input mixup", ["input"]), ("manifold mixup", ["input", "block1", "block2"])]:
        torch.manual_seed(seed)
        model = CNN()
        fit(model, model.parameters(), Xtr, ytr, epochs, seed, MixUp(alpha=alpha, num_classes=10, seed=seed), sites)
        with torch.no_grad():
            res[name] = metrics(model(Xte), yte)
    # frozen backbone: brief ERM pre-training on 30% of the training split, then only a new head learns
    torch.manual_seed(seed)
    pre = CNN()
    n_pre = int(0.3 * len(ytr))
    fit(pre, pre.parameters(), Xtr[:n_pre], ytr[:n_pre], max(epochs // 3, 1), seed)
    backbone = nn.Sequential(pre.block1, pre.block2).requires_grad_(False)
    train_feats = cache_features(backbone, (Xtr, ytr))      # the backbone runs once; an epoch is a head pass
    test_feats = cache_features(backbone, Xte).features
    for name, a in [("frozen head", 0.0), ("frozen head + mix@block2", alpha)]:
        torch.manual_seed(seed)
        head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
        opt = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=1e-4)
        mixer = MixUp(alpha=a, num_classes=10, seed=seed)   # alpha=0 is exactly ERM
        order = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for fb, yb in train_feats.batches(64, generator=order):
                fb, target = mixer(fb, yb)                  # mixing the cache = mixing at block2's output
                loss = mixed_loss(F.cross_entropy, head(fb), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            res[name] = metrics(head(test_feats), yte)
    return res


def paired(runs, a: str, b: str, key: str) -> str:
    iv = paired_t_interval([r[a][key] for r in runs], [r[b][key] for r in runs])
    return f"{iv}, {'beyond' if iv.beyond_noise else 'within'} the seed noise"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--alpha", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs = [run_seed(s, args.epochs, args.alpha) for s in range(args.seeds)]
    print(f"digits, small CNN, {args.epochs} epochs, alpha={args.alpha}, {args.seeds} seeds "
          "(split, init and draws vary with the seed)")
    print(f"{'':<26}{'accuracy':>17}{'log loss':>17}{'ECE (15 bins)':>17}")
    for name in runs[0]:
        print(f"{name:<26}" + "".join(f"{mean_std([r[name][k] for r in runs]):>17}"
                                      for k in ("accuracy", "log_loss", "ece")))
    print("\npaired differences (same seed, split and init; 'beyond' = outside a 95% t-interval):")
    for a, b in [("input mixup", "ERM"), ("manifold mixup", "ERM"), ("manifold mixup", "input mixup"),
                 ("frozen head + mix@block2", "frozen head")]:
        for key in ("accuracy", "log_loss", "ece"):
            print(f"  {a} - {b}, {key}: {paired(runs, a, b, key)}")


if __name__ == "__main__":
    main()
