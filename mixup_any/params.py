"""One draw of mixing parameters (:class:`MixParams`), shared by every site of a batch.

Convention, fixed for the whole library: ``lam`` is the weight of each row's *own* sample,
``x̃[i] = lam[i] * x[i] + (1 - lam[i]) * x[index[i]]`` (as in timm and torchvision). The plan is
closed: what a mixer draws beyond λ and partners is one typed record in ``extra`` (:class:`Box`,
:class:`Choice`, :class:`Swap`), and a plan is applied by the mixer that understands it,
``mixer.mix(x, plan)``. The samplers that draw a plan are in :mod:`mixup_any.sampling` and
:mod:`mixup_any.policies`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError

__all__ = ["Box", "Choice", "MixParams", "Swap"]


@dataclass(frozen=True)
class Box:
    """A CutMix box (images) or segment (sequences): one for the whole batch, or one per row.

    Attributes:
        bounds: ``(start_0, end_0, start_1, end_1, ...)`` along the ``k`` cut axes: a tuple of ``2k``
            Python ints (one box for every row of the batch) or a ``(B, 2k)`` int64 tensor (a box per
            row); an empty box (``start == end``) leaves its row unchanged.
        size: the extent of the ``k`` cut axes the boxes were drawn for, e.g. ``(H, W)``: a box is in
            pixels of that shape, so it is applied only to tensors of that extent.
    """

    bounds: tuple[int, ...] | Tensor
    size: tuple[int, ...]

    def __post_init__(self) -> None:
        size = tuple(self.size) if isinstance(self.size, (tuple, list)) else self.size
        if not isinstance(size, tuple) or not size or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in size):
            raise MixupError(f"Box.size must be the extent of the cut axes, a tuple of positive ints such as "
                             f"(H, W), got {self.size!r}.")
        object.__setattr__(self, "size", size)
        b = self.bounds
        if isinstance(b, (tuple, list)):
            if len(b) != 2 * len(size) or not all(isinstance(v, int) and not isinstance(v, bool) for v in b) or any(
                    not 0 <= b[2 * d] <= b[2 * d + 1] <= n for d, n in enumerate(size)):
                raise MixupError(f"A batch's Box.bounds must be {2 * len(size)} ints (start <= end within the size "
                                 f"{size} of each cut axis), got {b!r}.")
            object.__setattr__(self, "bounds", tuple(b))
        elif not isinstance(b, Tensor) or b.is_floating_point() or b.is_complex() or b.dtype == torch.bool or (
                b.ndim != 2 or b.shape[1] != 2 * len(size)):
            got = f"{b.dtype} of shape {tuple(b.shape)}" if isinstance(b, Tensor) else type(b).__name__
            raise MixupError(f"Box.bounds must be {2 * len(size)} ints or an integer tensor of shape (B, "
                             f"{2 * len(size)}) (start, end per cut axis of size {size}), got {got}.")

    @property
    def per_row(self) -> bool:
        """Whether each row has its own box (``bounds`` is a tensor)."""
        return isinstance(self.bounds, Tensor)

    def rows(self, batch_size: int, device: torch.device | str | None = None) -> Tensor:
        """``(B, 2k)`` int64 bounds of every row: a per-row tensor as it is, one batch box repeated.

        The repeated box is filled on ``device`` from Python ints, so no host-to-device copy is made.
        """
        if isinstance(self.bounds, Tensor):
            return self.bounds
        out = torch.empty(batch_size, len(self.bounds), dtype=torch.int64, device=device)
        for j, v in enumerate(self.bounds):
            out[:, j] = v
        return out

    def check_fits(self, sizes: Sequence[int], who: str) -> None:
        """Raise a :class:`MixupError` when the cut axes of a tensor have ``sizes`` other than :attr:`size`."""
        if tuple(int(n) for n in sizes) != self.size:
            raise MixupError(
                f"{who}: this box was drawn for {'x'.join(map(str, self.size))} but the tensor is "
                f"{'x'.join(map(str, sizes))} along its cut axes: draw the plan from this tensor's shape "
                "(mixer.sample(x.shape))."
            )


@dataclass(frozen=True)
class Swap:
    """Tabular feature swap: row ``i`` takes its partner's category where ``mask[i, j]`` is true.

    Attributes:
        mask: ``(B, K)`` bool, one entry per categorical variable.
    """

    mask: Tensor

    def __post_init__(self) -> None:
        m = self.mask
        if not isinstance(m, Tensor) or m.dtype != torch.bool or m.ndim != 2:
            got = f"{m.dtype} of shape {tuple(m.shape)}" if isinstance(m, Tensor) else type(m).__name__
            raise MixupError(f"Swap.mask must be a bool tensor of shape (B, K), one entry per categorical "
                             f"variable, got {got}.")


@dataclass(frozen=True)
class Choice:
    """Which member of a :class:`~mixup_any.RandomChoice` mixed.

    Attributes:
        member: the member's position: an ``int`` for the whole batch, or ``(B,)`` int64 per row.
        inner: the chosen member's own record (per batch), or the rows' boxes (per row); ``None`` if
            the member draws only λ and partners.
    """

    member: int | Tensor
    inner: Extra | None = None

    def __post_init__(self) -> None:
        m = self.member
        if isinstance(m, Tensor):
            if m.ndim != 1 or m.dtype not in (torch.int64, torch.int32):
                raise MixupError(f"Choice.member must be an int or an integer tensor of shape (B,), got {m.dtype} "
                                 f"of shape {tuple(m.shape)}.")
            if self.inner is not None and not isinstance(self.inner, Box):
                raise MixupError(f"A per-row Choice carries the rows' boxes (a Box) or None, got "
                                 f"{type(self.inner).__name__}.")
        elif not isinstance(m, int) or isinstance(m, bool):
            raise MixupError(f"Choice.member must be an int or an integer tensor of shape (B,), got {m!r}.")
        if self.inner is not None and not isinstance(self.inner, Extra):
            raise MixupError(f"Choice.inner must be a Box, Choice, Swap or None, got {type(self.inner).__name__}.")


Extra = Box | Choice | Swap
_RECORDS: dict[str, type] = {kind.__name__: kind for kind in (Box, Choice, Swap)}


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.init}


def _check_record(extra: Any, batch_size: int) -> None:
    """Raise a :class:`MixupError` unless ``extra`` is a record (or ``None``) with ``batch_size`` rows."""
    if extra is None:
        return
    if not isinstance(extra, Extra):
        raise MixupError(f"MixParams.extra must be a Box, Choice, Swap or None, got {type(extra).__name__}.")
    for name, v in _fields(extra).items():
        if isinstance(v, Extra):
            _check_record(v, batch_size)
        elif isinstance(v, Tensor) and v.shape[0] != batch_size:
            raise MixupError(f"The plan is for {batch_size} rows (lam and index), but its "
                             f"{type(extra).__name__}.{name} has {v.shape[0]} rows.")


def map_extra(extra: Extra | None, fn: Callable[[Tensor], Tensor]) -> Extra | None:
    """``extra`` with ``fn`` applied to each of its tensors (nested records included)."""
    if extra is None:
        return None
    changes: dict[str, Any] = {k: map_extra(v, fn) if isinstance(v, Extra) else fn(v)
                               for k, v in _fields(extra).items() if isinstance(v, Tensor | Extra)}
    return replace(extra, **changes)


def _extra_state(extra: Extra | None) -> dict[str, Any] | None:
    if extra is None:
        return None
    return {"type": type(extra).__name__,
            **{k: _extra_state(v) if isinstance(v, Extra) else v for k, v in _fields(extra).items()}}


def _extra_from_state(state: Mapping[str, Any] | None) -> Extra | None:
    if state is None:
        return None
    kind = _RECORDS.get(state.get("type", ""))
    if kind is None:
        raise MixupError(f"Unknown plan record {state.get('type')!r}; expected one of {sorted(_RECORDS)}.")
    fields = {k: _extra_from_state(v) if isinstance(v, Mapping) else v for k, v in state.items() if k != "type"}
    try:
        return kind(**fields)  # type: ignore[no-any-return]
    except TypeError as err:  # a field missing or unknown
        expected = [f.name for f in dataclasses.fields(kind)]
        raise MixupError(f"A saved {state['type']} record has fields {sorted(fields)}; expected {expected}.") from err


@dataclass(frozen=True)
class MixParams:
    """One draw of mixing parameters, shared by every site of a batch.

    ``x̃[i] = lam[i] * x[i] + (1 - lam[i]) * x[index[i]]``: ``lam`` weighs the row's own sample.
    What is decided once per batch is a Python number; what differs per row is a tensor on the batch's
    device.

    Attributes:
        lam: weight of each row's own inputs, in ``[0, 1]``: a Python float (one λ for the batch) or a
            ``(B,)`` float32 tensor (one per row). :meth:`lam_rows` gives the ``(B,)`` tensor either way.
        index: ``(B,)`` int64; row ``i`` is mixed with row ``index[i]``.
        target_lam: weight of each row's own target where it differs from ``lam`` (the tabular swap
            policy), a float or a ``(B,)`` tensor; ``None`` means ``lam``.
        extra: what the mixer drew beyond λ and partners: a :class:`Box`, :class:`Choice` or
            :class:`Swap`, or ``None``.
        site: name of the site that mixes (hooks), or ``None`` for the input.
        mixed: ``False`` when the plan is known to be the identity (eval mode, ``alpha=0``,
            ``p=0``, schedule off); mixers then return their input untouched.
        unmixed_rows: whether a per-row ``lam`` may leave rows unmixed (``lam = 1``: per-row ``p``, excluded
            classes, plans built by hand); :class:`~mixup_any.MixUp` then copies those rows exactly, also
            next to partners holding inf or NaN (one more pass). Mixers set it ``False`` for per-row Beta draws,
            which they keep below 1. ``dataclasses.replace(p, lam=...)`` keeps it: pass ``unmixed_rows=True``
            when the new ``lam`` may hold 1.
        permutation: ``index`` itself when the mixer drew it as a permutation of the rows (``"permute"``,
            ``"flip"``), else ``None`` (read-only: set by the mixer, not saved, dropped by
            ``dataclasses.replace``); a per-batch mix of at least ``2**16`` elements then differentiates
            with a gather, not a scatter.

    Example:
        >>> from mixup_any import MixUp
        >>> p = MixParams(lam=torch.tensor([0.7, 1.0]), index=torch.tensor([1, 0]))
        >>> MixUp().mix(torch.tensor([[10.0], [20.0]]), p)
        tensor([[13.],
                [20.]])
    """

    lam: float | Tensor
    index: Tensor
    target_lam: float | Tensor | None = None
    extra: Extra | None = None
    site: str | None = None
    mixed: bool = True
    unmixed_rows: bool = True
    permutation: Tensor | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.index, Tensor) or self.index.ndim != 1 or self.index.dtype not in (torch.int64,
                                                                                                   torch.int32):
            got = f"{self.index.dtype} of shape {tuple(self.index.shape)}" if isinstance(self.index, Tensor) else (
                type(self.index).__name__)
            raise MixupError(f"MixParams.index must be an integer tensor of shape (B,), got {got}.")
        for name in ("lam", "target_lam"):
            v = getattr(self, name)
            if v is None and name == "target_lam":
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if not 0.0 <= v <= 1.0:
                    raise MixupError(f"MixParams.{name} must be in [0, 1], got {v!r}.")
                object.__setattr__(self, name, float(v))
            elif not isinstance(v, Tensor) or v.shape != self.index.shape or not v.is_floating_point():
                got = f"{v.dtype} of shape {tuple(v.shape)}" if isinstance(v, Tensor) else type(v).__name__
                raise MixupError(f"MixParams.{name} must be a float in [0, 1] or a float tensor shaped like index "
                                 f"{tuple(self.index.shape)}, got {got}.")
        _check_record(self.extra, self.index.shape[0])

    @property
    def batch_size(self) -> int:
        return self.index.shape[0]

    @property
    def device(self) -> torch.device:
        return self.index.device

    def lam_rows(self) -> Tensor:
        """``(B,)`` float32 λ of every row on the plan's device (a per-batch λ repeated)."""
        return _rows(self.lam, self.index)

    def target_rows(self) -> Tensor:
        """``(B,)`` float32 weight of each row's own target (``target_lam`` where set, else λ)."""
        return _rows(self.target_weight, self.index)

    @property
    def target_weight(self) -> float | Tensor:
        """Weight of each row's own target: ``target_lam`` where set, else ``lam``."""
        return self.lam if self.target_lam is None else self.target_lam

    @classmethod
    def identity(cls, batch_size: int, device: torch.device | str | None = None) -> MixParams:
        """The plan that mixes nothing: ``lam = 1`` and every row paired with itself."""
        return cls(lam=1.0, index=torch.arange(batch_size, device=device), mixed=False)

    def at_site(self, site: str | None) -> MixParams:
        """This plan labelled with ``site`` (a copy; the tensors are shared)."""
        return self if site == self.site else self._same_partners(replace(self, site=site))

    def to(self, device: torch.device | str) -> MixParams:
        """This plan on ``device`` (the record's tensors move too; Python numbers stay as they are)."""
        def move(v: Any) -> Any:
            return v.to(device) if isinstance(v, Tensor) else v
        moved = replace(self, lam=move(self.lam), index=self.index.to(device),
                        target_lam=move(self.target_lam), extra=map_extra(self.extra, lambda t: t.to(device)))
        return self._same_partners(moved)

    def _same_partners(self, new: MixParams) -> MixParams:
        """``new``, this plan moved or relabelled (the same partners), recorded as a permutation if this one is."""
        return new._drawn_as_permutation() if self.permutation is self.index else new

    def _drawn_as_permutation(self) -> MixParams:
        """This plan, its ``index`` recorded as a permutation (the mixers that draw one call it)."""
        object.__setattr__(self, "permutation", self.index)  # a frozen field, set once by its own class
        return self

    def state_dict(self) -> dict[str, Any]:
        """A plain dict (CPU tensors and Python numbers) for logging or saving; :meth:`from_state_dict` replays it."""
        cpu = self.to("cpu")
        state = {k: v.detach() if isinstance(v, Tensor) else v for k, v in _fields(cpu).items()}
        return {**state, "extra": _extra_state(cpu.extra)}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], device: torch.device | str | None = None) -> MixParams:
        p = cls(
            lam=state["lam"],
            index=state["index"],
            target_lam=state.get("target_lam"),
            extra=_extra_from_state(state.get("extra")),
            site=state.get("site"),
            mixed=state.get("mixed", True),
            unmixed_rows=state.get("unmixed_rows", True),
        )
        return p.to(device) if device is not None else p

    def __repr__(self) -> str:  # readable in logs; a repr is not on the per-batch path
        if isinstance(self.lam, float):
            lam_s = f"{self.lam:.4f} (per batch)"
        else:
            lam = self.lam.detach().float().cpu()
            lam_s = "[" + ", ".join(f"{v:.3f}" for v in lam[:8].tolist()) + (", ...]" if lam.numel() > 8 else "]")
        idx = self.index.detach().cpu().tolist()
        idx_s = str(idx[:8])[:-1] + (", ...]" if len(idx) > 8 else "]")
        extra = f", extra={type(self.extra).__name__}" if self.extra is not None else ""
        tl = ", target_lam=..." if self.target_lam is not None else ""
        site = f", site={self.site!r}" if self.site is not None else ""
        return f"MixParams(B={self.batch_size}, lam={lam_s}, index={idx_s}{tl}{extra}{site}, mixed={self.mixed})"


def check_given(params: Any, who: str, batch_size: int | None = None, *, device: torch.device | None = None,
                rows: str = "rows", hint: str = "") -> MixParams:
    """``params`` handed in by a user (``params=``), checked once: a :class:`MixParams` for ``batch_size``
    ``rows`` on ``device`` (each checked when given), else a :class:`MixupError` naming ``who``."""
    if not isinstance(params, MixParams):
        raise MixupError(f"{who} needs a MixParams, got {type(params).__name__}.")
    if batch_size is not None and params.batch_size != batch_size:
        raise MixupError(f"{who}: the plan is for {params.batch_size} rows, but the batch has {batch_size} "
                         f"{rows}.{hint}")
    if device is not None and params.device != device:
        raise MixupError(f"{who}: the plan is on {params.device}, but the batch is on {device}.")
    return params


def _rows(lam: float | Tensor, index: Tensor) -> Tensor:
    """``lam`` as a ``(B,)`` float32 tensor on ``index``'s device."""
    if isinstance(lam, Tensor):
        return lam
    return torch.full(index.shape, lam, device=index.device)


def check_extra(params: MixParams, expected: tuple[type, ...], who: str) -> None:
    """Raise a :class:`MixupError` when ``params.extra`` is not one of ``expected`` (``NoneType`` for none)."""
    if not isinstance(params.extra, expected):
        got = type(params.extra).__name__ if params.extra is not None else "no record"
        want = " or ".join("no record" if t is type(None) else t.__name__ for t in expected)
        raise MixupError(
            f"{who} replays plans with {want}, but this plan carries {got}: replay a plan with the mixer that "
            "drew it (mixer.mix(x, plan)), e.g. a Box with CutMix, a Choice with RandomChoice, a Swap with "
            "TabularMixer(categorical_mixing='swap')."
        )


def appended_partners_index(b: int, device: torch.device | str | None = None) -> Tensor:
    """``(2B,)`` pairing of a batch ``[rows; partners]``: row ``i`` with row ``B + i``, each partner with itself."""
    return torch.arange(b, 2 * b, device=device).repeat(2)


def doubled_plan(params: MixParams, index: Tensor, *, mixed_first: bool) -> MixParams:
    """The plan of ``2B`` rows from ``params`` (``B`` rows, mixed): one half (the first if ``mixed_first``) takes
    its λ, the other ``λ = 1``; ``index`` ``(2B,)`` pairs the rows; the record's per-row tensors are repeated.

    Example:
        >>> p = MixParams(lam=torch.tensor([0.3, 0.8]), index=torch.tensor([1, 0]))
        >>> q = doubled_plan(p, appended_partners_index(2), mixed_first=True)
        >>> q.lam, q.index
        (tensor([0.3000, 0.8000, 1.0000, 1.0000]), tensor([2, 3, 2, 3]))
    """
    b = params.batch_size
    ones = torch.ones(b, device=params.device)

    def halves(rows: Tensor) -> Tensor:
        return torch.cat([rows, ones] if mixed_first else [ones, rows])
    return replace(params, lam=halves(params.lam_rows()), index=index.to(params.index.dtype),
                   target_lam=None if params.target_lam is None else halves(params.target_rows()),
                   extra=map_extra(params.extra, lambda v: torch.cat([v, v])),  # a record's tensors: B rows
                   unmixed_rows=True)
