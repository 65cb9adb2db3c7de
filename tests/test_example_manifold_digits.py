"""Smoke run of examples/manifold_mixup_digits.py (tiny: 2 seeds, 1 epoch)."""

from __future__ import annotations

import pathlib
import runpy
import sys

import pytest
import torch

pytest.importorskip("sklearn")


def test_example_runs(monkeypatch, capsys):
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "manifold_mixup_digits.py"
    monkeypatch.setattr(sys, "argv", [str(path), "--seeds", "2", "--epochs", "1"])
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        torch.set_num_threads(threads)  # the example pins one thread
    out = capsys.readouterr().out
    for name in ("ERM", "input mixup", "manifold mixup", "frozen head + mix@block2", "seed noise"):
        assert name in out
