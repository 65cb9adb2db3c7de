"""The examples run end to end at tiny sizes and print what their docs quote (the full runs are in docs/)."""

from __future__ import annotations

import pathlib
import runpy
import sys

import pytest
import torch

pytest.importorskip("sklearn")

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
CASES = {
    "manifold_mixup_digits.py": (["--seeds", "2", "--epochs", "1"],
                                 ["ERM", "input mixup", "manifold mixup", "frozen head + mix@block2", "seed noise"]),
    "detection_digits.py": (["--seeds", "2", "--epochs", "1", "--train", "64", "--test", "40", "--arms", "erm",
                             "mixup", "cutmix"],
                            ["erm     mAP@0.5", "mixup - erm (paired by seed)", "cutmix - erm (paired by seed)",
                             "95% interval"]),
    "graph_mixup.py": (["--seeds", "2", "--epochs", "1", "--node-epochs", "2"],
                       ["digits as pixel graphs", "readout mixup - ERM: accuracy", "ifMixup - ERM: accuracy",
                        "node mixup - ERM: accuracy", "paired by seed"]),
}
#: examples that need an extra beyond scikit-learn
NEEDS = {"graph_mixup.py": "torch_geometric"}


@pytest.mark.parametrize("name", list(CASES))
def test_example_runs(name, monkeypatch, capsys):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    args, expected = CASES[name]
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *args])
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    finally:
        torch.set_num_threads(threads)  # the examples pin one thread
    out = capsys.readouterr().out
    for text in expected:
        assert text in out
