"""Tables and verdicts of ``mixup-any compare``: per-model summaries, paired differences, one text formatter.

Plain Python (no numpy, no torch): a results row is ``{"model": name, metric: value, ...}`` per fold, a
summary holds mean ± std per model and metric, and each model's paired difference to the baseline over the
same folds (:func:`mixup_any.metrics.paired_t_interval`, the one "beyond the noise" rule).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from statistics import median_low
from typing import Any

from .metrics import mean_sd, paired_t_interval

HIGHER_IS_BETTER = {"accuracy", "r2"}  # the other metrics are losses or errors
LABELS = {"accuracy": "accuracy", "log_loss": "log loss", "log_loss_ts": "log loss (temp.-scaled)", "ece": "ECE",
          "ece_ts": "ECE (temp.-scaled)", "brier": "Brier", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}
MAX_WIDTH = 100


def decimals(spread: float, default: int = 4) -> int:
    """Decimals that show ``spread`` (a std or a half-width) to two significant digits, within 0..6."""
    if not math.isfinite(spread) or spread <= 0:
        return default
    return max(0, min(6, 1 - math.floor(math.log10(spread))))


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "", max_width: int = MAX_WIDTH,
                 gap: int = 2) -> str:
    """Text table with column widths computed from the cells; ``align`` has one ``"l"`` or ``"r"`` per column
    (default: the first column left-aligned, the others right-aligned).

    When the columns do not fit in ``max_width`` characters, the table is printed in blocks of columns,
    each repeating the first column, so no line is wider than ``max_width`` (unless one column alone is).
    """
    cols = list(zip(header, *rows, strict=True))
    align = align or "l" + "r" * (len(cols) - 1)
    widths = [max(len(c) for c in col) for col in cols]
    blocks: list[list[int]] = [[]]
    used = widths[0]
    for j in range(1, len(cols)):
        if blocks[-1] and used + gap + widths[j] > max_width:
            blocks.append([])
            used = widths[0]
        blocks[-1].append(j)
        used += gap + widths[j]
    out = []
    for block in blocks:
        lines = []
        for r in [list(header), *map(list, rows)]:
            cells = [r[j].ljust(widths[j]) if align[j] == "l" else r[j].rjust(widths[j]) for j in [0, *block]]
            lines.append((" " * gap).join(cells).rstrip())
        lines.insert(1, "-" * max(len(line) for line in lines))
        out.append("\n".join(lines))
    return "\n\n".join(out)


def summarise(folds: list[dict[str, Any]], names: list[str], metrics: list[str],
              test_over_train: float) -> dict[str, Any]:
    """Mean ± std per model and metric, and each model minus the first (the baseline), paired over folds."""
    per: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for r in folds:
        for m in metrics:
            if r.get(m) is not None and not (isinstance(r[m], float) and math.isnan(r[m])):
                per[r["model"]].setdefault(m, []).append(r[m])
    table = {n: {m: dict(zip(("mean", "std"), mean_sd(v), strict=True)) for m, v in per[n].items()}
             for n in names}
    base = names[0]
    diffs: dict[str, dict[str, Any]] = {}
    for n in names[1:]:
        diffs[n] = {}
        for m in metrics:
            if m in per[n] and m in per[base]:
                iv = paired_t_interval(per[n][m], per[base][m], test_over_train=test_over_train)
                diffs[n][m] = {"diff": iv.diff, "low": iv.low, "high": iv.high, "se": iv.se,
                               "verdict": iv.verdict(m in HIGHER_IS_BETTER)}
    return {"metrics": table, "paired_vs_erm": diffs, "baseline": base}


def render(summary: dict[str, Any], names: list[str], metrics: list[str], n_folds: int, *,
           context: Sequence[str] = (), footnotes: Sequence[str] = ()) -> str:
    """The results as text: a mean ± std table, a paired-difference table and a verdict line.

    ``context`` names rows shown for comparison only (not part of the verdict on mixup).
    """
    parts = [_means_table(summary, names, metrics),
             _wrap(f"(mean ± std over {n_folds} folds{''.join('; ' + f for f in footnotes)})")]
    drows = [[n, LABELS[m], *_interval_cells(d)] for n, per_m in summary["paired_vs_erm"].items()
             for m, d in per_m.items()]
    if drows:
        parts.append("\n" + _wrap(f"minus {summary['baseline']}, paired over folds (95% corrected t-interval; "
                                  "'within noise' = it contains 0):"))
        parts.append(format_table(["model", "metric", "difference", "95% interval", "verdict"], drows, "llrrl"))
    judged = [n for n in summary["paired_vs_erm"] if n not in context]
    if judged:
        beyond = any(d["verdict"] in ("better", "worse") for n in judged
                     for d in summary["paired_vs_erm"][n].values())
        parts.append("\n" + _wrap("Verdict on mixup: " + (
            "some differences from ERM exceed the fold-to-fold noise (marked 'better' / 'worse' above); "
            "the others are within it." if beyond else
            "every difference from ERM is within the fold-to-fold noise; on this table mixup neither helps "
            "nor hurts measurably.")))
    return "\n".join(parts)


def _means_table(summary: dict[str, Any], names: list[str], metrics: list[str]) -> str:
    """Mean ± std per model (rows) and metric (columns), to two significant digits of the column's typical std."""
    cols = [m for m in metrics if any(m in summary["metrics"][n] for n in names)]
    stds = {m: [s["std"] for n in names if (s := summary["metrics"][n].get(m)) and s["std"] > 0] for m in cols}
    digits = {m: decimals(median_low(stds[m]) if stds[m] else math.nan) for m in cols}
    rows = []
    for n in names:
        cells = [n]
        for m in cols:
            s = summary["metrics"][n].get(m)
            cells.append(f"{s['mean']:.{digits[m]}f} ± {s['std']:.{digits[m]}f}" if s else "—")
        rows.append(cells)
    return format_table(["model", *(LABELS[m] for m in cols)], rows)


def _interval_cells(d: dict[str, Any]) -> list[str]:
    """Difference, interval and verdict of one paired comparison, to two significant digits of the half-width."""
    k = decimals((d["high"] - d["low"]) / 2)
    interval = "—" if math.isnan(d["low"]) else f"[{d['low']:+.{k}f}, {d['high']:+.{k}f}]"
    return [f"{d['diff']:+.{k}f}", interval, d["verdict"]]


def recommend(summary: dict[str, Any], *, context: str) -> str:
    """One line that follows from the paired differences: boosting, a mixing method, or ERM.

    Classification is judged on probabilistic quality (log loss, then ECE), regression on RMSE. Boosting
    (``context``) is recommended when it beats ERM beyond the noise on the first of those; a mixing method when
    it beats ERM beyond the noise on one of them and is worse on none; otherwise ERM.
    """
    paired, base = summary["paired_vs_erm"], summary["baseline"]
    judged_on = ["log_loss", "ece"] if "log_loss" in summary["metrics"][base] else ["rmse"]

    def verdicts(name: str) -> list[str]:
        return [str(paired[name][m]["verdict"]) for m in judged_on if m in paired.get(name, {})]

    if context in paired and verdicts(context)[:1] == ["better"]:
        return _wrap(f"Recommendation: use gradient boosting; it beat {base} on {LABELS[judged_on[0]]} beyond the "
                     "noise.")
    methods = [n for n in paired if n != context]
    worse = [n for n in methods if "worse" in verdicts(n)]
    better = [n for n in methods if n not in worse and "better" in verdicts(n)]
    if better:
        best = min(better, key=lambda n: summary["metrics"][n][judged_on[0]]["mean"])
        return _wrap(f"Recommendation: {best}; it beat {base} beyond the noise and was worse on nothing judged "
                     f"({', '.join(LABELS[m] for m in judged_on)}).")
    tail = f" ({', '.join(worse)}: worse beyond the noise)" if worse else ""
    return _wrap(f"Recommendation: keep {base}; no mixing method improved its "
                 f"{' or '.join(LABELS[m] for m in judged_on)} beyond the noise{tail}.")


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=MAX_WIDTH, break_on_hyphens=False)
