"""Losses for mixed batches: ``λ·L(out, y_a) + (1-λ)·L(out, y_b)`` per sample, for any criterion.

For cross-entropy this equals the loss on mixed soft targets; it is the route for criteria that need hard
targets (``nn.CrossEntropyLoss(weight=...)``, ``nn.NLLLoss``, focal losses).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .exceptions import MixupError
from .targets import MixedTarget

__all__ = ["mixed_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction not in _REDUCTIONS:
        raise MixupError(f"Unknown reduction {reduction!r}; expected one of {_REDUCTIONS}.")
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _per_sample(criterion: Callable[..., Tensor]) -> tuple[Callable[..., Tensor], str]:
    """A version of ``criterion`` that returns unreduced losses, and the reduction the user chose."""
    user_reduction = getattr(criterion, "reduction", None)
    if isinstance(user_reduction, str):
        c: Any = copy.copy(criterion)  # shallow: shares weights and buffers, not the reduction attribute
        c.reduction = "none"
        return c, user_reduction
    func, bound = (criterion.func, criterion.keywords) if isinstance(criterion, functools.partial) else (criterion, {})
    has_reduction, default = _reduction_parameter(func)
    if has_reduction:
        return functools.partial(criterion, reduction="none"), bound.get("reduction", default)
    return criterion, "mean"


@torch.compiler.assume_constant_result  # type: ignore[untyped-decorator]  # torch.compile reads it once while tracing
def _reduction_parameter(criterion: Callable[..., Tensor]) -> tuple[bool, str]:
    """Whether ``criterion`` takes ``reduction=``, and its default."""
    try:
        return _read_reduction(criterion)
    except TypeError:  # an unhashable callable: read without the cache
        return _read_reduction.__wrapped__(criterion)


@functools.lru_cache(maxsize=256)  # a loss function's signature is read once, not on every call
def _read_reduction(criterion: Callable[..., Tensor]) -> tuple[bool, str]:
    try:
        params = inspect.signature(criterion).parameters
    except (TypeError, ValueError):
        return False, "mean"
    if "reduction" not in params:
        return False, "mean"
    default = params["reduction"].default
    return True, default if isinstance(default, str) else "mean"


def _sample_weights(criterion: Callable[..., Tensor], y: Tensor) -> Tensor | None:
    """Per-row weights that torch's own ``"mean"`` divides by (class weights, ignore_index), if any."""
    if y.is_floating_point() or not isinstance(criterion, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return None
    weight, ignore = criterion.weight, criterion.ignore_index
    w = weight[y.clamp(min=0)] if weight is not None else torch.ones(y.shape, device=y.device)
    return torch.where(y == ignore, torch.zeros_like(w), w)


def mixed_loss(
    criterion: Callable[..., Tensor],
    output: Tensor,
    target: MixedTarget | Tensor,
    *,
    reduction: str | None = None,
) -> Tensor:
    """``λ·L(output, y_a) + (1-λ)·L(output, y_b)`` per sample, then reduced as the criterion would.

    Args:
        criterion: any loss, e.g. ``nn.CrossEntropyLoss()``, ``F.cross_entropy``,
            ``nn.BCEWithLogitsLoss()``, ``nn.MSELoss()``. A module's ``reduction`` attribute, or a
            function's ``reduction`` argument, is honoured; per-sample losses are obtained with
            ``reduction="none"``. A plain callable must return per-sample losses ``(B, ...)``.
        output: model output ``(B, ...)``.
        target: a :class:`MixedTarget`, or plain targets (then this is just ``criterion(output, target)``).
        reduction: override the criterion's reduction (``"mean"``, ``"sum"``, ``"none"``).

    ``"mean"`` of ``nn.CrossEntropyLoss`` / ``nn.NLLLoss`` with class weights or ``ignore_index``
    divides by the mixed weights, so ``lam = 1`` gives exactly torch's own value.

    Example:
        >>> t = MixedTarget(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.5]), "index", 2)
        >>> out = torch.tensor([[0.0, 0.0]])
        >>> round(float(mixed_loss(nn.CrossEntropyLoss(), out, t)), 4)
        0.6931
    """
    if isinstance(target, dict):
        raise MixupError("mixed_loss takes one MixedTarget; for multi-task targets call it once per head.")
    if reduction is not None and reduction not in _REDUCTIONS:
        raise MixupError(f"Unknown reduction {reduction!r}; expected one of {_REDUCTIONS}.")
    if not callable(criterion):
        raise MixupError(f"criterion must be a callable loss (e.g. nn.CrossEntropyLoss()), got "
                         f"{type(criterion).__name__}.")
    if not isinstance(target, MixedTarget):  # plain targets: the criterion's own loss, reduced as asked
        if reduction is None:
            return _call(criterion, output, target)
        losses = _losses(_call(_per_sample(criterion)[0], output, target))
        return _reduce_rows(criterion, losses, target, reduction)
    b = target.batch_size
    if not isinstance(output, Tensor) or output.ndim == 0 or output.shape[0] != b:
        got = f"shape {tuple(output.shape)}" if isinstance(output, Tensor) else type(output).__name__
        raise MixupError(f"output must be a (B={b}, ...) tensor, one row per target, got {got}.")
    fn, user_reduction = _per_sample(criterion)
    red = reduction or user_reduction
    if not target.mixed and fn is not criterion and red == user_reduction:
        # an identity plan with a criterion of known reduction: its own value, bit for bit (ERM)
        return _call(criterion, output, target.y_a)
    la = _row_losses(fn, output, target.y_a, b)
    if not target.mixed:
        return _reduce_rows(criterion, la, target.y_a, red)
    return _mix_rows(criterion, la, _call(fn, output, target.y_b), target, red)


def _row_losses(fn: Callable[..., Tensor], output: Tensor, y: Tensor, b: int) -> Tensor:
    """Per-sample losses ``(B, ...)`` of ``fn(output, y)``; MixupError if ``fn`` reduced them."""
    la = _losses(_call(fn, output, y))
    if la.ndim == 0 or la.shape[0] != b:
        raise MixupError(
            f"criterion returned a loss of shape {tuple(la.shape)}, but mixing needs per-sample losses "
            f"(B={b}, ...) to weight each row by its own lam. Use a criterion with reduction='none' (or a "
            "torch loss module / function, whose reduction mixed_loss sets for you) and let mixed_loss "
            "reduce."
        )
    return la


def _mix_rows(criterion: Callable[..., Tensor], la: Tensor, lb: Tensor, target: MixedTarget, red: str) -> Tensor:
    """``λ·la + (1-λ)·lb`` per row ``(B, ...)``, reduced; ``"mean"`` divides by mixed class weights if any."""
    loss = torch.lerp(lb, la, target.lam_weight(la.ndim, la.dtype))
    if red == "mean":
        wa, wb = _sample_weights(criterion, target.y_a), _sample_weights(criterion, target.y_b)
        if wa is not None and wb is not None:
            denom = torch.lerp(wb.to(la.dtype), wa.to(la.dtype), target.lam_weight(1, la.dtype))
            return loss.sum() / denom.sum()
    return _reduce(loss, red)


def _losses(loss: object) -> Tensor:
    if not isinstance(loss, Tensor) or not loss.is_floating_point():
        got = f"a {loss.dtype} tensor" if isinstance(loss, Tensor) else f"a {type(loss).__name__}"
        raise MixupError(f"criterion returned {got}; mixed_loss needs floating-point losses (a torch loss, or a "
                         "function returning per-sample float losses).")
    return loss


def _reduce_rows(criterion: Callable[..., Tensor], loss: Tensor, y: Tensor, reduction: str) -> Tensor:
    """Reduce unmixed per-sample losses as ``criterion`` would (class weights, ``ignore_index``)."""
    w = _sample_weights(criterion, y) if reduction == "mean" else None
    return loss.sum() / w.sum() if w is not None else _reduce(loss, reduction)


def _call(fn: Callable[..., Tensor], output: Tensor, y: Tensor) -> Tensor:
    """``fn(output, y)``, with torch's shape and index errors re-raised as :class:`MixupError` with context."""
    try:
        return fn(output, y)
    except MixupError:
        raise
    except (IndexError, RuntimeError, ValueError) as err:
        raise MixupError(
            f"criterion(output, target) failed for output {output.dtype} {tuple(output.shape)} and target {y.dtype} "
            f"{tuple(y.shape)}: {str(err).splitlines()[0] if str(err) else type(err).__name__}. Check that the model's "
            "output matches the targets (number of classes, target kind) and the criterion."
        ) from err
