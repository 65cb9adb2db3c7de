"""The outputs of ``mixup-any compare``: ``folds.csv``, ``summary.json``, ``summary.txt`` and a reliability
diagram, written into ``--out`` all at once (a run that fails or is interrupted leaves nothing half-written)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._cli_data import UserError
from .extras import is_available

OUTPUTS = ("folds.csv", "summary.json", "summary.txt", "reliability.png")  # the files the command owns


def say(text: str) -> None:
    """Print a line of the report. When the reader has gone (``| head``), the rest of the report goes to
    /dev/null, so the run still ends by writing its files, and quietly."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())  # also the interpreter's flush at exit
        os.close(null)


def outputs(folds: list[dict[str, Any]], summary: dict[str, Any], text: str, pooled: dict[str, list[Any]],
             y_idx: Any, n_classes: int, args: argparse.Namespace) -> dict[str, bytes]:
    import pandas as pd

    files = {
        "folds.csv": pd.DataFrame(folds).to_csv(index=False).encode(),
        "summary.json": json.dumps({"args": {k: v for k, v in vars(args).items() if k != "warnings"},
                                    "warnings": args.warnings, **summary},
                                   indent=2, default=str).encode(),
        "summary.txt": (text + "\n").encode(),
    }
    if pooled:
        if is_available("matplotlib"):
            files["reliability.png"] = reliability_png(pooled, y_idx, n_classes)
        else:
            say("note: matplotlib is not installed, so no reliability diagram was drawn "
                "(pip install 'mixup-any[viz]').")
    return files


def write_outputs(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into ``out`` all at once: a new directory is renamed into place; in an existing one,
    the files this command owns are replaced (and a stale one from an earlier run removed)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as err:
        raise UserError(f"cannot write the outputs to {out}: {err.strerror or err}") from None
    try:
        for fname, data in files.items():
            (tmp / fname).write_bytes(data)  # with the usual permissions (0666 less the umask)
        if out.is_dir():
            for fname in OUTPUTS:
                if fname not in files:
                    (out / fname).unlink(missing_ok=True)
            for fname in files:
                os.replace(tmp / fname, out / fname)
            tmp.rmdir()
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's directory is 0700; give the usual permissions
            os.rename(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"cannot write the outputs to {out}: {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def reliability_png(pooled: dict[str, list[Any]], y_idx: Any, n_classes: int, n_bins: int = 15) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 5.0), dpi=110)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    for name, parts in pooled.items():
        idx = np.concatenate([p[0] for p in parts])
        probs = np.concatenate([p[1] for p in parts])
        conf, pred = probs.max(1), probs.argmax(1)
        correct = pred == np.asarray(y_idx)[idx]
        bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
        count = np.bincount(bins, minlength=n_bins)
        keep = count >= 5  # mean confidence and accuracy of each bin of at least 5 rows
        xs, ys = (np.bincount(bins, v, minlength=n_bins)[keep] / count[keep] for v in (conf, correct))
        ax.plot(xs, ys, marker="o", ms=3, lw=1.2, label=name)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    lo = 1.0 / max(n_classes, 2) - 0.02
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(max(0.0, lo - 0.15), 1.02)
    ax.set_title("Reliability (out-of-fold predictions, first repeat)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
