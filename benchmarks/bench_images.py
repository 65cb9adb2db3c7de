"""Images, sequences and tables: input mixup and CutMix against the memory floor, against a Python loop,
and against timm / torchvision / fastai / kornia when they are importable.

    python benchmarks/run.py --only images [--quick] [--json FILE]

Every figure is a ratio of medians measured interleaved in one run (``_timing.time_many``), at 1 and at
2 threads (``torch.set_num_threads`` here); a stable name is the 1-thread figure and ``<name>_2threads``
the 2-thread one. Peers are compared call for call: their mixup call against ``MixUp()(x, y)`` (drawing,
pairing, mixing x and the targets), in place against timm, which mixes in place. The machine is shared,
so absolute times are noisy; ratios much less so.

* floor: ``torch.add(a, b, out=c)`` on preallocated batch-sized tensors (reads two batches, writes one).
* alloc: ``torch.add(a, b)``: the same pass into a fresh tensor (page faults included).
* peak extra memory: fresh memory touched by one call in a fresh subprocess (minor page faults x page
  size, ``ru_minflt``), minus the output, in units of the batch size: an upper bound of the peak extra
  memory (``ru_maxrss`` proved unreliable on this VM, whose kernel reclaims idle pages).
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from collections.abc import Callable

import torch
from _timing import Figure, time_many

from mixup_any import CutMix, MixUp
from mixup_any.functional import mix

WORKLOADS = {  # name: (shape, dtype)
    "img224": ((128, 3, 224, 224), torch.float32),
    "img32": ((256, 3, 32, 32), torch.float32),
    "tokens": ((32, 128, 384), torch.float32),
    "table": ((4096, 64), torch.float32),
    "img224_bf16": ((128, 3, 224, 224), torch.bfloat16),
}


def _data(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g).to(dtype)
    return x, torch.randn(*shape, generator=g).to(dtype), torch.randint(0, 10, (shape[0],), generator=g)


def loop_cutmix(x: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A straightforward per-sample CutMix: a Python loop drawing and pasting one box per row (reference)."""
    b, _, h, w = x.shape
    out = x.clone()
    index = torch.randperm(b)
    lams = torch.empty(b)
    for i in range(b):
        lam = random.betavariate(alpha, alpha)
        r = (1 - lam) ** 0.5
        ch, cw = int(h * r), int(w * r)
        cy, cx = random.randrange(h), random.randrange(w)
        y0, y1 = max(cy - ch // 2, 0), min(cy - ch // 2 + ch, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx - cw // 2 + cw, w)
        j = int(index[i])
        out[i, :, y0:y1, x0:x1] = x[j, :, y0:y1, x0:x1]
        lams[i] = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, lams


# ------------------------------------------------------------------------------------------ peers
def _peers(shape, x, y) -> dict[str, Callable[[], object]]:
    """Per-batch input mixup of each installed peer on the batch ``x`` (4-D images only for kornia)."""
    fns: dict[str, Callable[[], object]] = {}
    n_cls = 10
    if importlib.util.find_spec("timm"):
        from timm.data import Mixup as TimmMixup

        t_batch = TimmMixup(mixup_alpha=1.0, cutmix_alpha=0.0, mode="batch", label_smoothing=0.0, num_classes=n_cls)
        xs = x.clone()  # timm mixes in place; a scratch copy keeps x intact (values stay finite)
        if shape[0] % 2 == 0:
            fns["timm"] = lambda: t_batch(xs, y)
    if importlib.util.find_spec("torchvision"):
        from torchvision.transforms import v2

        tv = v2.MixUp(alpha=1.0, num_classes=n_cls)
        fns["torchvision"] = lambda: tv(x, y)
    if importlib.util.find_spec("fastai"):
        from types import SimpleNamespace

        from fastai.callback.mixup import MixUp as FaMixUp

        cb = FaMixUp(alpha=1.0)
        cb.stack_y = True
        learn = SimpleNamespace(x=x, y=y, xb=(x,), yb=(y,))
        cb.learn = learn

        def fa():
            learn.xb = (x,)
            cb.before_batch()
            return learn.xb

        fns["fastai"] = fa
    if importlib.util.find_spec("kornia") and len(shape) == 4:
        from kornia.augmentation import RandomMixUpV2

        k = RandomMixUpV2(p=1.0, data_keys=["input", "class"])
        fns["kornia"] = lambda: k(x, y)
    usable = {}
    for name, fn in fns.items():  # a peer that rejects this workload (e.g. torchvision needs 4-d) is left out
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - report and skip, whatever the peer raises
            print(f"  [{name}] skipped on {tuple(shape)}: {type(err).__name__}: {str(err)[:80]}", flush=True)
        else:
            usable[name] = fn
    return usable


# ------------------------------------------------------------------------------------------ memory
_MEM_SCRIPT = r"""
import json, resource, sys, torch
torch.set_num_threads(1)
from mixup_any import CutMix
from mixup_any.functional import mix
shape = (128, 3, 224, 224)
x = torch.empty(shape).normal_()
lam, idx = torch.rand(128), torch.randperm(128)
kind = sys.argv[1]
out = torch.empty_like(x).fill_(0) if kind == "out" else None
m = CutMix(per_sample=True, seed=0)
fns = {
    "new": lambda: mix(x, lam, idx),
    "out": lambda: mix(x, lam, idx, out=out),
    "inplace": lambda: mix(x, lam, idx, inplace=True),
    "gathered": lambda: torch.lerp(x[idx], x, lam.view(-1, 1, 1, 1)),
    "cutmix": lambda: m(x),
}
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
r = fns[kind]()
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
result_is_new = kind in ("new", "gathered", "cutmix")
# every page of fresh memory is faulted in once when first written: faults x page size = fresh memory touched
extra = (after - before) * resource.getpagesize() / x.nbytes - (1 if result_is_new else 0)
print(json.dumps(extra))
"""


def _peak_extra(kind: str) -> float:
    res = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, kind], capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return max(0.0, float(json.loads(res.stdout.strip().splitlines()[-1])))


# ------------------------------------------------------------------------------------------ run
def _measure(threads: int, quick: bool) -> dict[str, float]:
    torch.set_num_threads(threads)
    r: dict[str, float] = {}
    for name, (shape, dtype) in WORKLOADS.items():
        _measure_workload(name, shape, dtype, threads, quick, r)
    return r


def _measure_workload(name: str, shape: tuple[int, ...], dtype: torch.dtype, threads: int, quick: bool,
                      r: dict[str, float]) -> None:
    if quick and threads > 1 and name not in ("img224", "img32"):
        return  # --quick: the 2-thread pass covers the two image workloads only
    big = shape[0] * (torch.tensor([], dtype=dtype).element_size()) * int(torch.Size(shape[1:]).numel()) > 1e7
    reps = (5 if big else 21) if quick else (15 if big else 60)
    x, a, y = _data(shape, dtype)
    c = torch.empty_like(x)
    xs = x.clone()
    b = shape[0]
    g = torch.Generator().manual_seed(1)
    lam_b = torch.full((b,), 0.3)
    lam_s = torch.rand(b, generator=g)
    idx = torch.randperm(b, generator=g)
    mb, ms = MixUp(alpha=1.0, seed=0), MixUp(alpha=1.0, per_sample=True, seed=0)
    # what a user calls, as the peers are called: drawing lam and the pairing, mixing x, pairing the targets
    mc, mci, xc = MixUp(alpha=1.0, num_classes=10, seed=0), MixUp(alpha=1.0, num_classes=10, seed=0), x.clone()
    fns: dict[str, Callable[[], object]] = {
        "floor": lambda: torch.add(x, a, out=c),
        "alloc": lambda: torch.add(x, a),
        "out": lambda: mix(x, lam_b, idx, out=c),
        "inplace": lambda: mix(xs, lam_b, idx, inplace=True),
        "new": lambda: mix(x, lam_b, idx),
        "new_ps": lambda: mix(x, lam_s, idx),
        "mixer_batch": lambda: mb(x),
        "mixer_sample": lambda: ms(x),
        "call_new": lambda: mc(x, y),
        "call_inplace": lambda: mci(xc, y, inplace=True),
    }
    if name == "table":  # drawing 4,096 lams per batch is what per-sample mode adds: other alphas, other samplers
        for a in (0.2, 0.8):
            mba, msa = MixUp(alpha=a, seed=0), MixUp(alpha=a, per_sample=True, seed=0)
            fns[f"mixer_batch_a{a}"] = lambda m=mba: m(x)
            fns[f"mixer_sample_a{a}"] = lambda m=msa: m(x)
    if len(shape) == 4 and name in ("img32", "img224"):
        cb, cs = CutMix(same_box=True, seed=0), CutMix(per_sample=True, seed=0)
        fns["cut_batch"] = lambda: cb(x)
        fns["cut_sample"] = lambda: cs(x)
        if name == "img32":
            fns["cut_loop"] = lambda: loop_cutmix(x)
    for peer, fn in _peers(shape, x, y).items():
        fns[f"peer_{peer}"] = fn
    t = time_many(fns, repeats=reps)
    for k, v in t.items():
        r[f"{name}:{k}"] = v
    if name == "img32" and importlib.util.find_spec("timm"):
        from timm.data import Mixup as TimmMixup

        te = TimmMixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", num_classes=10)
        tb = TimmMixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode="batch", num_classes=10)
        xs2 = x.clone()
        cs = CutMix(per_sample=True, num_classes=10, seed=0)
        tt = time_many({"timm_elem": lambda: te(xs2, y), "timm_batch": lambda: tb(xs2, y),
                        "ours": lambda: cs(x, y)}, repeats=reps)
        r["img32:timm_cut_elem"], r["img32:timm_cut_batch"] = tt["timm_elem"], tt["timm_batch"]
        r["img32:cut_sample_vs_timm"] = tt["ours"]


def run(quick: bool = False) -> list[dict]:
    prev = torch.get_num_threads()
    per_t: dict[int, dict[str, float]] = {}
    try:
        for threads in (1, 2):
            per_t[threads] = _measure(threads, quick)
    finally:
        torch.set_num_threads(prev)

    figs: list[dict] = []

    def ratio(num: str, den: str) -> dict[int, float]:
        return {t: per_t[t][num] / per_t[t][den] for t in per_t if num in per_t[t] and den in per_t[t]}

    def emit(name: str, vals: dict[int, float], target: str, what: str) -> None:
        # the stable name is the 1-thread figure (as the peer figures); 2 threads get their own name,
        # because on a shared, oversubscribed machine OpenMP's spin-waiting dominates them (see docs/images.md)
        if 1 in vals:
            figs.append(Figure(name, vals[1], target, f"{what}; 1 thread"))
        if 2 in vals:
            figs.append(Figure(f"{name}_2threads", vals[2], target, f"{what}; 2 threads"))

    emit("mix_out_vs_floor_ratio", ratio("img224:out", "img224:floor"), "<= 1.5",
         "mix(out=) / torch.add(out=) on 128x3x224x224 f32")
    emit("mix_inplace_vs_floor_ratio", ratio("img224:inplace", "img224:floor"), "<= 1.5",
         "mix(inplace=True) / torch.add(out=) on 128x3x224x224 f32")
    emit("mix_new_vs_alloc_ratio", ratio("img224:new", "img224:alloc"), "<= 1.3",
         "mix() new tensor / torch.add() new tensor, 128x3x224x224 f32")
    ps_kernel, ps_mixer = {}, {}
    for t in per_t:
        ws = [w for w in WORKLOADS if f"{w}:new" in per_t[t]]
        ps_kernel[t] = max(per_t[t][f"{w}:new_ps"] / per_t[t][f"{w}:new"] for w in ws)
        ps_mixer[t] = max(per_t[t][f"{w}:mixer_sample"] / per_t[t][f"{w}:mixer_batch"] for w in ws)
    emit("per_sample_vs_batch_ratio", ps_kernel, "<= 1.1",
         "mix() per-sample lam / per-batch lam, worst over workloads")
    emit("per_sample_vs_batch_mixer_ratio", ps_mixer, "<= 1.1",
         "MixUp(per_sample=True)(x) / MixUp()(x) incl. drawing lam (alpha=1), worst over workloads")
    for a in (0.2, 0.8):
        emit(f"per_sample_vs_batch_mixer_ratio_table_alpha{a}", ratio(f"table:mixer_sample_a{a}", f"table:mixer_batch_a{a}"),
             "<= 1.1", f"the same on the 4096x64 table at alpha={a} (Joehnk's / Ulrich's sampler instead of uniforms)")
    emit("cutmix_per_sample_vs_batch_ratio", {t: max(per_t[t]["img32:cut_sample"] / per_t[t]["img32:cut_batch"],
                                                      per_t[t]["img224:cut_sample"] / per_t[t]["img224:cut_batch"])
                                               for t in per_t},
         "<= 1.5", "CutMix(per_sample=True) / CutMix(same_box=True), worst of 256x3x32x32 and 128x3x224x224")
    emit("cutmix_vs_python_loop_speedup", {t: per_t[t]["img32:cut_loop"] / per_t[t]["img32:cut_sample"] for t in per_t},
         ">= 1", "per-sample Python-loop CutMix / CutMix(per_sample=True), 256x3x32x32")
    for w in WORKLOADS:
        emit(f"mix_out_vs_floor_ratio_{w}", ratio(f"{w}:out", f"{w}:floor"), "", f"mix(out=) / floor, {w}")
        emit(f"mix_new_vs_alloc_ratio_{w}", ratio(f"{w}:new", f"{w}:alloc"), "", f"mix() / torch.add(), {w}")
        emit(f"per_sample_vs_batch_ratio_{w}", ratio(f"{w}:new_ps", f"{w}:new"), "<= 1.1", f"per-sample / per-batch, {w}")
        fastest: dict[int, float] = {}
        for peer in ("timm", "torchvision", "fastai", "kornia"):
            key = f"{w}:peer_{peer}"
            if key in per_t[1]:
                # whole calls on both sides (lam, pairing, x and the targets); timm mixes x in place, so it is
                # compared with our in-place call, the others return new tensors as our default call does
                ours = f"{w}:call_inplace" if peer == "timm" else f"{w}:call_new"
                vs = ratio(key, ours)
                emit(f"vs_{peer}_speedup_{w}", vs, ">= 1",
                     f"{peer} per-batch mixup call / MixUp()(x, y{', inplace=True' if peer == 'timm' else ''}), {w}")
                fastest = {t: min(fastest.get(t, v), v) for t, v in vs.items()}
                emit(f"{peer}_vs_floor_ratio_{w}", ratio(key, f"{w}:floor"), "", f"{peer} / floor, {w}")
        if fastest:
            emit(f"vs_fastest_peer_speedup_{w}", fastest, ">= 1.5" if w == "img224" else ">= 1",
                 f"the fastest peer's call / ours (the smallest of the speedups above), {w}")
    if "img32:timm_cut_elem" in per_t[1]:
        emit("vs_timm_cutmix_elem_speedup_32", ratio("img32:timm_cut_elem", "img32:cut_sample_vs_timm"), ">= 8",
             "timm per-sample CutMix call (mode='elem') / CutMix(per_sample=True)(x, y), 256x3x32x32")
        emit("timm_cutmix_elem_vs_batch_ratio", ratio("img32:timm_cut_elem", "img32:timm_cut_batch"), "",
             "timm per-sample / per-batch CutMix, 256x3x32x32")
    kinds = ["new", "out", "cutmix"] if quick else ["new", "out", "inplace", "gathered", "cutmix"]
    mem = {k: _peak_extra(k) for k in kinds}
    figs.append(Figure("mix_peak_extra_memory_batches", mem["new"], "<= 1",
                       "fresh memory touched by one mix() beyond the output, in batches (page faults in a subprocess); "
                       + ", ".join(f"{k} {v:.2f}" for k, v in mem.items())))
    return figs
