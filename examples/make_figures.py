"""Make the README's pictures of a mix from scikit-learn's bundled digits (offline, a few seconds).

    python examples/make_figures.py            # writes docs/mixup_digits.png, docs/cutmix_digits.png, ...

Each figure shows sample a, sample b and their mix, with target a, target b and the mixed target.
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from mixup_any import CutMix, MixUp, RandomChoice  # noqa: E402
from mixup_any.viz import explain, plot_lambda_hist, plot_mixed_batch  # noqa: E402


def main(out_dir: str = "docs", seed: int = 0) -> list[pathlib.Path]:
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    y = torch.tensor(digits.target)
    pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:16]
    xb, yb = x[pick], y[pick]
    names = [str(i) for i in range(10)]
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name):
        path = out / name
        fig.savefig(path, dpi=110)
        paths.append(path)

    g = torch.Generator().manual_seed(seed)
    save(explain(MixUp(alpha=1.0, lam=(0.55, 0.75)), xb, yb, num_classes=10, class_names=names, generator=g,
                 title="MixUp on scikit-learn digits: x̃ = λ·a + (1−λ)·b, ỹ = λ·y_a + (1−λ)·y_b"),
         "mixup_digits.png")
    save(explain(CutMix(alpha=1.0, lam=(0.55, 0.75)), xb, yb, num_classes=10, class_names=names, generator=g,
                 title="CutMix on digits: a box of b pasted into a; λ = area of a that is kept"),
         "cutmix_digits.png")
    mixer = RandomChoice([MixUp(alpha=1.0, per_sample=True), CutMix(alpha=1.0, per_sample=True)], per_sample_member=True)
    params = mixer.sample(xb.shape, generator=g)
    save(plot_mixed_batch(mixer.mix(xb, params), params.lam, ncols=8), "random_choice_batch.png")
    save(plot_lambda_hist(CutMix(alpha=1.0, per_sample=True), shape=(1, 8, 8), generator=g),
         "cutmix_lambda_hist.png")
    return paths


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for p in main(args.out, args.seed):
        print("wrote", p)
