"""Kernel-warping mixup (Bouniot et al., 2023, "Tailoring mixup to data for calibration"): a plan transform.

:func:`warp_lambda` / :func:`warp_params` push ``lam`` towards 0 or 1 for pairs that are far apart, so far
pairs mix less and close pairs more (the README's FAQ compares it with the modes ``"regmixup"`` and
``"inputs_only"``).

Warping is a plan transform, not a ``mode``: it needs each pair's distance in a feature space (the inputs,
or the model's detached hidden features as in the paper), and which space is meaningful depends on the
model, so no route can choose it for every model. Draw the plan, warp it, hand it back::

    p = warp_params(mixer.sample(x.shape, labels=y), features)   # features: (B, ...), e.g. body(x) detached
    x_mixed, target = mixer(x, y, params=p)                       # or handle.arm(y, params=p) at a hook site
"""

from __future__ import annotations

import dataclasses
import math
from numbers import Real

import torch
from torch import Tensor

from .exceptions import MixupError
from .params import MixParams

__all__ = ["warp_lambda", "warp_params", "warp_tau"]

_CF_STEPS = 100  # continued-fraction steps: |error| < 1e-8 against scipy for τ in [1e-3, 1e4] (tested)
_TAU_RANGE = (1e-3, 1e4)


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
    Computed in float64 by a fixed number of continued-fraction steps (Lentz's method on
    ``min(lam, 1 - lam)``, then ``I_x(τ, τ) = 1 - I_{1-x}(τ, τ)``): no host sync, no loop over rows.

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

    Only ``lam`` changes; an identity plan is returned as it is. A plan with a record (a CutMix box, a swap,
    a choice) or a ``target_lam`` fixes its own weights and is refused with a :class:`MixupError`.

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
