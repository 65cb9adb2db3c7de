"""Timing helpers shared by the benchmark modules: interleaved repeats, medians, peak memory."""

from __future__ import annotations

import contextlib
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable

__all__ = ["time_pair", "time_many", "median_time", "Figure", "num_threads"]


def Figure(name: str, value: float, target: str = "", detail: str = "") -> dict:
    """One named figure of the report: ``{"name", "value", "target", "detail"}``."""
    return {"name": name, "value": float(value), "target": target, "detail": detail}


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_many(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2, seed: int = 0) -> dict[str, float]:
    """Median seconds of each function, measured interleaved so drift hits all alike.

    Each round runs every function once, in a fresh random order (seeded): a fixed order would give each
    function the same predecessor every time, and what the predecessor leaves behind (cold caches, the
    allocator's free lists, faulted-in pages) then biases the comparison systematically.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns)
    rng = random.Random(seed)
    gc.collect()
    for _ in range(repeats):
        rng.shuffle(order)
        for k in order:
            fn = fns[k]
            t0 = time.perf_counter()
            fn()
            samples[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in samples.items()}


def time_pair(a: Callable[[], object], b: Callable[[], object], repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b``, interleaved; their ratio is what the reports use."""
    t = time_many({"a": a, "b": b}, repeats, warmup)
    return t["a"], t["b"]


def peak_python_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through Python's allocator during ``fn`` (torch tensors are not counted)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def num_threads(n: int | None):
    """Run the block with ``n`` intra-op threads (``None``: unchanged), restoring the previous count."""
    import torch

    prev = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)
