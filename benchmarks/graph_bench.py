"""What graph mixing costs in a 2-layer GCN step on a batch of 128 small graphs (``torch.utils.benchmark``).

    python benchmarks/graph_bench.py [--quick] [--device cuda] [--threads 1]

:func:`graph_step_shares` returns, under stable names:

* ``graph_step_share``: what graph-level mixup at the readout adds to a step, measured as the other step
  shares of ``benchmarks/run.py`` are: drawing the plan for the 128 graphs and the mix's forward and backward
  at the readout's output (128 × 64) / one forward + backward + update step of a 2-layer GCN (``GCNConv``
  16 → 64 → 64, mean readout, linear head) on the unmixed batch.
* ``graph_ifmixup_share``: an ``IfMixup`` call (drawing the plan, building the mixed batch: padded, aligned
  node features and both edge sets with weights, and the mixed targets) / the same step.
* ``graph_mixed_step_ratio``: the step on the mixed batch (more nodes, both edge sets) / the step on the
  unmixed batch: what training on ifMixup graphs costs beyond the mixing call.

Graphs have 10 to 30 nodes and about 3 undirected edges per node; every time is a median of
``blocked_autorange``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.benchmark import Timer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from mixup_any import MixUp  # noqa: E402


def _median(fn: Callable[[], object], min_run_time: float, threads: int) -> float:
    return Timer("fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(min_run_time=min_run_time).median


def small_graphs(n_graphs: int = 128, features: int = 16, seed: int = 0):  # -> torch_geometric Batch
    """``n_graphs`` random graphs of 10 to 30 nodes, about 3 undirected edges per node, 4 classes."""
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_graphs):
        n = int(torch.randint(10, 31, (1,), generator=g))
        src = torch.randint(0, n, (3 * n,), generator=g)
        dst = torch.randint(0, n, (3 * n,), generator=g)
        ei = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
        out.append(Data(x=torch.randn(n, features, generator=g), edge_index=ei,
                        y=torch.randint(0, 4, (1,), generator=g)))
    return Batch.from_data_list(out)


class GCN(nn.Module):
    """Two GCNConv layers, a mean readout (an aggr module, hookable) and a linear head."""

    def __init__(self, features: int = 16, hidden: int = 64, classes: int = 4) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv, MeanAggregation

        self.conv1, self.conv2 = GCNConv(features, hidden), GCNConv(hidden, hidden)
        self.pool, self.head = MeanAggregation(), nn.Linear(hidden, classes)

    def forward(self, data) -> torch.Tensor:  # type: ignore[no-untyped-def]
        w = getattr(data, "edge_weight", None)
        h = self.conv1(data.x, data.edge_index, w).relu()
        h = self.conv2(h, data.edge_index, w).relu()
        return self.head(self.pool(h, data.batch))


def graph_step_shares(device: torch.device | str = "cpu", quick: bool = False, threads: int = 1) -> dict[str, float]:
    """The graph figures (see the module docstring), as ``{name: value}``."""
    from mixup_any.graph import IfMixup

    t_min = 0.5 if quick else 2.0
    torch.manual_seed(0)
    data = small_graphs().to(device)
    model = GCN().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(batch, loss=lambda out: F.cross_entropy(out, data.y)) -> None:  # type: ignore[no-untyped-def]
        opt.zero_grad(set_to_none=True)
        loss(model(batch)).backward()
        opt.step()

    base = _median(lambda: step(data), t_min, threads)
    ifmix = IfMixup(MixUp(alpha=0.4, num_classes=4, seed=0))
    out = {"graph_ifmixup_share": _median(lambda: ifmix(data), t_min, threads) / base}

    acts: list[torch.Tensor] = []
    handle = model.pool.register_forward_hook(lambda m, a, o: acts.append(o.detach()))
    model(data)
    handle.remove()
    act = acts[0].requires_grad_()
    grad = torch.randn_like(act)
    mixer = MixUp(alpha=0.4, num_classes=4, seed=0)

    def readout() -> None:
        p = mixer.sample(act.shape, labels=data.y)
        mixer.mix(act, p).backward(grad)

    out["graph_step_share"] = _median(readout, t_min, threads) / base
    mixed, target = ifmix(data)
    soft = target.soft()
    out["graph_mixed_step_ratio"] = _median(lambda: step(mixed, lambda o: F.cross_entropy(o, soft)), t_min,
                                            threads) / base
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(graph_step_shares(args.device, args.quick, args.threads), indent=2))
