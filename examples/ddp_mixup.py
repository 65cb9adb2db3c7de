"""Mixup under plain PyTorch DDP (torchrun): ERM vs mixup on scikit-learn's digits, CPU + gloo.

    torchrun --standalone --nproc_per_node 2 examples/ddp_mixup.py [--cross-rank]

Each rank mixes its own shard (``seed_mixer``: one run seed, a distinct stream per rank); ``--cross-rank``
pairs rows with partners from every rank's batch (``CrossRankMixer``: one extra all_gather per mixed tensor).
Also runs as a single process (``python examples/ddp_mixup.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from mixup_any import MixUp, mixed_loss
from mixup_any.distributed import CrossRankMixer, get_rank, get_world_size, seed_mixer
from mixup_any.metrics import paired_t_interval


def run(seed: int, alpha: float, epochs: int, cross_rank: bool) -> float:
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x / 16.0, y, test_size=0.3, random_state=seed, stratify=y)
    train = TensorDataset(torch.tensor(x_tr, dtype=torch.float32), torch.tensor(y_tr))
    sampler = DistributedSampler(train, num_replicas=get_world_size(), rank=get_rank(), seed=seed, drop_last=True)
    loader = DataLoader(train, batch_size=32, sampler=sampler)
    torch.manual_seed(seed)  # same init on every rank (DDP broadcasts rank 0's anyway)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    model = DDP(net) if dist.is_initialized() else net
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    mixer = seed_mixer(MixUp(alpha=alpha, num_classes=10).follow(model), seed) if alpha > 0 else None
    if mixer is not None and cross_rank:
        mixer = CrossRankMixer(mixer)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        model.train()
        for xb, yb in loader:
            target = yb
            if mixer is not None:
                xb, target = mixer(xb, yb)
            loss = mixed_loss(F.cross_entropy, model(xb), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():  # every rank holds the same weights; evaluate the full test set
        return float((net(torch.tensor(x_te, dtype=torch.float32)).argmax(-1) == torch.tensor(y_te)).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--alpha", type=float, default=0.4)
    ap.add_argument("--cross-rank", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)  # a small MLP: one thread per process is fastest (and fair to the other rank)
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
    res = {name: [run(s, a, args.epochs, args.cross_rank) for s in range(args.seeds)]
           for name, a in (("erm", 0.0), ("mixup", args.alpha))}
    if get_rank() == 0:
        print(f"world_size={get_world_size()} cross_rank={args.cross_rank} epochs={args.epochs} seeds={args.seeds}")
        for name, accs in res.items():
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            print(f"{name:>6}: test accuracy {statistics.mean(accs):.4f} ± {sd:.4f}")
        if args.seeds > 1:
            iv = paired_t_interval(res["mixup"], res["erm"])  # paired by seed: same split and init
            print(f"mixup - erm: {iv} (95% paired t-interval over seeds): {iv.verdict()}")
    if dist.is_initialized():
        dist.barrier()  # tear down together, not while rank 0 still prints (see accelerate_mixup.py)
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
