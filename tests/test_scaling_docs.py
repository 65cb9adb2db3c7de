"""docs/scaling.md: the Lightning quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("lightning")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"


def test_lightning_quickstart_runs():
    import torch

    block = next(b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "lightning" in b)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ns: dict = {}
        exec(compile(block, str(DOC), "exec"), ns)
    finally:
        torch.set_num_threads(n)
    assert ns["callback"].mixer.schedule.epoch == 2 and not ns["callback"].mixer.schedule.active()
    assert ns["callback"].handle is None
