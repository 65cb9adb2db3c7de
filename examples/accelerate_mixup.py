"""Mixup under Hugging Face Accelerate: ERM vs mixup on scikit-learn's digits, data-parallel over processes.

Run on CPU with two processes (what docs/scaling.md reports; ``Accelerator(cpu=True)`` keeps it on the CPU and
the gloo backend, while ``--multi_gpu`` only selects Accelerate's torchrun launcher — ``--cpu --num_processes 2``
alone starts a single process in accelerate 1.x unless MPI is configured):

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
        examples/accelerate_mixup.py [--cross-rank]

or as one plain process: ``python examples/accelerate_mixup.py``. Each rank seeds its mixer with
``seed_mixer(mixer, seed)`` (same run seed, a different stream per rank); with ``--cross-rank`` every row is
paired with a partner drawn from the batches of all ranks (one extra all_gather per mixed tensor).
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mixup_any import MixUp, mixed_loss
from mixup_any.distributed import CrossRankMixer, seed_mixer
from mixup_any.metrics import paired_t_interval


def data(seed: int) -> tuple[TensorDataset, TensorDataset]:
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x / 16.0, y, test_size=0.3, random_state=seed, stratify=y)
    t = lambda a, dt: torch.tensor(a, dtype=dt)  # noqa: E731
    return (TensorDataset(t(x_tr, torch.float32), t(y_tr, torch.long)),
            TensorDataset(t(x_te, torch.float32), t(y_te, torch.long)))


def run(acc: Accelerator, seed: int, alpha: float, epochs: int, cross_rank: bool, batch_size: int) -> float:
    set_seed(seed)  # model init, identical on every rank (Accelerate/DDP also broadcasts it)
    train, test = data(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                        drop_last=True)
    test_loader = DataLoader(test, batch_size=256)
    model, opt, loader, test_loader = acc.prepare(model, opt, loader, test_loader)
    mixer = None
    if alpha > 0:
        mixer = seed_mixer(MixUp(alpha=alpha, num_classes=10).follow(model), seed)  # per-rank stream
        mixer = CrossRankMixer(mixer) if cross_rank else mixer
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            if mixer is not None:
                x, y = mixer(x, y)
            loss = mixed_loss(F.cross_entropy, model(x), y)
            opt.zero_grad()
            acc.backward(loss)
            opt.step()
    model.eval()
    correct = total = torch.zeros((), device=acc.device)
    with torch.no_grad():
        for x, y in test_loader:
            pred, y = acc.gather_for_metrics((model(x).argmax(-1), y))
            correct = correct + (pred == y).sum()
            total = total + y.numel()
    return float(correct / total)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--alpha", type=float, default=0.4)
    ap.add_argument("--batch-size", type=int, default=32, help="per process")
    ap.add_argument("--cross-rank", action="store_true", help="pair rows with partners from every rank")
    ap.add_argument("--json", default=None, help="write the results here (main process)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # a small MLP: one thread per process is fastest
    acc = Accelerator(cpu=True)
    results: dict[str, list[float]] = {"erm": [], "mixup": []}
    for seed in range(args.seeds):
        results["erm"].append(run(acc, seed, 0.0, args.epochs, False, args.batch_size))
        results["mixup"].append(run(acc, seed, args.alpha, args.epochs, args.cross_rank, args.batch_size))
    summary = {"num_processes": acc.num_processes, "distributed_type": acc.distributed_type.value, "cross_rank": args.cross_rank, "epochs": args.epochs,
               "alpha": args.alpha, **results}
    if acc.is_main_process:
        print(f"processes={acc.num_processes} ({acc.distributed_type.value}, {acc.device}) cross_rank={args.cross_rank} "
              f"epochs={args.epochs} seeds={args.seeds}")
        for name, accs in results.items():
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            print(f"{name:>6}: test accuracy {statistics.mean(accs):.4f} ± {sd:.4f} over {len(accs)} seeds")
        if len(results["erm"]) > 1:
            iv = paired_t_interval(results["mixup"], results["erm"])  # paired by seed
            print(f"mixup - erm: {iv} (95% paired t-interval over seeds): {iv.verdict()}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(summary, f)
    # every process reaches the teardown together: a rank that destroys the process group while another is
    # still writing its results aborted at exit now and then ("terminate called without an active exception")
    acc.wait_for_everyone()
    acc.end_training()
    return summary


if __name__ == "__main__":
    main()
