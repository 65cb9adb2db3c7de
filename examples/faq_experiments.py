"""The measurements behind the README's FAQ, on data bundled with scikit-learn (offline).

    python examples/faq_experiments.py [--seeds 5] [--epochs 30] [--out docs/faq_results.md]

Questions measured: why the training loss sits above the validation loss under mixup; how α changes
accuracy and calibration; whether to lower weight decay or dropout with mixup; whether mixing targets
and mixing losses differ; whether mixup helps on small non-image data (wine, breast cancer).
Every figure is mean ± std over seeds (split, init and mixing all vary with the seed); each table is followed
by paired differences with their 95% t-interval over seeds (``paired_t_interval``), the verdict on the noise.
"""

from __future__ import annotations

import argparse
import pathlib

import torch
import torch.nn.functional as F
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from mixup_any import MixUp, mixed_loss
from mixup_any.metrics import accuracy, expected_calibration_error, log_loss, mean_std, paired_t_interval

LOADERS = {"digits": datasets.load_digits, "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}


def split(name: str, seed: int):
    X, y = LOADERS[name](return_X_y=True)
    tr, te = train_test_split(range(len(y)), test_size=0.3, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X[tr])
    t = lambda a: torch.tensor(scaler.transform(a), dtype=torch.float32)  # noqa: E731
    return t(X[tr]), torch.tensor(y[tr]), t(X[te]), torch.tensor(y[te]), int(y.max()) + 1


def run(name: str, seed: int, alpha: float, epochs: int, wd: float = 1e-4, dropout: float = 0.0,
        check_routes: bool = False) -> dict[str, float]:
    torch.manual_seed(seed)
    Xtr, ytr, Xte, yte, c = split(name, seed)
    model = nn.Sequential(nn.Linear(Xtr.shape[1], 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, c))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=wd)
    mixer = MixUp(alpha=alpha, num_classes=c, seed=seed).follow(model)
    g = torch.Generator().manual_seed(seed)
    route_gap = 0.0
    for _ in range(epochs):
        model.train()
        losses = []
        for idx in torch.randperm(len(ytr), generator=g).split(32):
            x, target = mixer(Xtr[idx], ytr[idx])
            out = model(x)
            loss = mixed_loss(F.cross_entropy, out, target)
            if check_routes:  # mixing two losses vs one loss on mixed soft targets
                route_gap = max(route_gap, float((loss - F.cross_entropy(out, target.soft())).detach().abs()))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    model.eval()
    with torch.no_grad():
        p_te, p_tr = model(Xte).softmax(-1), model(Xtr).softmax(-1)
    return {"acc": accuracy(p_te, yte), "nll": log_loss(p_te, yte), "ece": expected_calibration_error(p_te, yte),
            "train_mixed_loss": sum(losses) / len(losses), "train_clean_loss": log_loss(p_tr, ytr),
            "route_gap": route_gap}


def table(rows: dict[str, list[dict]], keys: list[str]) -> str:
    head = "| setting | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys) + "\n"
    return head + "".join(f"| {k} | " + " | ".join(mean_std([r[m] for r in rs]) for m in keys) + " |\n"
                          for k, rs in rows.items())


def deltas(rows: dict[str, list[dict]], pairs: list[tuple[str, str]], keys: list[str]) -> str:
    """Paired differences ``a - b`` (same seeds) with their 95% t-interval; ``*`` marks beyond the noise."""
    def cell(a: str, b: str, m: str) -> str:
        iv = paired_t_interval([r[m] for r in rows[a]], [r[m] for r in rows[b]])
        return f"{iv.diff:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}]" + (" *" if iv.beyond_noise else "")
    head = ("\nPaired differences, 95% t-interval over seeds (* = beyond the noise):\n\n| difference | "
            + " | ".join(keys) + " |\n|---|" + "---|" * len(keys) + "\n")
    return head + "".join(f"| {a} − {b} | " + " | ".join(cell(a, b, m) for m in keys) + " |\n" for a, b in pairs)


def write_section(path: pathlib.Path, name: str, md: str) -> None:
    """Replace the part of ``path`` between ``<!-- begin name -->`` and ``<!-- end name -->`` with ``md``.

    The section is appended when the file has no such markers, and the file created when missing, so each
    command rewrites only the tables it produced.
    """
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{md.strip()}\n{end}\n"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = old + ("\n" if old else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default="docs/faq_results.md")
    a = ap.parse_args()
    torch.set_num_threads(1)
    seeds = range(a.seeds)
    S = lambda **kw: [run(seed=s, epochs=a.epochs, **kw) for s in seeds]  # noqa: E731
    md = [f"# FAQ measurements\n\nProduced by `python examples/faq_experiments.py --seeds {a.seeds} --epochs "
          f"{a.epochs}`: an MLP (128 hidden units, AdamW lr 2e-3, batch 32) on standardized features, 30% "
          "held out, mean ± std over seeds; each table is followed by paired differences (same seeds) with their "
          "95% t-interval, which decides whether a difference is beyond the seed noise.\n"]
    md.append("## Training loss vs validation loss (digits)\n")
    loss_keys = ["train_mixed_loss", "train_clean_loss", "nll"]
    rows = {"ERM": S(name="digits", alpha=0.0), "mixup α=0.4": S(name="digits", alpha=0.4)}
    md.append(table(rows, loss_keys))
    md.append(deltas(rows, [("mixup α=0.4", "ERM")], loss_keys))
    keys = ["acc", "nll", "ece"]
    md.append("\n## α (digits)\n")
    rows = {f"α={al}" if al else "ERM (α=0)": S(name="digits", alpha=al) for al in (0.0, 0.1, 0.2, 0.4, 1.0, 2.0)}
    md.append(table(rows, keys))
    md.append(deltas(rows, [(k, "ERM (α=0)") for k in list(rows)[1:]], keys))
    md.append("\n## Weight decay and dropout with and without mixup (digits)\n")
    grid = {}
    for wd in (0.0, 1e-2, 1e-1):
        for al in (0.0, 0.4):
            grid[f"wd={wd:g}, {'mixup α=0.4' if al else 'ERM'}"] = S(name="digits", alpha=al, wd=wd)
    for al in (0.0, 0.4):
        grid[f"dropout=0.3, {'mixup α=0.4' if al else 'ERM'}"] = S(name="digits", alpha=al, dropout=0.3)
    md.append(table(grid, keys))
    md.append(deltas(grid, [(f"{s}, {m}", f"wd=0, {m}") for m in ("ERM", "mixup α=0.4")
                            for s in ("wd=0.01", "wd=0.1", "dropout=0.3")], keys))
    md.append("\n## Mixing targets vs mixing losses (digits, α=1, every training batch)\n")
    gap = max(r["route_gap"] for r in S(name="digits", alpha=1.0, check_routes=True))
    md.append(f"Largest |mixed_loss - F.cross_entropy on the soft targets| over all batches and seeds: {gap:.2e} (float32 rounding).\n")
    md.append("\n## Beyond images: small tables bundled with scikit-learn\n")
    rows = {f"{n}, {'mixup α=0.4' if al else 'ERM'}": S(name=n, alpha=al)
            for n in ("wine", "breast_cancer") for al in (0.0, 0.4)}
    md.append(table(rows, keys))
    md.append(deltas(rows, [(f"{n}, mixup α=0.4", f"{n}, ERM") for n in ("wine", "breast_cancer")], keys))
    text = "\n".join(md)
    print(text)
    write_section(pathlib.Path(a.out), "basics", text)


if __name__ == "__main__":
    main()
