"""The FAQ's measurement scripts: section rewriting, the temperature fit, and a tiny end-to-end run."""

from __future__ import annotations

import pathlib
import sys

import pytest
import torch

pytest.importorskip("sklearn")

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def faq(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import faq_experiments
    import faq_modes
    return faq_experiments, faq_modes


def test_write_section_replaces_only_its_own_section(faq, tmp_path):
    write_section = faq[0].write_section
    path = tmp_path / "results.md"
    write_section(path, "a", "# A\nold a")
    write_section(path, "b", "## B\nb")
    path.write_text(path.read_text() + "hand-written note\n")
    write_section(path, "a", "# A\nnew a\n")
    text = path.read_text()
    assert "old a" not in text and text.count("new a") == 1 and text.count("## B\nb") == 1
    assert text.index("new a") < text.index("## B") < text.index("hand-written note")
    assert text.count("<!-- begin a -->") == 1 and text.count("<!-- end a -->") == 1


def test_temperature_recovers_the_one_that_generated_the_labels(faq):
    g = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(20000, 3, generator=g)
    y = torch.multinomial((logits / 2.0).softmax(-1), 1, generator=g).squeeze(1)   # calibrated at T = 2
    assert faq[1].temperature(logits, y) == pytest.approx(2.0, rel=0.05)


def test_faq_modes_digits_tiny_run_writes_its_section(faq, tmp_path, monkeypatch, capsys):
    out = tmp_path / "faq.md"
    out.write_text("<!-- begin basics -->\nkept\n<!-- end basics -->\n")
    monkeypatch.setattr(sys, "argv", ["faq_modes.py", "--data", "digits", "--seeds", "2", "--epochs", "1",
                                      "--out", str(out)])
    threads = torch.get_num_threads()
    try:
        faq[1].main()
    finally:
        torch.set_num_threads(threads)  # the script pins one thread
    text = out.read_text()
    assert "kept" in text and "<!-- begin modes-digits -->" in text
    for name in faq[1].METHODS:
        assert f"| {name} |" in text
    assert "| warped mixup α=1 − mixup α=1 |" in text and "nll_ts" in text
    assert "## Training modes on digits" in capsys.readouterr().out
