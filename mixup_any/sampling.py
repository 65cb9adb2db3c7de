"""The samplers of a plan: λ (Beta, fixed, uniform, fold) and the partner index (pairings).

Tensors are drawn from a :class:`torch.Generator` on the batch's device (no host-device sync), per-batch
numbers from a host :class:`random.Random`; the global RNG is never touched.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError
from .functional import check_partner_index

__all__: list[str] = []  # internal: the public names are re-exported by the package

PAIRINGS = ("permute", "flip", "roll", "same_class", "different_class", "label_distance")
MIN_CONCENTRATION = 1e-6
BELOW_ONE = 1.0 - 2.0**-24  # the largest float32 below 1
_DIRICHLET_MIN = 0.05  # the smallest concentration a float64 Gamma draw handles
_DIRICHLET_MIN_FLOAT32 = 0.3


def check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    """Raise if ``generator`` cannot draw on ``device`` (a draw there must come from a generator there)."""
    if generator is not None and not same_device(generator.device, device):
        raise MixupError(
            f"The generator is on {generator.device} but the batch is on {device}: draws are made where the "
            f"batch lives, so pass torch.Generator(device={str(device)!r}) (or no generator: the mixer keeps "
            "one per device)."
        )


def canonical_device(device: torch.device | str) -> torch.device:
    """``device`` with its index: ``cuda`` is the current CUDA device (so it compares equal to ``cuda:0``)."""
    device = torch.device(device)
    if device.index is None and device.type not in ("cpu", "meta") and torch.accelerator.is_available():
        return torch.device(device.type, torch.accelerator.current_device_index())
    return device


def same_device(a: torch.device, b: torch.device) -> bool:
    return canonical_device(a) == canonical_device(b)


def _device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device:
    if device is None:
        return generator.device if generator is not None else torch.device("cpu")
    device = torch.device(device)
    check_generator(generator, device)
    return device


def sample_beta(
    n: int, a: float, b: float, *, generator: torch.Generator | None = None, device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """``n`` draws of Beta(a, b) in ``dtype`` (float64 by default), on ``device`` (default: the generator's).

    One Dirichlet draw of ``(a, b)`` per row (``torch.distributions.Beta`` takes no generator). Gamma draws
    underflow below a concentration of 0.05 in float64 (0.3 in float32), so there λ is drawn in float64 and
    rounded, and below 0.05 as ``Gamma(a) = Gamma(a + 1) * U**(1/a)`` in log space, exact down to 1e-6.

    Example:
        >>> lam = sample_beta(1000, 0.4, 0.4, generator=torch.Generator().manual_seed(0))
        >>> bool(((lam >= 0) & (lam <= 1)).all())
        True
    """
    if not (a >= MIN_CONCENTRATION and b >= MIN_CONCENTRATION) or not (math.isfinite(a) and math.isfinite(b)):
        raise MixupError(
            f"Beta(a, b) needs finite a and b of at least {MIN_CONCENTRATION:g}, got a={a!r}, b={b!r}. "
            "Below that a Beta draw is a coin flip on {0, 1} in float64; alpha=0 disables mixing."
        )
    device = _device(generator, device)
    direct = min(a, b) >= (_DIRICHLET_MIN_FLOAT32 if dtype == torch.float32 else _DIRICHLET_MIN)
    if direct or min(a, b) >= _DIRICHLET_MIN:
        conc = torch.full((n, 2), a, dtype=dtype if direct else torch.float64, device=device)
        if b != a:
            conc[:, 1] = b
        out = torch._sample_dirichlet(conc, generator=generator)[:, 0]
        return out if direct else out.to(dtype)
    conc = torch.empty(n, 2, dtype=torch.float64, device=device)
    conc[:, 0], conc[:, 1] = a + 1.0, b + 1.0
    log_gamma = torch._standard_gamma(conc, generator=generator).log()
    log_u = torch.rand(n, 2, dtype=torch.float64, device=device, generator=generator).neg_().log1p_()  # log U, U in (0, 1]
    log_gamma[:, 0] += log_u[:, 0] / a
    log_gamma[:, 1] += log_u[:, 1] / b
    return torch.sigmoid(log_gamma[:, 0] - log_gamma[:, 1]).to(dtype)


def sample_lambda(
    batch_size: int,
    *,
    alpha: float = 1.0,
    beta: float | None = None,
    lam: float | tuple[float, float] | None = None,
    fold: bool = False,
    per_sample: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw ``lam`` of shape ``(B,)``, float32, on ``device`` (default: the generator's).

    Args:
        batch_size: ``B``.
        alpha: first Beta concentration; ``alpha=0`` means no mixing (``lam = 1``).
        beta: second Beta concentration; ``None`` means ``alpha`` (symmetric Beta(α, α)).
        lam: a fixed ``lam`` (float), or ``(low, high)`` for a uniform draw; overrides ``alpha``.
        fold: replace ``lam`` by ``max(lam, 1 - lam)`` so each row's own sample dominates.
        per_sample: one draw per row (``True``) or one per batch repeated ``B`` times.
        generator: source of randomness, on ``device``.
        device: where to draw (the batch's device).

    Example:
        >>> sample_lambda(3, lam=0.25)
        tensor([0.2500, 0.2500, 0.2500])
        >>> sample_lambda(3, alpha=0.0)
        tensor([1., 1., 1.])
    """
    _check_size(batch_size, "batch_size")
    device = _device(generator, device)
    n = batch_size if per_sample else 1
    if lam is not None and not isinstance(lam, (tuple, list)):
        v = float(lam)
        out = torch.full((n,), max(v, 1.0 - v) if fold else v, dtype=torch.float32, device=device)
    elif lam is not None:
        lo, hi = float(lam[0]), float(lam[1])
        out = torch.rand(n, generator=generator, dtype=torch.float64, device=device).mul_(hi - lo).add_(lo)
        out = (torch.maximum(out, 1.0 - out) if fold else out).float()
    elif alpha == 0:
        out = torch.ones(n, dtype=torch.float32, device=device)
    elif alpha == 1 and beta in (None, 1) and not fold:  # Beta(1, 1) is U(0, 1): one kernel, float32, below 1
        out = torch.rand(n, generator=generator, dtype=torch.float32, device=device)
    else:
        out = sample_beta(n, float(alpha), float(alpha if beta is None else beta), generator=generator, device=device,
                          dtype=torch.float32)
        out = torch.maximum(out, 1.0 - out) if fold else out
        # a Beta draw may round to 1.0 in float32; kept below 1, its rows always mix (MixParams.unmixed_rows)
        out = out.clamp_(max=BELOW_ONE)
    return out.expand(batch_size).contiguous() if not per_sample else out


def host_lambda(rng: random.Random, *, alpha: float = 1.0, beta: float | None = None,
                lam: float | tuple[float, float] | None = None, fold: bool = False) -> float:
    """One λ for a whole batch as a Python float from a host generator: what :func:`sample_lambda` draws per
    batch, without a tensor, for concentrations already checked (at least :data:`MIN_CONCENTRATION`).

    Beta is drawn in log space, ``log Gamma(a) = log Gamma(a + 1) + log(U) / a``, so that concentrations
    down to 1e-6 still give 0 or 1 with the right odds instead of underflowing.
    """
    if lam is not None and not isinstance(lam, (tuple, list)):
        v = float(lam)
    elif lam is not None:
        v = float(lam[0]) + (float(lam[1]) - float(lam[0])) * rng.random()
    else:
        a, b = float(alpha), float(alpha if beta is None else beta)
        lx = math.log(rng.gammavariate(a + 1.0, 1.0)) + math.log(1.0 - rng.random()) / a
        ly = math.log(rng.gammavariate(b + 1.0, 1.0)) + math.log(1.0 - rng.random()) / b
        v = 1.0 / (1.0 + math.exp(ly - lx)) if ly - lx < 700 else 0.0
    return max(v, 1.0 - v) if fold else v


def class_ids(labels: Tensor) -> Tensor:
    """Class id per row, ``(B,)``: integer labels as they are, soft/one-hot labels by argmax."""
    if not labels.is_floating_point():
        if labels.ndim != 1:
            raise MixupError(
                f"Class-based pairing needs class indices of shape (B,), got shape {tuple(labels.shape)}."
            )
        return labels.long()
    if labels.ndim == 2 and labels.shape[1] > 0:
        return labels.argmax(-1)
    raise MixupError(
        "Class-based pairing (same_class, different_class, exclude_classes) needs class indices (B,) "
        f"or soft/one-hot targets (B, C) with C >= 1, got a float tensor of shape {tuple(labels.shape)}. "
        "For regression targets use pairing='label_distance'."
    )


def _grouped_order(keys: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
    """A random order of rows keeping equal ``keys`` together, and each position's group ``[start, end)``."""
    shuffle = torch.randperm(keys.shape[0], generator=generator, device=keys.device)
    sorted_keys, in_shuffle = torch.sort(keys[shuffle], stable=True)
    start = torch.searchsorted(sorted_keys, sorted_keys, side="left")
    return shuffle[in_shuffle], start, torch.searchsorted(sorted_keys, sorted_keys, side="right")


def _cycle_within_groups(keys: Tensor, generator: torch.Generator | None) -> Tensor:
    """A permutation pairing every row with another row of the same key (itself if alone)."""
    order, start, end = _grouped_order(keys, generator)
    pos = torch.arange(keys.shape[0], device=keys.device)
    nxt = torch.where(pos + 1 < end, pos + 1, start)
    index = torch.empty_like(order)
    index[order] = order[nxt]
    return index


def _other_group_uniform(keys: Tensor, eligible: Tensor, generator: torch.Generator | None) -> Tensor:
    """For each eligible row, a uniform partner among eligible rows with a different key."""
    n = keys.shape[0]
    # ineligible rows sort after all eligible ones, so eligible rows form a prefix of length m
    big = keys.max() + 1 if n else keys.new_zeros(())
    sort_keys = torch.where(eligible, keys, big + keys)
    order, start, end = _grouped_order(sort_keys, generator)
    m = eligible.sum()
    size = end - start
    choices = (m - size).clamp(min=0)
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=keys.device)
    pick = (u * choices).floor().long().clamp(max=(choices - 1).clamp(min=0))
    pick = torch.where(pick < start, pick, pick + size)
    pos = torch.arange(n, device=keys.device)
    partner_sorted = torch.where(choices > 0, pick, pos)
    index = torch.empty_like(order)
    index[order] = order[partner_sorted]
    return index


def label_distance_partners(y: Tensor, bandwidth: float, generator: torch.Generator | None, *,
                            pool: Tensor | None = None, same: Tensor | None = None) -> Tensor:
    """C-Mixup (Yao et al., 2022): for each row ``i`` of ``y`` ``(B, ...)``, a row ``j`` of ``pool`` ``(N, ...)``
    (default ``y``) drawn with probability ∝ ``exp(-‖y_i - pool_j‖² / 2σ²)``, σ = ``bandwidth``, by Gumbel-max
    over ``(B, N)`` logits with noise from ``generator`` (drawn on its device), never a pair marked in ``same``
    ``(B, N)`` (default: a row itself when ``pool`` is ``y``). Returns ``(B,)`` positions in ``pool``.

    Example:
        >>> y = torch.tensor([[0.0], [0.1], [5.0]])
        >>> label_distance_partners(y, 0.5, torch.Generator().manual_seed(0))[:2].tolist()  # 5.0 is far away
        [1, 0]
    """
    y = y.reshape(y.shape[0], -1).float()
    p = y if pool is None else pool.reshape(pool.shape[0], -1).float()
    logits = -torch.cdist(y, p).pow(2) / (2.0 * bandwidth**2)
    if same is not None:
        logits.masked_fill_(same, float("-inf"))
    elif pool is None and y.shape[0] > 1:
        logits.fill_diagonal_(float("-inf"))
    device = generator.device if generator is not None else y.device
    u = torch.rand(logits.shape, generator=generator, device=device).to(y.device)
    return (logits - torch.log(-torch.log(u.clamp(1e-12, 1.0 - 1e-7)))).argmax(-1)


def _check_size(n: Any, what: str) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise MixupError(f"{what} must be a non-negative int, got {n!r}.")


def sample_index(
    batch_size: int,
    *,
    pairing: str | Callable[..., Tensor] = "permute",
    labels: Tensor | None = None,
    eligible: Tensor | None = None,
    bandwidth: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw the partner ``index`` of shape ``(B,)``: row ``i`` is mixed with ``index[i]``.

    Args:
        batch_size: ``B``; odd sizes and ``B = 1`` work (a lone row pairs with itself).
        pairing: ``"permute"`` (random permutation, default), ``"flip"`` (``i ↔ B-1-i``, as timm),
            ``"roll"`` (``i ↔ i-1``, as torchvision), ``"same_class"``, ``"different_class"``,
            ``"label_distance"`` (C-Mixup, for regression), or a callable
            ``fn(batch_size, *, labels, generator, device) -> index``.
        labels: targets, needed by the class and label-distance pairings.
        eligible: ``(B,)`` bool; ineligible rows pair with themselves and are never chosen as partners.
        bandwidth: σ of the C-Mixup kernel, in label units.
        generator: source of randomness.
        device: where the index lives (the labels' device if given).

    Example:
        >>> sample_index(4, pairing="flip")
        tensor([3, 2, 1, 0])
        >>> sample_index(3, pairing="same_class", labels=torch.tensor([5, 5, 7]),
        ...              generator=torch.Generator().manual_seed(0))
        tensor([1, 0, 2])
    """
    _check_size(batch_size, "batch_size")
    if labels is not None:
        if not isinstance(labels, Tensor) or labels.ndim == 0 or labels.shape[0] != batch_size:
            got = f"shape {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
            raise MixupError(f"labels must be a tensor with {batch_size} rows (batch_size), got {got}.")
        device = labels.device
    device = _device(generator, device)
    if callable(pairing):
        index = pairing(batch_size, labels=labels, generator=generator, device=device)
        if not isinstance(index, Tensor) or index.shape != (batch_size,):
            raise MixupError(
                f"A pairing callable must return an index tensor of shape ({batch_size},), got "
                f"{tuple(index.shape) if isinstance(index, Tensor) else type(index).__name__}."
            )
        index = index.long()
        check_partner_index(index, batch_size)
    elif pairing == "permute":
        index = (torch.randperm(batch_size, generator=generator, device=device) if eligible is None
                 else _cycle_within_groups((~eligible).long(), generator))
    elif pairing == "flip":
        index = torch.arange(batch_size - 1, -1, -1, device=device)
    elif pairing == "roll":
        index = (torch.arange(batch_size, device=device) - 1) % max(batch_size, 1)
    elif pairing not in PAIRINGS:
        raise MixupError(f"Unknown pairing {pairing!r}; expected one of {PAIRINGS} or a callable.")
    elif labels is None:
        raise MixupError(f"pairing={pairing!r} needs the targets: call mixer(x, y) or sample(..., labels=y).")
    elif pairing == "same_class":
        index = _cycle_within_groups(class_ids(labels), generator)
    elif pairing == "different_class":
        cls = class_ids(labels)
        ok = torch.ones_like(cls, dtype=torch.bool) if eligible is None else eligible
        index = _other_group_uniform(cls, ok, generator)
    elif not bandwidth > 0:
        raise MixupError(f"pairing='label_distance' needs bandwidth > 0, got {bandwidth!r}.")
    else:
        index = label_distance_partners(labels, bandwidth, generator)
    if eligible is not None:  # an ineligible row, or one paired with an ineligible row, pairs with itself
        index = torch.where(eligible & eligible[index], index, torch.arange(batch_size, device=index.device))
    return index
