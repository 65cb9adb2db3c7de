"""What mixing costs in a training step, and how a call compares with the peers' calls.

    python benchmarks/run.py --quick --json results.json     # a few minutes on 2 CPU cores
    python benchmarks/run.py --device cuda --json results.json

Every time is a median from ``torch.utils.benchmark.Timer.blocked_autorange`` (which synchronizes CUDA).
Figures, under stable names (``--json`` writes ``{"figures": {name: value}, "details": ..., "machine": ...}``):

* ``mix_step_share_images``: ``MixUp(num_classes=10)(x, y)`` on a 64x3x64x64 batch / one forward+backward+
  update step of a ResNet-18 (torchvision's layout, built here) on that batch.
* ``hook_step_share``, ``token_step_share``, ``tabular_step_share``: what a mixing site adds to a step, drawing
  the plan and the mix's forward and backward at the site's activation, / the step without mixing: a hooked
  block of the same ResNet-18 (64x128x16x16), token embeddings of a 6-layer MiniLM-size encoder (32x128x384,
  attention masks included), the tabular estimator's joined embedding site (1,000 rows, 10 continuous and
  10 categorical columns).
* ``graph_step_share`` (with the ``graph`` extra): see ``benchmarks/graph_bench.py``.
* ``ops_per_call_<route>`` (CPU runs): top-level ATen ops of one call, counted with ``torch.profiler`` on a
  256x3x32x32 batch with soft targets (``mixup_lazy``: targets left lazy); on CUDA each is at least one
  kernel launch. Routes: ``mixup``, ``mixup_lazy``, ``cutmix_box`` (one box per batch), ``mixup_per_sample``,
  ``cutmix_per_sample``, ``mixed_loss``, and ``timm_mixup`` / ``timm_cutmix`` when timm is installed.
* ``vs_fastest_peer_<mixup|mixup_inplace|cutmix|cutmix_inplace>_<workload>_t<threads>``: the fastest installed
  peer's per-batch call / ours doing the same target work (dense soft targets where the peer builds them);
  ``_inplace`` compares with peers that mix in place (timm), the others with peers that return a new tensor
  (torchvision, kornia). Workloads: ``img224`` (128x3x224x224, f32), ``img224bf16``, ``img32``
  (256x3x32x32), ``tokens`` (32x128x384), ``table`` (4096x64). ``>= 1`` means ours is at least as fast.
* CUDA only: ``mix_vs_hbm_floor`` (``mix(x, lam, index, out=)`` / ``torch.add(a, b, out=)``, which reads two
  batches and writes one, the memory floor of a lerp with a gather) and ``syncs_per_batch_<route>`` (counted
  with ``torch.cuda.set_sync_debug_mode("warn")``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import pathlib
import platform
import sys
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.benchmark import Timer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from mixup_any import CutMix, MixUp, attach, mixed_loss  # noqa: E402


def median(fn: Callable[[], object], min_run_time: float, threads: int = 1) -> float:
    return Timer("fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(min_run_time=min_run_time).median


# ---------------------------------------------------------------------------------------------- models
class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.down is None else self.down(x)))


def resnet18(num_classes: int = 10) -> nn.Module:
    """ResNet-18 in torchvision's layout (11.2M parameters with 1000 classes)."""
    layers, cin = [], 64
    for i, cout in enumerate((64, 128, 256, 512)):
        layers.append(nn.Sequential(BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)))
        cin = cout
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))


class Encoder(nn.Module):
    """A 6-layer, 384-wide, 12-head encoder: all-MiniLM-L6-v2's size."""

    def __init__(self, vocab: int = 30522, dim: int = 384, classes: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, 12, 1536, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(ids), src_key_padding_mask=~mask.bool())
        return self.head((h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))


def train_step(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable[[], torch.Tensor]) -> None:
    opt.zero_grad(set_to_none=True)
    loss_fn().backward()
    opt.step()


def site_cost(mixer: MixUp, act: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """What a mixing site adds: draw the plan, mix the activation, and the mix's backward."""
    act = act.detach().requires_grad_()
    grad = torch.randn_like(act)

    def run() -> None:
        p = mixer.sample(act.shape, labels=labels)
        mixer.mix(act, p).backward(grad)

    return run


# ---------------------------------------------------------------------------------------------- step shares
def step_shares(device: torch.device, quick: bool, threads: int) -> dict[str, float]:
    t_min = 0.5 if quick else 2.0
    out: dict[str, float] = {}
    torch.manual_seed(0)

    # images: the mix call against a ResNet-18 step on 64x3x64x64
    model = resnet18().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(64, 3, 64, 64, device=device), torch.randint(0, 10, (64,), device=device)
    mixer = MixUp(alpha=0.4, num_classes=10, seed=0)
    step = median(lambda: train_step(model, opt, lambda: F.cross_entropy(model(x), y)), t_min, threads)
    out["mix_step_share_images"] = median(lambda: mixer(x, y), t_min, threads) / step
    # a hooked block: the activation of the second stage, 64x128x16x16
    acts: list[torch.Tensor] = []
    handle = model[5].register_forward_hook(lambda m, a, o: acts.append(o.detach()))
    model(x)
    handle.remove()
    out["hook_step_share"] = median(site_cost(mixer, acts[0], y), t_min, threads) / step
    with attach(mixer, model, at="5") as h:
        def hooked() -> torch.Tensor:
            h.arm(y)
            return mixed_loss(F.cross_entropy, model(x), h.target(y))
        out["hook_step_ratio"] = median(lambda: train_step(model, opt, hooked), t_min, threads) / step

    # token embeddings of a 6-layer encoder, 32 x 128 tokens
    enc = Encoder().to(device)
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-4)
    ids = torch.randint(0, 30522, (32, 128), device=device)
    mask = torch.ones(32, 128, dtype=torch.int64, device=device)
    mask[16:, 96:] = 0
    yt = torch.randint(0, 2, (32,), device=device)
    step = median(lambda: train_step(enc, opt, lambda: F.cross_entropy(enc(ids, mask), yt)), t_min, threads)
    emb = enc.embed(ids)
    tok = site_cost(MixUp(alpha=0.4, num_classes=2, seed=0), emb, yt)

    def token_site() -> None:
        tok()
        torch.maximum(mask, mask[torch.arange(32, device=device).flip(0)])  # the union of the pair's masks
    out["token_step_share"] = median(token_site, t_min, threads) / step

    # the tabular estimator's step: TabularMLP, 1,000 rows, joined embedding site
    if importlib.util.find_spec("sklearn") is not None:
        from mixup_any.tabular import TabularMLP

        cards = [3, 5, 8, 12, 20, 30, 50, 80, 120, 200]
        tab = TabularMLP(10, cards, 2).to(device)
        opt = torch.optim.AdamW(tab.parameters(), lr=1e-3)
        xc = torch.randn(1000, 10, device=device)
        xk = torch.stack([torch.randint(0, c, (1000,), device=device) for c in cards], 1)
        yb = torch.randint(0, 2, (1000,), device=device)
        step = median(lambda: train_step(tab, opt, lambda: F.cross_entropy(tab(xc, xk), yb)), t_min, threads)
        joined: list[torch.Tensor] = []
        handle = tab.joined.register_forward_hook(lambda m, a, o: joined.append(o.detach()))
        tab(xc, xk)
        handle.remove()
        out["tabular_step_share"] = median(site_cost(MixUp(alpha=0.4, seed=0), joined[0], yb), t_min, threads) / step
    return out


# ---------------------------------------------------------------------------------------------- op counts
def top_level_ops(fn: Callable[[], object]) -> list[str]:
    """The ATen ops one call of ``fn`` launches itself (ops called inside another ATen op are not counted)."""
    from torch.profiler import ProfilerActivity, profile

    fn(), fn()  # warm: generators and caches exist before the counted call
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    top = []
    for e in prof.events():
        if not e.name.startswith("aten::"):
            continue
        parent = e.cpu_parent
        while parent is not None and not parent.name.startswith("aten::"):
            parent = parent.cpu_parent
        if parent is None:
            top.append(e.name)
    return top


def ops_per_call() -> tuple[dict[str, float], dict[str, list[str]]]:
    """``ops_per_call_<route>`` on a 256x3x32x32 batch with soft targets (``_lazy``: targets left lazy)."""
    x, y = torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,))
    out = torch.randn(256, 10)
    _, target = MixUp(alpha=0.4, num_classes=10, seed=0)(x, y)
    def soft(m: MixUp) -> Callable[[], object]:
        return lambda: m(x, y)[1].soft()

    lazy = MixUp(alpha=0.4, num_classes=10, seed=0)
    routes: dict[str, Callable[[], object]] = {
        "mixup": soft(MixUp(alpha=0.4, num_classes=10, seed=0)),
        "mixup_lazy": lambda: lazy(x, y),
        "cutmix_box": soft(CutMix(alpha=1.0, num_classes=10, seed=0)),
        "mixup_per_sample": soft(MixUp(alpha=0.4, per_sample=True, num_classes=10, seed=0)),
        "cutmix_per_sample": soft(CutMix(alpha=1.0, per_sample=True, num_classes=10, seed=0)),
        "mixed_loss": lambda: mixed_loss(F.cross_entropy, out, target),
    }
    if importlib.util.find_spec("timm"):
        from timm.data import Mixup as TimmMixup

        scratch = x.clone()
        for kind, (ma, ca) in {"mixup": (0.4, 0.0), "cutmix": (0.0, 1.0)}.items():
            t = TimmMixup(mixup_alpha=ma, cutmix_alpha=ca, label_smoothing=0.0, num_classes=10)
            routes[f"timm_{kind}"] = lambda t=t: t(scratch, y)
    ops = {name: top_level_ops(fn) for name, fn in routes.items()}
    return {f"ops_per_call_{k}": float(len(v)) for k, v in ops.items()}, {f"ops_per_call_{k}": v for k, v in ops.items()}


# ---------------------------------------------------------------------------------------------- peers
WORKLOADS = {"img224": ((128, 3, 224, 224), torch.float32), "img224bf16": ((128, 3, 224, 224), torch.bfloat16),
             "img32": ((256, 3, 32, 32), torch.float32), "table": ((4096, 64), torch.float32),
             "tokens": ((32, 128, 384), torch.float32)}


def peer_calls(kind: str, x: torch.Tensor, y: torch.Tensor) -> dict[str, tuple[Callable, Callable, bool]]:
    """``{peer: (peer's call, our call doing the same target work, whether both mix in place)}``."""
    calls: dict[str, tuple[Callable, Callable, bool]] = {}
    images = x.ndim == 4
    scratch = x.clone()  # peers that mix in place get a scratch copy (values stay finite over repeats)
    if importlib.util.find_spec("timm") and (images or (kind == "mixup" and x.shape[0] % 2 == 0)):
        from timm.data import Mixup as TimmMixup

        alphas = (0.4, 0.0) if kind == "mixup" else (0.0, 1.0)
        t = TimmMixup(mixup_alpha=alphas[0], cutmix_alpha=alphas[1], label_smoothing=0.0, num_classes=10)
        ours = MixUp(alpha=0.4, num_classes=10, seed=0) if kind == "mixup" else CutMix(num_classes=10, seed=0)
        calls["timm"] = (lambda t=t: t(scratch, y), lambda o=ours: o(scratch, y, inplace=True)[1].soft(), True)
    if importlib.util.find_spec("torchvision") and images:
        from torchvision.transforms import v2

        tv = v2.MixUp(alpha=0.4, num_classes=10) if kind == "mixup" else v2.CutMix(alpha=1.0, num_classes=10)
        ours = MixUp(alpha=0.4, num_classes=10, seed=0) if kind == "mixup" else CutMix(num_classes=10, seed=0)
        calls["torchvision"] = (lambda: tv(x, y), lambda o=ours: o(x, y)[1].soft(), False)
    if importlib.util.find_spec("kornia") and images:
        from kornia.augmentation import RandomCutMixV2, RandomMixUpV2

        k = RandomMixUpV2(lambda_val=(0.0, 1.0), p=1.0) if kind == "mixup" else RandomCutMixV2(p=1.0)
        ours = MixUp(lam=(0.0, 1.0), seed=0) if kind == "mixup" else CutMix(seed=0)
        calls["kornia"] = (lambda: k(x, y), lambda o=ours: o(x, y), False)  # both keep the targets lazy
    return calls


def vs_peers(quick: bool, threads_list: tuple[int, ...]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``vs_fastest_peer_<kind>[_inplace]_<workload>_t<threads>``: the fastest peer's time / ours."""
    figures: dict[str, float] = {}
    details: dict[str, dict[str, float]] = {}
    t_min = 0.3 if quick else 1.0
    for threads in threads_list:
        for wname, (shape, dtype) in WORKLOADS.items():
            if quick and wname.startswith("img224"):
                shape = (32, 3, 224, 224)
            x = torch.randn(*shape).to(dtype)
            y = torch.randint(0, 10, (shape[0],))
            for kind in ("mixup", "cutmix"):
                for peer, (theirs, ours, inplace) in peer_calls(kind, x, y).items():
                    name = f"vs_fastest_peer_{kind}{'_inplace' if inplace else ''}_{wname}_t{threads}"
                    details.setdefault(name, {})[peer] = median(theirs, t_min, threads) / median(ours, t_min, threads)
                    figures[name] = min(details[name].values())
    return figures, details


# ---------------------------------------------------------------------------------------------- CUDA
def cuda_figures(quick: bool) -> dict[str, float]:
    device = torch.device("cuda")
    x = torch.randn(128, 3, 224, 224, device=device)
    out = torch.empty_like(x)
    p = MixUp(alpha=0.4, per_sample=True, seed=0).sample(x.shape, device=device)
    from mixup_any.functional import mix

    t_min = 0.5 if quick else 2.0
    floor = median(lambda: torch.add(x, out, out=out), t_min)
    figures = {"mix_vs_hbm_floor": median(lambda: mix(x, p.lam, p.index, out=out), t_min) / floor}
    y = torch.randint(0, 10, (128,), device=device)
    routes = {"mixup": MixUp(alpha=0.4, num_classes=10, seed=0), "mixup_per_sample": MixUp(per_sample=True, seed=0),
              "cutmix": CutMix(per_sample=True, num_classes=10, seed=0),
              "same_class": MixUp(pairing="same_class", num_classes=10, seed=0)}
    for name, mixer in routes.items():
        mixer(x, y)  # the first call makes the device generator
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for _ in range(10):
                    xm, target = mixer(x, y)
                    mixed_loss(F.cross_entropy, xm.mean((2, 3)).repeat(1, 4)[:, :10], target)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        figures[f"syncs_per_batch_{name}"] = sum("synchroniz" in str(w.message) for w in caught) / 10
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="shorter timings and a smaller 224x224 batch")
    ap.add_argument("--json", metavar="FILE", help="write every figure to FILE as JSON")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for the step shares (default 1)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda, but torch sees no CUDA device")

    figures = step_shares(device, args.quick, args.threads)
    if importlib.util.find_spec("torch_geometric"):  # the graph extra: graph_step_share and its parts
        from graph_bench import graph_step_shares

        figures.update(graph_step_shares(device, args.quick, args.threads))
    details: dict[str, object] = {}
    if device.type == "cpu":
        ops, details = ops_per_call()
        figures.update(ops)
        peers, peer_details = vs_peers(args.quick, (1, 2))
        figures.update(peers)
        details.update(peer_details)
    else:
        figures.update(cuda_figures(args.quick))
    width = max(len(k) for k in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:10.4f}  {details.get(name, '')}")
    if args.json:
        device_name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
        pathlib.Path(args.json).write_text(json.dumps({
            "figures": figures, "details": details,
            "machine": {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
                        "torch": torch.__version__, "device": device_name or platform.machine(),
                        "threads": args.threads, "quick": args.quick,
                        "peers": {p: importlib.util.find_spec(p) is not None
                                  for p in ("timm", "torchvision", "kornia", "fastai")}},
        }, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
