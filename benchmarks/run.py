"""Run every benchmark module and print one table of ratios measured side by side in one run.

    python benchmarks/run.py            # full sizes
    python benchmarks/run.py --quick    # a few minutes on 2 cores
    python benchmarks/run.py --quick --json results.json --only hooks,core

Each ``benchmarks/bench_<topic>.py`` exposes ``run(quick: bool) -> list[dict]`` of figures built with
``_timing.Figure(name, value, target, detail)``. ``--json FILE`` writes ``{name: value}`` for every
figure plus the details and the machine it ran on.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import platform
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _modules(only: set[str] | None) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    return [n for n in names if only is None or n.removeprefix("bench_") in only]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    ap.add_argument("--json", metavar="FILE", help="write every figure to FILE as JSON")
    ap.add_argument("--only", help="comma-separated topics, e.g. core,hooks")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the whole run")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    only = set(args.only.split(",")) if args.only else None
    figures: list[dict] = []
    failures: dict[str, str] = {}
    for name in _modules(only):
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(name)
            got = mod.run(quick=args.quick)
        except ModuleNotFoundError as err:  # an optional dependency of that topic is missing
            failures[name] = f"skipped: {err}"
            print(f"[{name}] skipped: {err}", flush=True)
            continue
        for f in got:
            f.setdefault("module", name)
        figures.extend(got)
        print(f"[{name}] {len(got)} figures in {time.perf_counter() - t0:.1f}s", flush=True)

    width = max([len(f["name"]) for f in figures] + [10])
    print()
    print(f"{'figure':<{width}}  {'value':>10}  {'target':<10}  detail")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 10}  {'-' * 40}")
    for f in figures:
        print(f"{f['name']:<{width}}  {f['value']:>10.3f}  {f['target']:<10}  {f['detail']}")
    if args.json:
        out = {
            "figures": {f["name"]: f["value"] for f in figures},
            "details": figures,
            "skipped": failures,
            "machine": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "processor": platform.processor() or platform.machine(),
                "quick": args.quick,
            },
        }
        pathlib.Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
