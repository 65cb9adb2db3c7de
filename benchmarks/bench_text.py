"""Text mixing costs, as ratios measured side by side (interleaved medians) in one run.

* ``token_embedding_overhead_ratio``: forward + backward of a 6-layer MiniLM-sized BERT encoder with a
  classification head (randomly initialised; batch 32 x 128 tokens, CPU) with token-embedding mixing
  (hooks attached per step as MixupTrainer does, union mask, mixed loss) over the same step without mixing.
* ``frozen_token_vs_cached_pooled_ratio``: with the encoder frozen and only the head trained, the cost of an
  epoch of token-level mixing (the encoder runs on every mixed batch) over an epoch of pooled mixing on
  cached features (the encoder ran once, before training; that one-off cost is in the detail).

    python benchmarks/run.py --only text            # full sizes, about a minute on 2 cores
    python benchmarks/run.py --only text --quick    # smaller, well under a minute
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _timing import Figure, num_threads, time_many, time_pair

from mixup_any import MixUp, mixed_loss
from mixup_any._imports import require


def _model(layers: int, hidden: int, heads: int, inter: int, vocab: int, max_pos: int):
    transformers = require("transformers", feature="benchmarks/bench_text.py")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                  num_attention_heads=heads, intermediate_size=inter,
                                  max_position_embeddings=max_pos, num_labels=2)
    return transformers.BertForSequenceClassification(cfg).train()


def _batch(b: int, length: int, vocab: int, seed: int = 0) -> tuple[dict, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(length // 4, length + 1, (b,), generator=g)
    mask = (torch.arange(length).expand(b, length) < lengths[:, None]).long()
    ids = torch.randint(1000, vocab, (b, length), generator=g) * mask
    return {"input_ids": ids, "attention_mask": mask}, torch.randint(0, 2, (b,), generator=g)


def _paired_ratio(a: Callable[[], object], b: Callable[[], object], blocks: int) -> tuple[float, float, float]:
    """Median seconds of ``a`` and ``b`` and the median over ABBA blocks of ``(a_1 + a_2) / (b_1 + b_2)``.

    Each block runs ``a, b, b, a`` back to back: a load change on the shared machine hits both alike, and
    the order cancels (with alternating pairs, an odd count gave one order the majority, and whatever
    running second does to a step, warm caches or a tired core, went into the median of ratios).
    """
    a(), b()
    ta, tb, ratios = [], [], []
    for _ in range(blocks):
        times: dict[str, list[float]] = {"a": [], "b": []}
        for name, fn in (("a", a), ("b", b), ("b", b), ("a", a)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        ta += times["a"]
        tb += times["b"]
        ratios.append(sum(times["a"]) / sum(times["b"]))
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


def run(quick: bool = False) -> list[dict]:
    # One intra-op thread: the 2 cores are shared with other jobs, and with 2 threads under contention every
    # small op waits for a time slice, so the figure would count ops instead of work (docs/text.md).
    with num_threads(1):
        return _run(quick)


def _run(quick: bool) -> list[dict]:
    from mixup_any.text import attach_text

    b, length, blocks = (8, 32, 5) if quick else (32, 128, 5)
    vocab = 30522
    model = _model(6, 384, 12, 1536, vocab, 512)  # all-MiniLM-L6-v2's shape
    batch, y = _batch(b, length, vocab)
    mixer = MixUp(alpha=0.4, seed=0)

    def plain() -> None:
        loss = F.cross_entropy(model(**batch).logits, y)
        loss.backward()
        model.zero_grad(set_to_none=True)

    def mixed() -> None:
        with attach_text(mixer, model, "tokens") as tm:
            inputs, target = tm(batch, y)
            loss = mixed_loss(F.cross_entropy, model(**inputs).logits, target)
        loss.backward()
        model.zero_grad(set_to_none=True)

    t_mix, t_plain, ratio = _paired_ratio(mixed, plain, blocks)

    # the extra work alone: draw, mask union, hook attach/remove, the mix and its backward, the second CE
    emb = torch.randn(b, length, model.config.hidden_size, requires_grad=True)
    logits = torch.randn(b, 2, requires_grad=True)

    def extra() -> None:
        with attach_text(mixer, model, "tokens") as tm:
            _, target = tm(batch, y)
            tm._hooks.disarm()
        mixer.mix(emb, tm.params).sum().backward()
        mixed_loss(F.cross_entropy, logits, target).backward()

    t_extra = time_many({"extra": extra}, repeats=20)["extra"]
    figures = [Figure(
        "token_embedding_overhead_ratio", ratio, "<= 1.03",
        f"6-layer MiniLM-size BERT, batch {b}x{length}, fwd+bwd, {torch.get_num_threads()} thread; median of "
        f"{blocks} ABBA blocks (a, b, b, a) of ratios (ratio of medians {t_mix / t_plain:.3f}: {t_mix * 1e3:.0f} vs "
        f"{t_plain * 1e3:.0f} ms); the extra work timed alone is {t_extra * 1e3:.1f} ms/step = "
        f"{1 + t_extra / t_plain:.4f} of a plain step",
    )]

    # ---- frozen encoder, trainable head: token-level mixing vs pooled mixing on cached features
    n, fb, flen = (32, 16, 32) if quick else (256, 32, 128)
    for prm in model.bert.parameters():
        prm.requires_grad_(False)
    head = [model.classifier.weight, model.classifier.bias]
    opt = torch.optim.SGD(head, lr=0.01)
    data = [_batch(fb, flen, vocab, seed=s) for s in range(n // fb)]

    t0 = time.perf_counter()
    with torch.no_grad():
        model.eval()
        cached = [(model.bert(**xb).pooler_output, yb) for xb, yb in data]
        model.train()
    t_cache = time.perf_counter() - t0

    def token_epoch() -> None:
        with attach_text(mixer, model, "tokens") as tm:
            for xb, yb in data:
                inputs, target = tm(xb, yb)
                loss = mixed_loss(F.cross_entropy, model(**inputs).logits, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    def pooled_epoch() -> None:
        for feats, yb in cached:
            feats, target = mixer(feats, yb)
            loss = mixed_loss(F.cross_entropy, model.classifier(model.dropout(feats)), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    t_tok, t_pool = time_pair(token_epoch, pooled_epoch, repeats=2 if quick else 3, warmup=1)
    figures.append(Figure(
        "frozen_token_vs_cached_pooled_ratio", t_tok / t_pool, "(cost, no target)",
        f"{n} samples x {flen} tokens per epoch, batch {fb}: token-level {t_tok:.2f} s/epoch vs pooled on cached "
        f"features {t_pool * 1e3:.1f} ms/epoch; caching once took {t_cache:.2f} s "
        f"({t_cache / t_tok:.2f} token-level epochs)",
    ))
    return figures


if __name__ == "__main__":
    import sys

    for f in run(quick="--quick" in sys.argv):
        print(f"{f['name']}: {f['value']:.3f} (target {f['target']}) — {f['detail']}")
