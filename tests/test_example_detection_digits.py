"""Smoke run of examples/detection_digits.py (tiny: 2 seeds, 1 epoch, 64 scenes, every arm)."""

from __future__ import annotations

import pathlib
import runpy
import sys

import pytest
import torch

pytest.importorskip("sklearn")


def test_example_runs(monkeypatch, capsys):
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "detection_digits.py"
    monkeypatch.setattr(sys, "argv", [str(path), "--seeds", "2", "--epochs", "1", "--train", "64", "--test", "40",
                                      "--arms", "erm", "mixup", "cutmix"])
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        torch.set_num_threads(threads)  # the example pins one thread
    out = capsys.readouterr().out
    for name in ("erm     mAP@0.5", "mixup - erm (paired by seed)", "cutmix - erm (paired by seed)", "95% interval"):
        assert name in out
