"""The training modes every handle and route speaks: ``mode=`` with ``eta`` (one vocabulary, :data:`MODES`).

* ``"erm"``: no mixing; ``"mixup"``: mixed inputs and targets;
* ``"regmixup"`` (Pinto et al., NeurIPS 2022, https://arxiv.org/abs/2206.14502): ``CE(clean) + eta ·
  mixup loss`` on one forward of the concatenated batch ``[x; x_mixed]``: the clean term keeps the model
  confident on real samples, the mixed term regularises (:func:`regmixup_loss`, :func:`clean_and_mixed`);
* ``"inputs_only"`` (Wang et al., CVPR 2023, "On the pitfall of mixup for uncertainty calibration"; ``MixupIO``
  in torch-uncertainty): mixed inputs, the dominant input's hard target (:func:`inputs_only_target`).

:func:`mode_loss` is the loss of each mode, :func:`mode_target` its target. Measured effects are in the
README's FAQ; distance-warped λ, a plan transform rather than a mode, is in :mod:`mixup_any.calibration`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from numbers import Real
from typing import overload

import torch
from torch import Tensor

from .exceptions import MixupError
from .losses import mixed_loss
from .params import MixParams, doubled_plan
from .targets import MixedTarget

__all__ = ["MODES", "check_eta", "check_mode", "clean_and_mixed", "inputs_only_target", "mode_loss", "mode_target",
           "regmixup_loss"]

#: Training modes, one vocabulary for every route (see the module docstring).
MODES = ("erm", "mixup", "regmixup", "inputs_only")
KEEP = ("dominant", "own")


def check_eta(eta: object) -> float:
    """``eta`` as a float, or a :class:`MixupError` if it is not a finite number ``>= 0``."""
    if isinstance(eta, bool) or not isinstance(eta, Real) or not math.isfinite(float(eta)) or eta < 0:
        raise MixupError(f"eta (weight of RegMixup's mixed term) must be a finite number >= 0, got {eta!r}. "
                         "eta=0 trains on the clean batch only (ERM); the paper uses eta=1.")
    return float(eta)


def check_mode(mode: object, where: str = "") -> str:
    """``mode`` if it is one of :data:`MODES`, else a :class:`MixupError` (``where``: the route)."""
    if not isinstance(mode, str) or mode not in MODES:
        route = f" for {where}" if where else ""
        raise MixupError(f"Unknown mode {mode!r}{route}; expected one of {MODES}.")
    return mode


def clean_and_mixed(params: MixParams) -> MixParams:
    """The plan of the concatenated batch ``[x; x]`` (``2B`` rows): clean rows first, then ``params``.

    Row ``i < B`` pairs with itself with ``lam = 1`` (a row mixed with itself is itself, exactly, for
    interpolation and for cut-and-paste alike); row ``B + i`` pairs with ``B + index[i]`` with ``lam[i]``.
    An identity plan gives the identity plan of ``2B`` rows.

    Example:
        >>> p = MixParams(lam=torch.tensor([0.3, 0.8]), index=torch.tensor([1, 0]))
        >>> q = clean_and_mixed(p)
        >>> q.lam, q.index
        (tensor([1.0000, 1.0000, 0.3000, 0.8000]), tensor([0, 1, 3, 2]))
    """
    if not isinstance(params, MixParams):
        raise MixupError(f"clean_and_mixed needs a MixParams, got {type(params).__name__}.")
    b = params.batch_size
    if not params.mixed:
        return MixParams.identity(2 * b, params.device).at_site(params.site)
    index = torch.cat([torch.arange(b, device=params.device), params.index + b])
    return doubled_plan(params, index, mixed_first=False)


@overload
def mode_target(target: MixedTarget, mode: str) -> MixedTarget: ...
@overload
def mode_target(target: dict[str, MixedTarget], mode: str) -> dict[str, MixedTarget]: ...
def mode_target(target: MixedTarget | dict[str, MixedTarget], mode: str) -> MixedTarget | dict[str, MixedTarget]:
    """The target a mode trains on: inputs-only's hard target for ``"inputs_only"``, ``target`` otherwise."""
    if mode != "inputs_only":
        return target
    if isinstance(target, dict):
        return {k: inputs_only_target(v) for k, v in target.items()}
    return inputs_only_target(target)


def mode_loss(criterion: Callable[..., Tensor], output: Tensor, target: MixedTarget, *, mode: str = "mixup",
              eta: float = 1.0, reduction: str | None = None) -> Tensor:
    """The training loss of ``mode`` (see :data:`MODES`).

    ``"regmixup"``: :func:`regmixup_loss` on ``(2B, ...)`` outputs (clean rows, then mixed rows);
    ``"inputs_only"``: :func:`~mixup_any.mixed_loss` on :func:`inputs_only_target`; ``"erm"`` and
    ``"mixup"``: :func:`~mixup_any.mixed_loss` (an ERM plan is the identity, so this is the plain loss).

    Args:
        criterion: as for :func:`~mixup_any.mixed_loss`.
        output: ``(B, ...)``, or ``(2B, ...)`` for ``"regmixup"``.
        target: the mixed batch's :class:`MixedTarget` (``B`` rows).
        mode: one of :data:`MODES`. eta: RegMixup's weight, ``>= 0`` (checked for every mode).
        reduction: override the criterion's reduction (``"mean"``, ``"sum"``).
    """
    check_mode(mode)
    eta = check_eta(eta)
    if mode == "regmixup":
        return regmixup_loss(criterion, output, target, eta=eta, reduction=reduction)
    return mixed_loss(criterion, output, mode_target(target, mode), reduction=reduction)


def regmixup_loss(criterion: Callable[..., Tensor], output: Tensor, target: MixedTarget, *,
                  eta: float = 1.0, reduction: str | None = None) -> Tensor:
    """RegMixup: ``criterion(clean outputs, y) + eta · mixed_loss(criterion, mixed outputs, target)``.

    Expects **one forward on the concatenated batch** ``model(torch.cat([x, x_mixed]))``, clean rows
    first, as the paper's code does: with batch norm, both halves then share one set of batch
    statistics, and one larger forward runs faster than two. Two forwards are equivalent for models
    without batch statistics (no batch norm; dropout draws are independent either way): pass
    ``torch.cat([model(x), model(x_mixed)])``. Each term is reduced as ``criterion`` reduces.

    Args:
        criterion: a loss that takes the batch's own targets ``target.y_a`` (e.g. ``F.cross_entropy``
            for class indices); per-sample losses are obtained as :func:`mixup_any.mixed_loss` does.
        output: ``(2B, ...)``: the clean batch's outputs, then the mixed batch's.
        target: the mixed batch's :class:`MixedTarget` (``B`` rows); its ``y_a`` are the clean targets.
        eta: weight of the mixed term, ``>= 0`` (the paper: 1).
        reduction: override the criterion's reduction for both terms (``"mean"``, ``"sum"``).

    Example:
        >>> import torch.nn.functional as F
        >>> t = MixedTarget(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.5]), "index", 2)
        >>> out = torch.tensor([[2.0, 0.0], [0.0, 0.0]])     # clean row, mixed row
        >>> round(float(regmixup_loss(F.cross_entropy, out, t)), 4)   # CE([2, 0], 0) + ln 2
        0.8201
    """
    eta = check_eta(eta)
    if reduction not in (None, "mean", "sum", "none"):
        raise MixupError(f"Unknown reduction {reduction!r}; expected None, 'mean', 'sum' or 'none'.")
    if not isinstance(target, MixedTarget):
        raise MixupError(f"regmixup_loss needs the mixed batch's MixedTarget (from mixer(x, y)), got "
                         f"{type(target).__name__}; its y_a are the clean targets.")
    b = target.batch_size
    if not isinstance(output, Tensor) or output.ndim == 0 or output.shape[0] != 2 * b:
        got = f"shape {tuple(output.shape)}" if isinstance(output, Tensor) else type(output).__name__
        raise MixupError(f"regmixup_loss needs (2B={2 * b}, ...) outputs, clean rows then mixed rows, "
                         f"e.g. model(torch.cat([x, x_mixed])); got {got}.")
    clean = dataclasses.replace(target, y_b=target.y_a, lam=1.0, mixed=False)
    try:
        clean_loss = mixed_loss(criterion, output[:b], clean, reduction=reduction)
    except (ValueError, TypeError, AttributeError, RuntimeError, IndexError) as err:  # MixupError is a ValueError
        raise MixupError(f"RegMixup's clean term calls criterion(output[:B], y) with the batch's own "
                         f"{target.kind} targets {tuple(target.y_a.shape)}, and the criterion could not take them "
                         f"({err}). Use a criterion that accepts these targets (e.g. F.cross_entropy for class "
                         "indices), not one that only takes mixed soft targets.") from err
    if eta == 0.0:
        return clean_loss
    return clean_loss + eta * mixed_loss(criterion, output[b:], target, reduction=reduction)


def inputs_only_target(target: MixedTarget, keep: str = "dominant") -> MixedTarget:
    """The target of inputs-only mixing: a hard target per row, the mixed inputs unchanged.

    Args:
        target: the :class:`MixedTarget` of a mixed batch ``(B, ...)``.
        keep: ``"dominant"``: the target of the input with the larger weight, ``y_a`` where
            ``lam > 0.5`` else ``y_b`` (Wang et al., 2023; torch-uncertainty's ``MixupIO``; a tie goes
            to the partner, as there); ``"own"``: always the row's own ``y_a``.

    Returns:
        An unmixed :class:`MixedTarget` (``lam = 1``, ``y_b is y_a``): losses on it are the plain loss.

    Example:
        >>> t = MixedTarget(torch.tensor([0, 1]), torch.tensor([2, 0]), torch.tensor([0.7, 0.2]), "index", 3)
        >>> inputs_only_target(t).y_a
        tensor([0, 0])
    """
    if not isinstance(target, MixedTarget):
        raise MixupError(f"inputs_only_target needs a MixedTarget, got {type(target).__name__}.")
    if keep not in KEEP:
        raise MixupError(f"Unknown keep={keep!r} for inputs-only targets; expected one of {KEEP}.")
    y = target.y_a
    if keep == "dominant" and target.mixed:
        if isinstance(target.lam, float):  # one λ for the batch: one side wins for every row
            y = target.y_a if target.lam > 0.5 else target.y_b
        else:
            own = (target.lam > 0.5).to(y.device).view(-1, *([1] * (y.ndim - 1)))
            y = torch.where(own, target.y_a, target.y_b)
    return dataclasses.replace(target, y_a=y, y_b=y, lam=1.0, mixed=False)
