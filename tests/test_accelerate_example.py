"""examples/accelerate_mixup.py under `accelerate launch` with 2 CPU processes (gloo), at small size.

The full-size commands and their outputs are in docs/scaling.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")
pytest.importorskip("sklearn")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_accelerate_launch_two_cpu_processes_with_cross_rank_mixup(tmp_path):
    out = tmp_path / "result.json"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
           str(ROOT / "examples" / "accelerate_mixup.py"), "--epochs", "1", "--seeds", "1", "--cross-rank",
           "--json", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["num_processes"] == 2 and res["distributed_type"] == "MULTI_CPU" and res["cross_rank"]
    # one epoch on digits already learns: far above chance (0.1) for both runs
    assert min(res["erm"][0], res["mixup"][0]) > 0.5
