"""docs/hooks.md stays true: its quickstart runs, and the list_sites table it shows is what list_sites prints."""

from __future__ import annotations

import pathlib
import re

import torch

from mixup_any import list_sites

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def test_quickstart_runs(capsys):
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    exec(compile(block, str(DOC), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.split()[0] in ("input", "block1", "block2") for line in lines)


def test_list_sites_table_matches():
    from torch import nn

    text = DOC.read_text()
    shown = re.search(r">>> print\(list_sites\(CNN\(\), torch.randn\(64, 1, 8, 8\)\)\)\n(.*?)```", text, re.S).group(1)

    class CNN(nn.Module):  # the model of examples/manifold_mixup_digits.py
        def __init__(self) -> None:
            super().__init__()
            self.block1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                                        nn.MaxPool2d(2))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10))

        def forward(self, x):
            return self.head(self.block2(self.block1(x)))

    assert str(list_sites(CNN(), torch.randn(64, 1, 8, 8))).split() == shown.split()
