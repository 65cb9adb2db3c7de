"""Check a fresh `mixup-any compare` run against the table the README shows (CI runs it).

    mixup-any compare --no-progress --out OUT && python tools/check_readme_compare.py OUT

Each mean must lie within the README's stated cross-machine tolerance of the README's value (the last digits
move with the CPU's float arithmetic), and the verdict and recommendation lines must be the README's, word
for word. Exit 1 with the differences otherwise.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# absolute tolerance per column label: a few times the cross-machine movement seen, well under the fold spread
TOLERANCE = {"accuracy": 0.005, "log loss": 0.005, "log loss (temp.-scaled)": 0.005, "ECE": 0.004,
             "ECE (temp.-scaled)": 0.004, "Brier": 0.002}
KEYS = {"accuracy": "accuracy", "log loss": "log_loss", "log loss (temp.-scaled)": "log_loss_ts", "ECE": "ece",
        "ECE (temp.-scaled)": "ece_ts", "Brier": "brier"}


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("```\nmodel  ") + 4
    return text[start:text.index("```", start)]


def table_means(block: str) -> dict[tuple[str, str], float]:
    """``{(model, column label): mean}`` from the README's mean ± std tables."""
    means: dict[tuple[str, str], float] = {}
    for part in block.split("\n\n"):
        lines = part.strip("\n").splitlines()
        if not lines or not lines[0].startswith("model"):
            continue
        labels = [c for c in re.split(r"\s{2,}", lines[0].strip())][1:]
        for line in lines[2:]:
            model = re.split(r"\s{2,}", line.strip())[0]
            cells = re.findall(r"(-?\d+\.\d+) ± \d+\.\d+|—", line[len(model):])
            for label, cell in zip(labels, cells, strict=True):
                if cell:
                    means[(model, label)] = float(cell)
    return means


def main(out: Path) -> int:
    block = readme_block()
    summary = json.loads((out / "summary.json").read_text())
    problems = []
    for (model, label), expected in table_means(block).items():
        got = summary["metrics"][model][KEYS[label]]["mean"]
        if abs(got - expected) > TOLERANCE[label]:
            problems.append(f"{model} {label}: {got:.4f}, README {expected} (tolerance {TOLERANCE[label]})")
    said = " ".join((out / "summary.txt").read_text().split())
    verdict = "Verdict on mixup" + block.split("Verdict on mixup", 1)[1]
    for sentence in verdict.split("Recommendation:", 1)[0], "Recommendation:" + verdict.split("Recommendation:", 1)[1]:
        if " ".join(sentence.split()) not in said:
            problems.append(f"line not in this run: {' '.join(sentence.split())!r}")
    print("\n".join(problems) or f"README table reproduced within tolerance ({len(table_means(block))} means)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
