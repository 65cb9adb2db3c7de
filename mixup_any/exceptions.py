"""The library's own errors: every bad input raises one of these, with what was expected and what arrived."""

from __future__ import annotations

__all__ = ["MixupError", "HookSiteError"]


class MixupError(ValueError):
    """Base error of mixup_any: a bad argument, shape, dtype or state.

    It subclasses :class:`ValueError`, so ``except ValueError`` keeps working.
    """


class HookSiteError(MixupError, LookupError):
    """A hook site could not be resolved, ran in a way that cannot be mixed, or did not run."""
