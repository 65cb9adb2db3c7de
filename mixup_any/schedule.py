"""When to mix: turn mixing off after an epoch or a step, and warm α up from 0.

The state (steps and epoch seen) is a ``state_dict``, so a resumed run continues exactly.
"""

from __future__ import annotations

from typing import Any

from .exceptions import MixupError

__all__ = ["MixSchedule"]


class MixSchedule:
    """Counts training draws and epochs; says whether to mix and how far α has warmed up.

    Args:
        off_after_epoch: stop mixing once ``set_epoch(e)`` has been called with ``e >= off_after_epoch``
            (timm turns mixup off for the last epochs this way).
        off_after_step: stop mixing after this many training draws.
        warmup_steps: α grows linearly from 0 to its full value over this many draws.

    Example:
        >>> s = MixSchedule(off_after_epoch=2)
        >>> s.set_epoch(1); s.active()
        True
        >>> s.set_epoch(2); s.active()
        False
    """

    def __init__(self, off_after_epoch: int | None = None, off_after_step: int | None = None,
                 warmup_steps: int = 0) -> None:
        for name, v in (("off_after_epoch", off_after_epoch), ("off_after_step", off_after_step)):
            if v is not None and (not isinstance(v, int) or v < 0):
                raise MixupError(f"{name} must be a non-negative int or None, got {v!r}.")
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise MixupError(f"warmup_steps must be a non-negative int, got {warmup_steps!r}.")
        self.off_after_epoch = off_after_epoch
        self.off_after_step = off_after_step
        self.warmup_steps = warmup_steps
        self.step_count = 0
        self.epoch = 0

    def active(self) -> bool:
        if self.off_after_epoch is not None and self.epoch >= self.off_after_epoch:
            return False
        return not (self.off_after_step is not None and self.step_count >= self.off_after_step)

    def alpha_scale(self) -> float:
        """Factor applied to α at the current step (1 after warm-up)."""
        return min(1.0, self.step_count / self.warmup_steps) if self.warmup_steps else 1.0

    def step(self) -> None:
        self.step_count += 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self.epoch = int(state["epoch"])

    def __repr__(self) -> str:
        return (f"MixSchedule(off_after_epoch={self.off_after_epoch}, off_after_step={self.off_after_step}, "
                f"warmup_steps={self.warmup_steps})")
