"""The Python snippets of docs/text.md run as written (in order, sharing one namespace)."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest
import torch

pytest.importorskip("transformers")

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "text.md"


def test_docs_text_snippets_run(tmp_path, monkeypatch, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; avoids contention with parallel test workers
    try:
        _run(tmp_path, monkeypatch, capsys)
    finally:
        torch.set_num_threads(threads)


def _run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for code in blocks:
        if "MixupTrainer" in code and importlib.util.find_spec("accelerate") is None:
            continue  # transformers 5.x's Trainer needs accelerate
        exec(compile(code.replace("/tmp/mixup_trainer", str(tmp_path)), str(DOC), "exec"), ns)
    out = capsys.readouterr().out
    assert "bert.embeddings.word_embeddings" in out and "bert.pooler" in out
