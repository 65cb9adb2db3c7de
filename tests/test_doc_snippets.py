"""Every docs page's Python snippets run, in order, in one namespace per page (as a reader pastes them).

A page is skipped when a snippet imports an optional package that is not installed, and a snippet marked
``<!-- skip-snippet: reason -->`` on the line before its fence is not run (one that downloads data or
trains for minutes). The pages' own tests check their printed tables; this one checks that the code runs.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"(<!-- skip-snippet: [^>]*-->\n)?```python\n(.*?)```", re.S)
#: top-level imports that are optional extras (not needed by ``import mixup_any``)
OPTIONAL = ("pandas", "sklearn", "transformers", "lightning", "pytorch_lightning", "matplotlib", "torchvision",
            "torch_geometric", "accelerate", "datasets", "tqdm", "scipy")


#: pages whose snippets fail for a reason outside this test's owner's files: strict, so each flips when fixed
KNOWN: dict[str, str] = {}


def snippets(page: pathlib.Path) -> list[str]:
    return [code for skip, code in FENCE.findall(page.read_text()) if not skip]


def _missing_extra(code: str) -> str | None:
    for mod in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", code, re.M):
        if mod in OPTIONAL and importlib.util.find_spec(mod) is None:
            return mod
    return None


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.xfail(reason=KNOWN[p.name], strict=True))
                                  if p.name in KNOWN else p for p in PAGES if snippets(p)], ids=lambda p: p.name)
def test_page_snippets_run_in_order(page, monkeypatch, tmp_path):
    blocks = snippets(page)
    missing = next((m for m in map(_missing_extra, blocks) if m), None)
    if missing:
        pytest.skip(f"{page.name} needs {missing}, which is not installed")
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace: dict = {"__name__": "__doc_snippet__"}
    try:
        for i, code in enumerate(blocks):
            try:
                exec(compile(code, f"{page.name} snippet {i + 1}", "exec"), namespace)
            except Exception as err:  # noqa: BLE001 - the page and snippet name the failure
                raise AssertionError(f"{page.name}, snippet {i + 1} of {len(blocks)} failed: "
                                     f"{type(err).__name__}: {err}") from err
    finally:
        torch.set_num_threads(n)
