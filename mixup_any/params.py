"""One draw of mixing parameters (:class:`MixParams`) and the samplers that make it.

Convention, fixed for the whole library: ``lam`` is the weight of each row's *own* sample,
``x̃[i] = lam[i] * x[i] + (1 - lam[i]) * x[index[i]]`` (as in timm and torchvision).

All randomness comes from a :class:`torch.Generator` (CPU by default); the global RNG is never
touched. Draws are made where the generator lives and moved to the batch's device, so nothing
here reads a value back from an accelerator (no host-device sync).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError
from .functional import _remember_checked, check_partner_index

__all__ = [
    "MixParams",
    "PAIRINGS",
    "sample_beta",
    "sample_lambda",
    "apply_probability",
    "sample_index",
    "class_ids",
]

PAIRINGS = ("permute", "flip", "roll", "same_class", "different_class", "label_distance")
PairingFn = Callable[..., Tensor]


@dataclass(frozen=True)
class MixParams:
    """One draw of mixing parameters, shared by every site of a batch.

    ``x̃[i] = lam[i] * x[i] + (1 - lam[i]) * x[index[i]]``: ``lam`` weighs the row's own sample.

    Attributes:
        lam: ``(B,)`` float32 weight of each row's own sample, in ``[0, 1]``; a per-batch draw
            is one value repeated, so every consumer handles one shape.
        index: ``(B,)`` int64; row ``i`` is mixed with row ``index[i]``.
        extras: mixer-specific draws, e.g. ``{"box": (B, 4) tensor}`` for CutMix.
        site: name of the site that mixes (hooks), or ``None`` for the input.
        mixed: ``False`` when the plan is known to be the identity (eval mode, ``alpha=0``,
            ``p=0``, schedule off); mixers then return their input untouched.

    Example:
        >>> p = MixParams(lam=torch.tensor([0.7, 1.0]), index=torch.tensor([1, 0]))
        >>> p.mix(torch.tensor([[10.0], [20.0]]))
        tensor([[13.],
                [20.]])
    """

    lam: Tensor
    index: Tensor
    extras: Mapping[str, Any] = field(default_factory=dict)
    site: str | None = None
    mixed: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.lam, Tensor) or not isinstance(self.index, Tensor):
            raise MixupError(
                f"MixParams needs tensors for lam and index, got {type(self.lam).__name__} and "
                f"{type(self.index).__name__}."
            )
        if self.lam.ndim != 1 or self.index.shape != self.lam.shape:
            raise MixupError(
                f"MixParams needs lam and index of the same shape (B,), got lam {tuple(self.lam.shape)} "
                f"and index {tuple(self.index.shape)}."
            )
        if not self.lam.is_floating_point():
            raise MixupError(f"MixParams.lam must be a float tensor, got {self.lam.dtype}.")
        if self.index.dtype not in (torch.int64, torch.int32):
            raise MixupError(f"MixParams.index must be an integer tensor, got {self.index.dtype}.")

    @property
    def batch_size(self) -> int:
        return self.lam.shape[0]

    @property
    def device(self) -> torch.device:
        return self.lam.device

    @classmethod
    def identity(cls, batch_size: int, device: torch.device | str | None = None) -> MixParams:
        """The plan that mixes nothing: ``lam = 1`` and every row paired with itself."""
        return cls(
            lam=torch.ones(batch_size, device=device),
            index=torch.arange(batch_size, device=device),
            mixed=False,
        )

    def mix(self, x: Tensor, *, out: Tensor | None = None, inplace: bool = False) -> Tensor:
        """Mix ``x`` of shape ``(B, ...)`` with this plan (see :func:`mixup_any.functional.mix`)."""
        from .functional import mix

        if not self.mixed:
            return x
        return mix(x, self.lam, self.index, out=out, inplace=inplace)

    def at_site(self, site: str | None) -> MixParams:
        """This plan labelled with ``site`` (a copy; the tensors are shared, not re-validated)."""
        if site == self.site:
            return self
        out = copy.copy(self)
        object.__setattr__(out, "site", site)  # frozen dataclass: fields are set through object
        return out

    def to(self, device: torch.device | str) -> MixParams:
        """This plan on ``device`` (extras that are tensors move too)."""
        extras = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.extras.items()}
        return replace(self, lam=self.lam.to(device), index=self.index.to(device), extras=extras)

    def state_dict(self) -> dict[str, Any]:
        """A plain dict (CPU tensors) for logging or saving; :meth:`from_state_dict` replays it."""
        extras = {k: v.detach().cpu() if isinstance(v, Tensor) else v for k, v in self.extras.items()}
        return {
            "lam": self.lam.detach().cpu(),
            "index": self.index.detach().cpu(),
            "extras": extras,
            "site": self.site,
            "mixed": self.mixed,
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], device: torch.device | str | None = None) -> MixParams:
        p = cls(
            lam=state["lam"],
            index=state["index"],
            extras=dict(state.get("extras", {})),
            site=state.get("site"),
            mixed=state.get("mixed", True),
        )
        return p.to(device) if device is not None else p

    def __repr__(self) -> str:  # readable in logs; a repr is not on the per-batch path
        lam = self.lam.detach().float().cpu()
        if lam.numel() and bool((lam == lam[0]).all()):
            lam_s = f"{lam[0].item():.4f} (per batch)"
        else:
            lam_s = "[" + ", ".join(f"{v:.3f}" for v in lam[:8].tolist()) + (", ...]" if lam.numel() > 8 else "]")
        idx = self.index.detach().cpu().tolist()
        idx_s = str(idx[:8])[:-1] + (", ...]" if len(idx) > 8 else "]")
        extras = f", extras={sorted(self.extras)}" if self.extras else ""
        site = f", site={self.site!r}" if self.site is not None else ""
        return f"MixParams(B={self.batch_size}, lam={lam_s}, index={idx_s}{extras}{site}, mixed={self.mixed})"


# --------------------------------------------------------------------------------------------
# lambda
# --------------------------------------------------------------------------------------------


def _log_gamma(n: int, shape: float, generator: torch.Generator | None) -> Tensor:
    """``log`` of ``n`` Gamma(shape, 1) draws, float64, from ``generator`` only.

    ``torch.distributions.Beta`` accepts no generator, so this is Marsaglia and Tsang's
    rejection sampler, vectorized; for ``shape < 1`` it uses ``G(a) = G(a + 1) * U**(1/a)``
    in log space, so tiny alphas never underflow to ``0/0``.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    boost = shape < 1.0
    a = shape + 1.0 if boost else shape
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    parts: list[Tensor] = []
    have = 0
    while have < n:
        m = max(2 * (n - have), 16)  # acceptance is > 95%, so one round almost always suffices
        z = torch.randn(m, generator=generator, dtype=torch.float64, device=device)
        u = torch.rand(m, generator=generator, dtype=torch.float64, device=device)
        v = (1.0 + c * z) ** 3
        pos = v > 0
        logv = torch.log(torch.where(pos, v, torch.ones_like(v)))
        ok = pos & (torch.log(u) < 0.5 * z * z + d - d * v + d * logv)
        acc = math.log(d) + logv[ok]
        parts.append(acc)
        have += acc.numel()
    out = torch.cat(parts)[:n]
    if boost:
        u = 1.0 - torch.rand(n, generator=generator, dtype=torch.float64, device=device)  # in (0, 1]
        out = out + torch.log(u) / shape
    return out


def sample_beta(n: int, a: float, b: float, *, generator: torch.Generator | None = None) -> Tensor:
    """``n`` draws of Beta(a, b) as a float64 tensor on the generator's device.

    Symmetric Beta(α, α) on the CPU, what mixup draws, comes from uniforms only (see
    :func:`_sample_symmetric_beta`), several times cheaper than a pair of gamma draws; other cases use
    ATen's Dirichlet sampler, or a pure-torch gamma sampler if that private op is missing.

    Example:
        >>> lam = sample_beta(1000, 0.4, 0.4, generator=torch.Generator().manual_seed(0))
        >>> bool(((lam >= 0) & (lam <= 1)).all())
        True
    """
    _check_beta(a, b)
    device = generator.device if generator is not None else torch.device("cpu")
    if a == b and device.type == "cpu":
        return _sample_symmetric_beta(n, float(a), generator)
    try:
        # Beta(a, b) is the first coordinate of Dirichlet(a, b); ATen's sampler takes a generator
        # (torch.distributions.Beta does not) and is ~25x cheaper than the pure-torch fallback.
        conc = torch.tensor([[a, b]], dtype=torch.float64, device=device).expand(n, 2)
        lam = torch._sample_dirichlet(conc, generator=generator)[:, 0]
        if device.type != "cpu" or not torch.isnan(lam).any():  # the NaN check would sync an accelerator
            return lam
    except (AttributeError, TypeError, RuntimeError):  # private op missing or changed: use the fallback
        pass
    return _sample_beta_fallback(n, a, b, generator)


def _check_beta(a: float, b: float) -> None:
    if not (a > 0 and b > 0) or not (math.isfinite(a) and math.isfinite(b)):
        raise MixupError(f"Beta(a, b) needs finite a > 0 and b > 0, got a={a!r}, b={b!r}.")


def _sample_symmetric_beta(n: int, a: float, generator: torch.Generator | None) -> Tensor:
    """``n`` exact Beta(a, a) draws (float64, CPU) from uniforms, without gamma variates.

    * ``a >= 1/2``: Ulrich's polar method (Ulrich 1984; Devroye 1986, IX.4):
      ``1/2 + 1/2 * sqrt(1 - U**(2 / (2a - 1))) * cos(2 pi V)``; ``a = 1/2`` is ``cos(pi V)**2`` and
      ``a = 1`` is simply ``U``.
    * ``a < 1/2``: Jöhnk's rejection method in log space: ``X = U**(1/a)``, ``Y = V**(1/a)``, kept when
      ``X + Y <= 1``, giving ``X / (X + Y)``; at least 78% of the pairs are kept.

    The rejection step compacts the accepted draws, a host-side step, hence CPU only.
    """
    if n == 0:
        return torch.empty(0, dtype=torch.float64)
    if a == 1.0:
        return torch.rand(n, generator=generator, dtype=torch.float64)
    if n == 1:  # one draw per batch, the common case: the same methods on Python floats, a few µs
        return torch.tensor([_symmetric_beta_scalar(a, generator)], dtype=torch.float64)
    if a >= 0.5:
        u = torch.rand(2, n, generator=generator, dtype=torch.float64)
        angle = u[1].mul_(2.0 * math.pi).cos_()
        if a == 0.5:
            return angle.mul_(0.5).add_(0.5)
        # sqrt(1 - U**p) with p = 2 / (2a - 1), as -expm1(p * log U) to stay exact when U**p is near 1
        radius = u[0].log_().mul_(2.0 / (2.0 * a - 1.0)).expm1_().neg_().sqrt_()
        return radius.mul_(angle).mul_(0.5).add_(0.5)
    accept = math.exp(2.0 * math.lgamma(a + 1.0) - math.lgamma(2.0 * a + 1.0))  # P(X + Y <= 1)
    parts: list[Tensor] = []
    have = 0
    while have < n:
        need = n - have
        m = int(need / accept + 3.0 * math.sqrt(need) + 8)  # enough pairs for one round almost always
        logu = torch.rand(2, m, generator=generator, dtype=torch.float64).neg_().log1p_()  # log U, log V
        logs = logu / a  # log X, log Y: -inf for vanishing a, hence the ratio from log U - log V below
        kept = torch.logaddexp(logs[0], logs[1]) <= 0.0
        draws = torch.sigmoid((logu[0] - logu[1]).div_(a))[kept]  # X / (X + Y); a coin on {0, 1} as a -> 0
        parts.append(draws)
        have += draws.shape[0]
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out[:n]


def _symmetric_beta_scalar(a: float, generator: torch.Generator | None) -> float:
    """One Beta(a, a) draw by the methods of :func:`_sample_symmetric_beta`, from ``generator``'s uniforms."""
    if a == 1.0:  # a uniform: one draw, as the vectorized path
        return torch.rand(1, generator=generator, dtype=torch.float64).tolist()[0]
    while True:
        u, v = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        if a >= 0.5:
            angle = math.cos(2.0 * math.pi * v)
            if a == 0.5 or u == 0.0:  # u = 0: U**p = 0 (log would raise)
                return 0.5 + 0.5 * angle
            return 0.5 + 0.5 * math.sqrt(-math.expm1(math.log(u) * (2.0 / (2.0 * a - 1.0)))) * angle
        log_u, log_v = math.log1p(-u), math.log1p(-v)
        if math.exp(log_u / a) + math.exp(log_v / a) <= 1.0:  # X + Y <= 1 (division may give -inf: exp -> 0)
            d = (log_u - log_v) / a  # X / (X + Y) = sigmoid(d), evaluated without overflow
            if d >= 0:
                return 1.0 / (1.0 + math.exp(-d))
            e = math.exp(d)
            return e / (1.0 + e)


def _sample_beta_fallback(n: int, a: float, b: float, generator: torch.Generator | None) -> Tensor:
    """Beta draws from two log-gamma draws (Marsaglia and Tsang), in pure torch with ``generator``."""
    diff = _log_gamma(n, a, generator) - _log_gamma(n, b, generator)
    lam = torch.sigmoid(diff)
    # For vanishing concentrations both log-gammas can be -inf (the Beta is then a coin on {0, 1}).
    coin = torch.rand(n, generator=generator, dtype=torch.float64, device=diff.device) < a / (a + b)
    return torch.where(torch.isnan(diff), coin.double(), lam)


def sample_lambda(
    batch_size: int,
    *,
    alpha: float = 1.0,
    beta: float | None = None,
    lam: float | tuple[float, float] | None = None,
    fold: bool = False,
    per_sample: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw ``lam`` of shape ``(B,)`` (float32, on the generator's device).

    Args:
        batch_size: ``B``.
        alpha: first Beta concentration; ``alpha=0`` means no mixing (``lam = 1``).
        beta: second Beta concentration; ``None`` means ``alpha`` (symmetric Beta(α, α)).
            ``beta=1`` gives Beta(α, 1).
        lam: a fixed ``lam`` (float), or ``(low, high)`` for a uniform draw; overrides ``alpha``.
        fold: replace ``lam`` by ``max(lam, 1 - lam)`` so each row's own sample dominates.
        per_sample: one draw per row (``True``) or one per batch repeated ``B`` times.
        generator: source of randomness.

    Example:
        >>> sample_lambda(3, lam=0.25)
        tensor([0.2500, 0.2500, 0.2500])
        >>> sample_lambda(3, alpha=0.0)
        tensor([1., 1., 1.])
    """
    _check_size(batch_size, "batch_size")
    device = generator.device if generator is not None else torch.device("cpu")
    n = batch_size if per_sample else 1
    if lam is not None:
        if isinstance(lam, (tuple, list)):
            lo, hi = float(lam[0]), float(lam[1])
            out = lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64, device=device)
        else:
            out = torch.full((n,), float(lam), dtype=torch.float64, device=device)
    elif alpha == 0:
        out = torch.ones(n, dtype=torch.float64, device=device)
    elif not per_sample and device.type == "cpu" and (beta is None or beta == alpha):
        # one symmetric draw on the CPU: a Python float, then a single fill (every extra small op counts
        # in a training step, where it runs with cold caches)
        _check_beta(float(alpha), float(alpha))
        value = _symmetric_beta_scalar(float(alpha), generator)
        if fold:
            value = max(value, 1.0 - value)
        return torch.full((batch_size,), value, dtype=torch.float32)
    elif per_sample and alpha == 1 and (beta is None or beta == 1):
        # Beta(1, 1) is uniform: float32 uniforms directly (λ is float32 anyway), one op; per-sample λ on a
        # small table otherwise costs a float64 draw and a cast on top of a mix of a few hundred µs
        out = torch.rand(n, generator=generator, device=device)
    else:
        out = sample_beta(n, float(alpha), float(alpha if beta is None else beta), generator=generator)
    if fold:
        out = torch.maximum(out, 1.0 - out)
    out = out.float()
    return out if per_sample else out.expand(batch_size).clone()


def apply_probability(
    lam: Tensor, p: float, *, per_sample: bool = False, generator: torch.Generator | None = None
) -> Tensor:
    """Set ``lam = 1`` (no mixing) for rows, or the whole batch, not selected with probability ``p``.

    Example:
        >>> apply_probability(torch.tensor([0.3, 0.6]), 0.0)
        tensor([1., 1.])
    """
    if p >= 1.0:
        return lam
    if p <= 0.0:
        return torch.ones_like(lam)
    n = lam.shape[0] if per_sample else 1
    keep = torch.rand(n, generator=generator, device=lam.device) < p
    return torch.where(keep, lam, torch.ones_like(lam))


# --------------------------------------------------------------------------------------------
# pairing
# --------------------------------------------------------------------------------------------


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


def _group_bounds(sorted_keys: Tensor) -> tuple[Tensor, Tensor]:
    """For keys sorted ascending, each position's group ``[start, end)`` (no host sync)."""
    n = sorted_keys.shape[0]
    pos = torch.arange(n, device=sorted_keys.device)
    first = torch.ones(n, dtype=torch.bool, device=sorted_keys.device)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    start = torch.where(first, pos, torch.zeros_like(pos)).cummax(0).values
    last = torch.ones(n, dtype=torch.bool, device=sorted_keys.device)
    last[:-1] = first[1:]
    end_here = torch.where(last, pos + 1, torch.full_like(pos, n))
    end = torch.flip(torch.cummin(torch.flip(end_here, [0]), 0).values, [0])
    return start, end


def _sort_by_group(keys: Tensor, generator: torch.Generator | None) -> Tensor:
    """A random order of rows that keeps rows with equal ``keys`` contiguous."""
    shuffle = torch.randperm(keys.shape[0], generator=generator, device=_gen_device(generator)).to(keys.device)
    order_in_shuffle = torch.sort(keys[shuffle], stable=True).indices
    return shuffle[order_in_shuffle]


def _cycle_within_groups(keys: Tensor, generator: torch.Generator | None) -> Tensor:
    """A permutation pairing every row with another row of the same key (itself if alone)."""
    order = _sort_by_group(keys, generator)
    start, end = _group_bounds(keys[order])
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
    order = _sort_by_group(sort_keys, generator)
    start, end = _group_bounds(sort_keys[order])
    m = eligible.sum()
    size = end - start
    choices = (m - size).clamp(min=0)
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=_gen_device(generator)).to(keys.device)
    pick = (u * choices).floor().long().clamp(max=(choices - 1).clamp(min=0))
    pick = torch.where(pick < start, pick, pick + size)
    pos = torch.arange(n, device=keys.device)
    partner_sorted = torch.where(choices > 0, pick, pos)
    index = torch.empty_like(order)
    index[order] = order[partner_sorted]
    return index


def _label_distance(labels: Tensor, bandwidth: float, generator: torch.Generator | None) -> Tensor:
    """C-Mixup (Yao et al., 2022): partner ``j`` drawn with probability ∝ exp(-‖y_i - y_j‖² / 2σ²)."""
    if not labels.is_floating_point():
        labels = labels.float()
    y = labels.reshape(labels.shape[0], -1).float()
    n = y.shape[0]
    d2 = torch.cdist(y, y).pow(2)
    logits = -d2 / (2.0 * bandwidth**2)
    if n > 1:
        logits.fill_diagonal_(float("-inf"))
    u = torch.rand(n, n, generator=generator, device=_gen_device(generator)).to(y.device)
    gumbel = -torch.log(-torch.log(u.clamp(1e-12, 1.0 - 1e-7)))
    return (logits + gumbel).argmax(-1)


def _check_size(n: Any, what: str) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise MixupError(f"{what} must be a non-negative int, got {n!r}.")


def _gen_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def sample_index(
    batch_size: int,
    *,
    pairing: str | PairingFn = "permute",
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
    device = torch.device(device) if device is not None else torch.device("cpu")
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
        if eligible is None:
            index = torch.randperm(batch_size, generator=generator, device=_gen_device(generator)).to(device)
        else:
            index = _cycle_within_groups((~eligible).long(), generator)
    elif pairing == "flip":
        index = torch.arange(batch_size - 1, -1, -1, device=device)
    elif pairing == "roll":
        index = (torch.arange(batch_size, device=device) - 1) % max(batch_size, 1)
    elif pairing in ("same_class", "different_class"):
        if labels is None:
            raise MixupError(f"pairing={pairing!r} needs the targets: call mixer(x, y) or sample(..., labels=y).")
        cls = class_ids(labels)
        if pairing == "same_class":
            index = _cycle_within_groups(cls, generator)
        else:
            elig = eligible if eligible is not None else torch.ones_like(cls, dtype=torch.bool)
            index = _other_group_uniform(cls, elig, generator)
    elif pairing == "label_distance":
        if labels is None:
            raise MixupError("pairing='label_distance' needs the targets: call mixer(x, y).")
        if not (bandwidth > 0):
            raise MixupError(f"pairing='label_distance' needs bandwidth > 0, got {bandwidth!r}.")
        index = _label_distance(labels, bandwidth, generator)
    else:
        raise MixupError(f"Unknown pairing {pairing!r}; expected one of {PAIRINGS} or a callable.")
    if eligible is not None:
        rows = torch.arange(batch_size, device=index.device)
        ok = eligible.to(index.device) & eligible.to(index.device)[index]
        index = torch.where(ok, index, rows)
    if not torch.compiler.is_compiling():
        _remember_checked(index, batch_size)  # drawn here, valid by construction: mix() need not re-check it
    return index


def check_pairing(pairing: Any) -> None:
    """Raise :class:`MixupError` early for an unknown pairing name."""
    if not callable(pairing) and pairing not in PAIRINGS:
        raise MixupError(f"Unknown pairing {pairing!r}; expected one of {PAIRINGS} or a callable.")

