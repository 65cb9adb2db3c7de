"""Entry point of the ``mixup-any`` console script.

It lives outside the ``mixup_any`` package on purpose: importing ``mixup_any`` imports torch, which takes
a few seconds, and a Ctrl-C during that import must end the command with one line and status 130, not a
traceback. Everything else is in :mod:`mixup_any.cli`.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

_interrupted = False


def _on_sigint(signum: int, frame: Any) -> None:
    # remembered, because a library import can catch the KeyboardInterrupt and raise another error instead
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def main() -> int:
    """Import and run :func:`mixup_any.cli.main`; Ctrl-C at any point exits with status 130."""
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        from mixup_any.cli import main as run

        return run()
    except BaseException:
        if not _interrupted:
            raise
        print("mixup-any: interrupted; no outputs written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
