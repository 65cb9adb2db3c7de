"""Timing helpers shared by the benchmark modules: interleaved repeats, medians, peak memory."""

from __future__ import annotations

import contextlib
import gc
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


def time_many(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each function, measured interleaved (round-robin) so drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    gc.collect()
    for _ in range(repeats):
        for k, fn in fns.items():
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
