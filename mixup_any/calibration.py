"""Calibration-safe mixup: RegMixup, inputs-only targets and distance-warped λ, on an existing plan.

Plain mixup trains on soft targets, which penalises confidence: models come out under-confident and
their calibration error grows with α (measured in the README's FAQ). Three published remedies, each
built on a plan the mixer has already drawn (no second random draw):

* :func:`regmixup_loss` (Pinto et al., NeurIPS 2022, https://arxiv.org/abs/2206.14502):
  ``CE(clean) + eta · mixup loss`` — the clean term keeps the model confident on real samples, the
  mixed term regularises. The paper uses a large α (10–20 on CIFAR) because the clean term is there.
* :func:`inputs_only_target` (Wang et al., CVPR 2023, "On the pitfall of mixup for uncertainty
  calibration"; ``MixupIO`` in torch-uncertainty): mix the inputs, but train on a hard target — the
  label of the dominant input (``lam > 0.5``), or the row's own label — so the target's confidence is kept.
* :func:`warp_lambda` / :func:`warp_params` (Bouniot et al., 2023, "Tailoring mixup to data for
  calibration", kernel-warping mixup): ``lam`` is pushed towards 0 or 1 for pairs that are far apart,
  so far pairs mix less and close pairs more.

When to use which: RegMixup when you want mixup's regularisation without its under-confidence;
inputs-only when the mixed targets are what hurts calibration (the pitfall paper's diagnosis);
warping when mixing dissimilar rows produces implausible inputs (manifold intrusion).
Measured results for each (tables, digits, text) are in the README's FAQ and ``docs/faq_results.md``.

Warping is a plan transform, not a ``mode``: it needs each pair's distance in a feature space (the inputs,
or the model's detached hidden features as in the paper), and which space is meaningful depends on the
model, so no route can choose it for every model. Draw the plan, warp it, hand it back::

    p = warp_params(mixer.sample(x.shape, labels=y), features)   # features: (B, ...), e.g. body(x) detached
    x_mixed, target = mixer(x, y, params=p)                       # or handle.arm(y, params=p) at a hook site

Every route speaks one vocabulary, :data:`MODES` with ``eta`` (tabular estimators, hooks, text, the
``Trainer`` and Lightning): ``mode="erm"`` no mixing, ``"mixup"`` mixed inputs and targets,
``"regmixup"`` clean loss + ``eta`` × mixup loss, ``"inputs_only"`` mixed inputs with the dominant
input's target. :func:`mode_loss` is the loss of each mode; :func:`clean_and_mixed` is the plan of the
concatenated batch ``[x; x]`` that RegMixup forwards once at a hidden site.
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
from .params import MixParams, map_extra
from .targets import MixedTarget

__all__ = ["mode_loss", "warp_params"]

#: Training modes, one vocabulary for every route: ``"erm"`` no mixing; ``"mixup"`` mixed inputs and
#: targets; ``"regmixup"`` clean loss + ``eta`` × mixup loss (Pinto et al., 2022); ``"inputs_only"`` mixed
#: inputs, the dominant input's hard target (Wang et al., 2023).
MODES = ("erm", "mixup", "regmixup", "inputs_only")
KEEP = ("dominant", "own")
_CF_STEPS = 100  # continued-fraction steps: |error| < 1e-8 against scipy for τ in [1e-3, 1e4] (tested)
_TAU_RANGE = (1e-3, 1e4)


def check_eta(eta: object) -> float:
    """``eta`` as a float, or a :class:`MixupError` if it is not a finite number ``>= 0``."""
    if isinstance(eta, bool) or not isinstance(eta, Real) or not math.isfinite(float(eta)) or eta < 0:
        raise MixupError(f"eta (weight of RegMixup's mixed term) must be a finite number >= 0, got {eta!r}. "
                         "eta=0 trains on the clean batch only (ERM); the paper uses eta=1.")
    return float(eta)


def check_mode(mode: object, modes: tuple[str, ...] = MODES, where: str = "") -> str:
    """``mode`` if it is one of ``modes``, else a :class:`MixupError` naming them (``where``: the route)."""
    if not isinstance(mode, str) or mode not in modes:
        route = f" for {where}" if where else ""
        raise MixupError(f"Unknown mode {mode!r}{route}; expected one of {modes}.")
    return mode


def clean_and_mixed(params: MixParams) -> MixParams:
    """The plan of the concatenated batch ``[x; x]`` (``2B`` rows): clean rows first, then ``params``.

    Row ``i < B`` pairs with itself with ``lam = 1`` (a row mixed with itself is itself, exactly, for
    interpolation and for cut-and-paste alike); row ``B + i`` pairs with ``B + index[i]`` with ``lam[i]``.
    The per-row tensors of the plan's record (a CutMix box, a choice) are repeated for the clean rows, where pairing with
    themselves makes them inert. An identity plan gives the identity plan of ``2B`` rows.

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
    extra = map_extra(params.extra, lambda v: torch.cat([v, v]) if v.ndim and v.shape[0] == b else v)
    index = params.index
    ones = torch.ones(b, device=index.device)
    return dataclasses.replace(params, lam=torch.cat([ones, params.lam_rows()]),
                               index=torch.cat([torch.arange(b, device=index.device, dtype=index.dtype), index + b]),
                               target_lam=None if params.target_lam is None else torch.cat([ones, params.target_rows()]),
                               extra=extra, unmixed_rows=True)


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


def warp_tau(features: Tensor, index: Tensor, *, tau_max: float = 1.0, tau_std: float = 0.5) -> Tensor:
    """The warping parameter ``τ`` of each pair ``(B,)``, from the pair's distance (Bouniot et al., 2023).

    ``d_i = ‖f_i - f_index[i]‖²`` (squared L2 over all non-batch dims), normalised by its batch mean,
    ``d̃_i = d_i / mean(d)``; then ``τ_i = 1 / (tau_max · exp(-(d̃_i - 1) / (2 · tau_std²)))``. A pair at the
    mean distance gets ``τ = 1 / tau_max``; farther pairs a larger ``τ`` (less mixing), closer pairs a
    smaller one (more mixing). ``τ`` is clipped to ``[1e-3, 1e4]``.

    Args:
        features: ``(B, ...)`` what distances are measured on (inputs, or detached embeddings as in the paper).
        index: ``(B,)`` partners of the plan.
        tau_max: ``τ_max > 0``; tau_std: ``σ > 0`` of the Gaussian similarity kernel.
    """
    for name, v in (("tau_max", tau_max), ("tau_std", tau_std)):
        if isinstance(v, bool) or not isinstance(v, Real) or not (v > 0 and math.isfinite(v)):
            raise MixupError(f"{name} must be a finite number > 0, got {v!r}.")
    if not isinstance(features, Tensor) or features.ndim == 0 or features.shape[0] != index.shape[0]:
        got = f"shape {tuple(features.shape)}" if isinstance(features, Tensor) else type(features).__name__
        raise MixupError(f"warp_tau needs features with one row per pair (B={index.shape[0]}, ...), got {got}.")
    f = features.detach().reshape(features.shape[0], -1).double()
    d = (f - f.index_select(0, index.to(f.device))).pow(2).sum(1)
    d_norm = d / d.mean().clamp_min(torch.finfo(torch.float64).tiny)
    tau = torch.exp((d_norm - 1.0) / (2.0 * tau_std**2)) / tau_max
    return tau.clamp(*_TAU_RANGE)


def warp_lambda(lam: Tensor, tau: Tensor | float) -> Tensor:
    """``lam`` warped by the CDF of Beta(τ, τ): ``I_lam(τ, τ)`` (Bouniot et al., 2023), same dtype.

    ``τ = 1`` is the identity; ``τ > 1`` pushes ``lam`` towards 0 or 1 (less mixing), ``τ < 1`` towards 0.5.
    The regularized incomplete Beta function is a fixed number of continued-fraction steps in float64
    (Lentz's method, on ``min(lam, 1 - lam)`` and the symmetry ``I_x(τ, τ) = 1 - I_{1-x}(τ, τ)``): no
    host sync, no loop over rows.

    Args:
        lam: ``(B,)`` weights in ``[0, 1]``.
        tau: ``(B,)`` or a float, ``> 0`` (clipped to ``[1e-3, 1e4]``).

    Example:
        >>> warp_lambda(torch.tensor([0.2, 0.5, 0.9]), 1.0)
        tensor([0.2000, 0.5000, 0.9000])
        >>> warp_lambda(torch.tensor([0.25]), 2.0)   # Beta(2, 2) CDF: 3x² - 2x³
        tensor([0.1562])
    """
    x = lam.double()
    a = torch.as_tensor(tau, dtype=torch.float64, device=x.device).expand_as(x).clamp(*_TAU_RANGE)
    lo = torch.minimum(x, 1.0 - x).clamp(0.0, 0.5)
    tiny = 1e-300

    def nonzero(t: Tensor) -> Tensor:
        return torch.where(t.abs() < tiny, torch.full_like(t, tiny), t)

    c = torch.ones_like(lo)
    d = 1.0 / nonzero(1.0 - 2.0 * a * lo / (a + 1.0))
    h = d
    for m in range(1, _CF_STEPS + 1):  # the continued fraction's terms, not rows
        even = m * (a - m) * lo / ((a - 1.0 + 2 * m) * (a + 2 * m))
        odd = -(a + m) * (2.0 * a + m) * lo / ((a + 2 * m) * (a + 1.0 + 2 * m))
        for coef in (even, odd):
            d = 1.0 / nonzero(1.0 + coef * d)
            c = nonzero(1.0 + coef / c)
            h = h * d * c
    log_beta = 2.0 * torch.lgamma(a) - torch.lgamma(2.0 * a)
    front = torch.exp(a * torch.log(lo.clamp_min(tiny)) + a * torch.log1p(-lo) - log_beta)
    low_tail = torch.where(lo > 0, front * h / a, torch.zeros_like(lo))
    return torch.where(x <= 0.5, low_tail, 1.0 - low_tail).to(lam.dtype)


def warp_params(params: MixParams, features: Tensor, *, tau_max: float = 1.0, tau_std: float = 0.5) -> MixParams:
    """The same plan with ``lam`` warped by each pair's distance in ``features`` (kernel-warping mixup).

    Partners and every other field are kept; only ``lam`` changes, so inputs, hooked sites and
    targets that use the returned plan all see the warped weight. Identity plans are returned as they are.
    Only interpolation (MixUp) plans can be warped: a plan with a record (a CutMix box, a tabular swap, a
    RandomChoice) or a ``target_lam`` fixes its own weights, and is refused with a :class:`MixupError`.

    Example:
        >>> p = MixParams(lam=torch.tensor([0.3, 0.3]), index=torch.tensor([1, 0]))
        >>> warp_params(p, torch.tensor([[0.0], [1.0]])).lam    # equal distances: τ = 1, unchanged
        tensor([0.3000, 0.3000])
    """
    if not isinstance(params, MixParams):
        raise MixupError(f"warp_params needs a MixParams, got {type(params).__name__}.")
    if not params.mixed:
        return params
    if params.extra is not None or params.target_lam is not None:
        what = f"a {type(params.extra).__name__} record" if params.extra is not None else "a target_lam"
        raise MixupError(f"warp_params warps the lam of interpolation (MixUp) plans, but this plan carries {what}: "
                         "a box, swap or choice fixes its own weights, so warping lam alone would mismatch inputs "
                         "and targets.")
    tau = warp_tau(features, params.index, tau_max=tau_max, tau_std=tau_std)
    return dataclasses.replace(params, lam=warp_lambda(params.lam_rows(), tau.to(params.device)), unmixed_rows=True)
