"""CutMix (Yun et al., 2019, https://arxiv.org/abs/1905.04899): paste a box of the partner into each sample.

Images ``(B, C, H, W)`` get a box, sequences ``(B, C, L)`` / ``(B, L, D)`` a segment along one axis. The
cut covers about ``1 - lam`` of the area (each side ``(1 - lam) ** (1/k)`` of its extent, as in the paper),
clipped to the input, and ``lam`` becomes the area that really stayed. A per-batch plan has one box of Python
ints, pasted by slicing (the bytes moved grow with the box); a per-row plan draws ``(B, 2k)`` boxes on the
batch's device and pastes with one ``torch.where``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from ..exceptions import MixupError
from ..functional import check_same_device, gather_rows, map_float_leaves, row_weight
from ..params import Box, MixParams, check_extra
from ..policies import Pairing, TargetSpec
from ..sampling import check_generator
from ..schedule import MixSchedule
from .mixup import MixUp

__all__ = ["CutMix"]


def _draw_boxes(lam: Tensor, sizes: Sequence[int], generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per-row boxes cutting about ``1 - lam`` of the area (none where ``lam = 1``), and the area each keeps.

    Each side is ``L = int(n * (1 - lam) ** (1/k))`` of its extent ``n`` (the paper's ``cut_w``) around a
    uniform centre ``c``: ``[c - L // 2, c - L // 2 + L)``, clipped at the border, as :func:`host_box` draws.
    Returns ``(B, 2k)`` int64 bounds and ``(B,)`` float32 kept fractions, on ``lam``'s device.
    """
    b, k, dev = lam.shape[0], len(sizes), lam.device
    check_generator(generator, dev)
    n: int | Tensor
    if len(set(sizes)) == 1:  # one extent (square images, every sequence): n**k * (1 - lam) in one op
        n = sizes[0]
        side = torch.rsub(lam, n**k, alpha=n**k).view(b, 1, 1)
        side = side.pow(1 / k) if k > 1 else side
        centre = torch.randint(n, (b, k, 1), generator=generator, device=dev)
    else:  # H != W: the extents as a (2, 1) tensor made on the device (no host-to-device copy)
        n = torch.linspace(sizes[0], sizes[1], 2, dtype=torch.int64, device=dev).view(2, 1)
        side = torch.rsub(lam, 1).view(b, 1, 1).pow(0.5).mul(n)
        centre = torch.rand(b, k, 1, generator=generator, device=dev).mul_(n).long()
    # (B, k, 2) ends, every axis at once: c - L // 2 and c - L // -2 = c - L // 2 + L
    ends = centre - side.long() // torch.arange(2, -3, -4, device=dev)
    ends = ends.clamp_(0, n) if isinstance(n, int) else torch.minimum(ends.clamp_(min=0), n, out=ends)
    area = math.prod(sizes)  # exact 0 for a full box, 1 for an empty one
    kept = torch.rsub(ends.diff(dim=2).prod(1, dtype=torch.float32).view(b), area).div_(area)
    return ends.view(b, 2 * k), kept


def host_box(rng: random.Random, cut: float, sizes: Sequence[int]) -> tuple[tuple[int, ...], float]:
    """One box covering about ``cut`` of the area, as Python ints, and the fraction of the area it keeps.

    The draw of :func:`_draw_boxes` for one row. Example:
        >>> host_box(random.Random(0), 0.25, (8, 8))
        ((4, 8, 4, 8), 0.75)
    """
    side = cut ** (1.0 / len(sizes))
    bounds: list[int] = []
    area = 1
    for n in sizes:
        length = int(side * n)
        start = int(rng.random() * n) - length // 2
        lo, hi = min(max(start, 0), n), min(max(start + length, 0), n)
        bounds += [lo, hi]
        area *= hi - lo
    return tuple(bounds), 1.0 - area / math.prod(sizes)


def box_mask(box: Tensor, shape: Sequence[int], axes: Sequence[int]) -> Tensor:
    """Bool mask, ``True`` inside each row's box ``(B, 2 * len(axes))``, broadcastable to ``shape``.

    Example:
        >>> box_mask(torch.tensor([[1, 3]]), (1, 2, 4), (2,)).int()
        tensor([[[0, 1, 1, 0]]], dtype=torch.int32)
    """
    b, k = shape[0], len(axes)
    pos = torch.arange(max(shape[a] for a in axes), device=box.device)
    # (pos < start) xor (pos < end) is start <= pos < end: (B, k, 1, n), every axis at once
    inside = (pos < box.view(b, k, 2, 1)).diff(dim=2)
    mask = None
    for d, a in enumerate(axes):  # axis d as a view (B, 1, .., n_d, .., 1) of its row of `inside`
        size = [b] + [1] * (len(shape) - 1)
        size[a] = shape[a]
        stride = [inside.stride(0)] + [0] * (len(shape) - 1)
        stride[a] = 1
        along = inside.as_strided(size, stride, d * inside.stride(1))
        mask = along if mask is None else mask & along
    assert mask is not None
    return mask


def box_region(x: Tensor, bounds: Sequence[int], axes: Sequence[int]) -> Tensor:
    """The view ``x[..., start_0:end_0, ..., start_1:end_1]`` of one box, made in one ``as_strided``.

    Example:
        >>> box_region(torch.arange(12.0).view(1, 3, 4), (1, 3, 0, 2), (1, 2))
        tensor([[[4., 5.],
                 [8., 9.]]])
    """
    if torch.compiler.is_compiling():  # torch.compile cannot trace storage_offset(); narrow gives the same view
        for d, a in enumerate(axes):
            x = x.narrow(a, bounds[2 * d], bounds[2 * d + 1] - bounds[2 * d])
        return x
    size, offset = list(x.shape), x.storage_offset()
    for d, a in enumerate(axes):
        size[a] = bounds[2 * d + 1] - bounds[2 * d]
        offset += bounds[2 * d] * x.stride(a)
    return x.as_strided(size, x.stride(), offset)


def paste_box(x: Tensor, index: Tensor, bounds: Sequence[int], axes: Sequence[int], *,
              inplace: bool = False) -> Tensor:
    """Copy the partners' pixels inside one box ``(start_0, end_0, ...)`` into (a copy of) ``x``.

    Only the box's bytes move; ``x`` keeps its memory format. Example:
        >>> x = torch.arange(8.0).view(2, 1, 4)
        >>> paste_box(x, torch.tensor([1, 0]), (0, 2), (2,))
        tensor([[[4., 5., 2., 3.]],
        <BLANKLINE>
                [[0., 1., 6., 7.]]])
    """
    # a copy, read before anything is written; its layout does not matter, it is only copied into the box
    partners = gather_rows(box_region(x, bounds, axes), index, keep_layout=False)
    out = x if inplace else x.clone()
    box_region(out, bounds, axes).copy_(partners)
    return out


def cut_mix(x: Tensor, index: Tensor, box: Tensor, axes: Sequence[int], *, blend: Tensor | None = None,
            inplace: bool = False) -> Tensor:
    """Paste ``x[index]`` into ``x`` ``(B, ...)`` inside each row's box ``(B, 2 * len(axes))``.

    ``blend`` ``(B,)``: the row's own weight outside its box (mixup rows of a
    :class:`~mixup_any.mixers.choice.RandomChoice` plan); ``None`` keeps the outside as is. An empty box
    leaves its row exactly as it was; ``inplace`` writes into ``x`` (never for tensors autograd still needs).

    Example:
        >>> x = torch.arange(8.0).view(2, 1, 4)
        >>> cut_mix(x, torch.tensor([1, 0]), torch.tensor([[0, 2], [0, 0]]), (2,))
        tensor([[[4., 5., 2., 3.]],
        <BLANKLINE>
                [[4., 5., 6., 7.]]])
    """
    check_same_device(x, index)
    check_same_device(x, box)
    partner = gather_rows(x, index)  # a copy, so writing into x (inplace) cannot corrupt rows still to be read
    base = x
    if blend is not None:  # rows blended with weight 1 (CutMix rows, unmixed rows) stay exact next to inf/NaN
        w = row_weight(blend, x)
        base = torch.where(w == 1, x, torch.lerp(partner, x, w))
    mask = box_mask(box, x.shape, axes)
    return torch.where(mask, partner, base, out=x) if inplace else torch.where(mask, partner, base)


_CUTMIX_INTEGER_HINT = ("CutMix needs float inputs. Convert images explicitly, e.g. x.float() / 255, or use "
                        "MixupCollate(mixer, to_float=True), which scales uint8 images to [0, 1].")


def _map_float_leaves(batch: Any, fn: Any, path: str) -> Any:
    return map_float_leaves(batch, fn, path, integer_hint=_CUTMIX_INTEGER_HINT)


class CutMix(MixUp):
    """CutMix: each row gets a box of its partner pasted in; ``lam`` is the area it keeps.

    λ and partners are drawn as :class:`MixUp` draws them (same policies, same keywords); the kernel
    pastes a box instead of interpolating. Images ``(B, C, H, W)`` (``axis=(-2, -1)``, the default;
    channels_last stays channels_last) get a rectangle; sequences a segment along one axis: ``axis=-1``
    for ``(B, C, L)``, ``axis=1`` for ``(B, L, D)``. Rows with ``lam = 1`` (not selected by ``p``,
    excluded classes) get an empty box and stay exact. The plan carries the boxes as a
    :class:`~mixup_any.params.Box`.

    Args:
        alpha: Beta(α, α) concentration of ``lam`` before correction (1.0 in the paper).
        axis: the dim(s) a box spans: a pair for images, one int for sequences.
        min_area: the cut fraction of a mixed row is at least this (``0 <= min_area <= max_area``).
        max_area: and at most this.
        beta, lam, fold, per_sample, p, per_sample_p, pairing, bandwidth, exclude_classes,
            num_classes, target, label_smoothing, schedule, seed: as for :class:`MixUp`.
            ``per_sample=False`` (the default, as timm and torchvision) draws one ``lam`` and one box for
            the batch; ``per_sample=True`` one ``lam`` and one box per row.

    Raises:
        MixupError: for an axis the input lacks, non-float inputs, or an input too small for a box of
            ``min_area``.

    Example:
        >>> mixer = CutMix(alpha=1.0, num_classes=10, seed=0)
        >>> x, target = mixer(torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
        >>> params = mixer.sample((4, 3, 32, 32))
        >>> len(params.extra.bounds), 0 <= params.lam <= 1  # one box for the batch: (y0, y1, x0, x1)
        (4, True)
        >>> CutMix(per_sample=True, seed=0).sample((4, 3, 32, 32)).extra.bounds.shape
        torch.Size([4, 4])
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        axis: int | tuple[int, ...] = (-2, -1),
        min_area: float = 0.0,
        max_area: float = 1.0,
        beta: float | None = None,
        lam: float | tuple[float, float] | None = None,
        fold: bool = False,
        per_sample: bool = False,
        p: float = 1.0,
        per_sample_p: bool = False,
        pairing: str | Callable[..., Tensor] | Pairing = "permute",
        bandwidth: float = 1.0,
        exclude_classes: Sequence[int] | None = None,
        num_classes: int | Mapping[str, int] | None = None,
        target: str | Mapping[str, str] | TargetSpec = "auto",
        label_smoothing: float | Mapping[str, float] = 0.0,
        schedule: MixSchedule | None = None,
        seed: int | None = None,
    ) -> None:
        self.axis = axis
        self.min_area = min_area
        self.max_area = max_area
        super().__init__(alpha, beta=beta, lam=lam, fold=fold, per_sample=per_sample, p=p, per_sample_p=per_sample_p,
                         pairing=pairing, bandwidth=bandwidth, exclude_classes=exclude_classes,
                         num_classes=num_classes, target=target, label_smoothing=label_smoothing,
                         schedule=schedule, seed=seed)

    def _check(self) -> None:
        super()._check()
        axes = (self.axis,) if isinstance(self.axis, int) else self.axis
        if (isinstance(self.axis, bool) or not isinstance(axes, (tuple, list)) or len(axes) not in (1, 2)
                or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes)):
            raise MixupError(
                f"CutMix axis must be an int (a segment of sequences) or a pair of ints (a box of images), "
                f"got {self.axis!r}."
            )
        if 0 in axes or len(set(axes)) != len(axes):
            raise MixupError(f"CutMix axis must name distinct non-batch dims (dim 0 is the batch), got {self.axis!r}.")
        for name in ("min_area", "max_area"):
            v = getattr(self, name)
            if not isinstance(v, Real) or isinstance(v, bool) or not 0 <= float(v) <= 1:
                raise MixupError(f"{name} must be a fraction of the area in [0, 1], got {v!r}.")
        if self.min_area > self.max_area:
            raise MixupError(f"min_area ({self.min_area}) must not exceed max_area ({self.max_area}).")

    _integer_hint = _CUTMIX_INTEGER_HINT

    def axes_for(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The positive dims the box spans for an input of ``shape`` (raises if they do not exist)."""
        ndim = len(shape)
        given = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        axes = tuple(a + ndim if a < 0 else a for a in given)
        for a, pos in zip(given, axes, strict=True):
            if not 1 <= pos < ndim:
                valid = (f"valid: 1..{ndim - 1} or -{ndim - 1}..-1" if ndim > 2 else "valid: 1 or -1"
                         if ndim == 2 else "it has only the batch dim, nothing to cut")
                raise MixupError(
                    f"CutMix axis {a} does not exist in an input of {ndim} dims ({valid}; dim 0 is the "
                    "batch). Images (B, C, H, W) use axis=(-2, -1), sequences (B, C, L) axis=-1 and "
                    "(B, L, D) axis=1."
                )
        if len(set(axes)) != len(axes):
            raise MixupError(f"CutMix axes must be distinct dims, got {self.axis!r} for an input of {ndim} "
                             "dims.")
        return axes

    def _extend(self, shape: tuple[int, ...], lam: float | Tensor, index: Tensor, rows: Tensor | None,
                rng: random.Random, generator: torch.Generator) -> MixParams:
        axes = self.axes_for(shape)
        sizes = [int(shape[a]) for a in axes]
        if min(sizes) == 0:
            raise MixupError(f"CutMix cuts along axes {axes}, but the input of shape {tuple(shape)} has length 0 "
                             "there: there is no area to cut.")
        if self.min_area > 0:
            smallest = [math.floor(n * self.min_area ** (1.0 / len(sizes))) for n in sizes]
            if min(smallest) < 1:
                raise MixupError(
                    f"An input of size {' x '.join(map(str, sizes))} along axes {axes} is smaller than the "
                    f"minimum box (min_area={self.min_area} gives sides {smallest}): lower min_area or "
                    "use larger inputs."
                )
        if isinstance(lam, float):  # one box for the batch: Python ints; rows left out pair with themselves
            bounds, kept = host_box(rng, min(max(1.0 - lam, self.min_area), self.max_area), sizes)
            box = Box(bounds, tuple(sizes))
            if rows is None:
                return MixParams(lam=kept, index=index, extra=box)
            self_pairs = torch.arange(index.shape[0], device=index.device)
            return MixParams(lam=torch.where(rows, kept, 1.0), index=torch.where(rows, index, self_pairs),
                             extra=box)
        if rows is not None:  # rows left out keep everything: an empty box
            lam = torch.where(rows, lam, 1.0)
        if self.min_area > 0 or self.max_area < 1:  # rows with lam = 1 still cut nothing
            lam = lam.clamp(1 - self.max_area, 1 - self.min_area).masked_fill_(lam == 1, 1.0)
        boxes, kept_rows = _draw_boxes(lam, sizes, generator)
        return MixParams(lam=kept_rows, index=index, extra=Box(boxes, tuple(sizes)))

    def mix(self, x: Any, params: MixParams, *, inplace: bool = False) -> Any:
        """Paste each row's partner box into ``x`` (a tensor ``(B, ...)`` or a nested batch of them)."""
        if not params.mixed:
            return self._unmixed(x)
        check_extra(params, (Box,), "CutMix")
        assert isinstance(params.extra, Box)  # for mypy: check_extra raised otherwise
        record = params.extra

        def one(t: Tensor, path: str) -> Tensor:
            axes = self.axes_for(t.shape)
            if t.shape[0] != params.batch_size:
                raise MixupError(f"{path} has batch size {t.shape[0]}, but the plan is for {params.batch_size}.")
            record.check_fits([t.shape[a] for a in axes], f"CutMix ({path})")
            if isinstance(record.bounds, Tensor):
                return cut_mix(t, params.index, record.bounds, axes, inplace=inplace)
            check_same_device(t, params.index)
            return paste_box(t, params.index, record.bounds, axes, inplace=inplace)

        return _map_float_leaves(x, one, "x")
