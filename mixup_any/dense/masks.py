"""Segmentation masks mixed with one plan: blended (MixUp), pasted in a box (CutMix) or by class (ClassMix).

``images`` ``(B, C, H, W)`` float and ``masks`` ``(B, H, W)`` class ids give a lazy :class:`MixedMask`; the
rules are in ``docs/dense.md``. Nothing is read back to the host.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..exceptions import MixupError
from ..functional import check_class_indices, check_same_device, gather_rows
from ..mixers import CutMix, Mixer, MixUp
from ..mixers.cutmix import box_mask
from ..params import Box, MixParams, check_extra, check_given
from .boxes import plain, rewrap

__all__ = ["MixedMask", "SegmentationMix", "mixed_mask_loss"]


def _check_ids(masks: Tensor, num_classes: int, ignore_index: int) -> None:
    check_class_indices(masks.masked_fill(masks == ignore_index, 0), num_classes, f"masks (ignore_index={ignore_index})")


@dataclass(frozen=True)
class MixedMask:
    """Per-pixel mixed segmentation target: ``lam`` of ``mask_a`` and ``1 - lam`` of ``mask_b``.

    Attributes:
        mask_a: ``(B, H, W)`` int64 the batch's own masks.
        mask_b: ``(B, H, W)`` int64 the partners' masks, ``mask_a[index]``.
        lam: ``(B, 1, 1)`` (blended) or ``(B, H, W)`` (pasted: 1 own pixel, 0 partner's pixel) float32.
        ignore_index: the id of unlabelled pixels.

    Example:
        >>> t = MixedMask(torch.tensor([[[0, 1]]]), torch.tensor([[[2, 255]]]), torch.tensor([[[0.75]]]))
        >>> t.soft(3)[0, :, 0]  # (C, W): pixel 1's partner side is ignored, so its column sums to 0.75
        tensor([[0.7500, 0.0000],
                [0.0000, 0.7500],
                [0.2500, 0.0000]])
    """

    mask_a: Tensor
    mask_b: Tensor
    lam: Tensor
    ignore_index: int = 255

    @property
    def pasted(self) -> bool:
        """Whether every pixel comes from one side (CutMix, ClassMix): then :meth:`hard` exists."""
        return self.lam.shape[1:] == self.mask_a.shape[1:] and self.lam.shape[1:] != (1, 1)

    def hard(self) -> Tensor:
        """``(B, H, W)`` the pasted mask: ``mask_a`` where ``lam = 1``, ``mask_b`` where ``lam = 0``."""
        if not self.pasted:
            raise MixupError("A blended (MixUp) mask has two labels per pixel; use soft() or mixed_mask_loss.")
        return torch.where(self.lam >= 0.5, self.mask_a, self.mask_b)

    def soft(self, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """``(B, C, H, W)`` soft target; an ignored side adds nothing, so such pixels sum to less than 1."""
        if not isinstance(num_classes, int) or num_classes < 1:
            raise MixupError(f"num_classes must be a positive int, got {num_classes!r}.")
        out = torch.zeros(self.mask_a.shape[0], num_classes, *self.mask_a.shape[1:], dtype=dtype,
                          device=self.mask_a.device)
        lam = self.lam.to(dtype).expand(self.mask_a.shape)
        for m, w in ((self.mask_a, lam), (self.mask_b, 1 - lam)):
            _check_ids(m, num_classes, self.ignore_index)
            valid = m != self.ignore_index
            out.scatter_add_(1, torch.where(valid, m, 0).long().unsqueeze(1), (w * valid).unsqueeze(1))
        return out

    def to(self, device: torch.device | str) -> MixedMask:
        return MixedMask(self.mask_a.to(device), self.mask_b.to(device), self.lam.to(device), self.ignore_index)


def mixed_mask_loss(logits: Tensor, target: MixedMask | Tensor, *, ignore_index: int | None = None,
                    reduction: str = "mean") -> Tensor:
    """Pixel cross-entropy against a :class:`MixedMask` (or a plain ``(B, H, W)`` mask), honouring ``ignore_index``.

    Per pixel ``lam·ℓ_a + (1-lam)·ℓ_b``, an ignored side adding nothing; ``"mean"`` divides by the soft
    target's total, so an unmixed plan gives exactly ``F.cross_entropy(logits, mask, ignore_index=...)``.

    Args:
        logits: ``(B, C, H, W)``.
        target: a :class:`MixedMask`, or ``(B, H, W)`` class ids (then plain cross-entropy).
        ignore_index: defaults to the target's (255 for a plain mask).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(B, H, W)``).

    Example:
        >>> logits = torch.zeros(1, 2, 1, 2)
        >>> t = MixedMask(torch.tensor([[[0, 255]]]), torch.tensor([[[1, 1]]]), torch.tensor([[[0.5]]]))
        >>> mixed_mask_loss(logits, t)  # every labelled side costs log 2; weights 0.5 + 0.5 + 0.5
        tensor(0.6931)
    """
    if reduction not in ("mean", "sum", "none"):
        raise MixupError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    if not isinstance(target, MixedMask):
        ii = 255 if ignore_index is None else ignore_index
        return F.cross_entropy(logits, plain(target).long(), ignore_index=ii, reduction=reduction)
    if logits.ndim != 4 or logits.shape[0:1] + logits.shape[2:] != target.mask_a.shape:
        raise MixupError(f"logits must be (B, C, H, W) for masks of shape {tuple(target.mask_a.shape)}, "
                         f"got {tuple(logits.shape)}.")
    if ignore_index is not None:
        target = replace(target, ignore_index=ignore_index)
    soft = target.soft(logits.shape[1], dtype=logits.dtype)  # (B, C, H, W); 0 on an ignored side
    loss = -(soft * logits.log_softmax(dim=1)).sum(dim=1)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / soft.sum()


def classmix_region(masks: Tensor, index: Tensor, num_classes: int, *, ignore_index: int = 255,
                    generator: torch.Generator | None = None) -> Tensor:
    """``(B, H, W)`` bool: the pixels of ``masks[index]`` whose class is among half of its classes.

    Row ``i`` gets ``ceil(n / 2)`` classes drawn at random (without replacement) from the ``n`` classes
    present in its partner's mask ``masks[index[i]]``; pixels labelled ``ignore_index`` are never chosen.

    Example:
        >>> m = torch.tensor([[[0, 1], [2, 2]]])
        >>> region = classmix_region(m, torch.tensor([0]), 3, generator=torch.Generator().manual_seed(0))
        >>> region.sum().item() in (1, 2, 3)  # two of the three classes: 1 + 1, 1 + 2 or 2 + 1 pixels
        True
    """
    b, c = masks.shape[0], num_classes
    _check_ids(masks, c, ignore_index)
    partner = plain(masks)[index].long()
    ids = torch.where(partner == ignore_index, c, partner).flatten(1)  # ignored -> extra column c
    present = torch.zeros(b, c + 1, dtype=torch.bool, device=masks.device).scatter_(1, ids, True)[:, :c]
    u = torch.rand(b, c, generator=generator, device=masks.device)
    rank = torch.where(present, u, 2.0).argsort(dim=1).argsort(dim=1)  # present classes first, in random order
    chosen = present & (rank < (present.sum(dim=1, keepdim=True) + 1) // 2)
    chosen = torch.cat((chosen, chosen.new_zeros(b, 1)), dim=1)  # the ignore column is never chosen
    return chosen.gather(1, ids).view(partner.shape)


class SegmentationMix:
    """Mix images ``(B, C, H, W)`` and their masks ``(B, H, W)`` with one plan.

    Args:
        mixer: :class:`~mixup_any.MixUp` (blend images, lazy blended masks; default ``MixUp(alpha=1.0)``)
            or :class:`~mixup_any.CutMix` (paste the partner's box of image and mask).
        classmix: paste by class instead (ClassMix; needs ``num_classes``). Only the plan's pairing and
            its unmixed rows (``lam = 1``, from ``p`` < 1) are used.
        num_classes: number of classes ``C`` (for ClassMix).
        ignore_index: the id of unlabelled pixels.

    Example:
        >>> sm = SegmentationMix(CutMix(alpha=1.0, seed=0))
        >>> x, target = sm(torch.rand(4, 3, 16, 16), torch.randint(0, 5, (4, 16, 16)))
        >>> target.pasted, tuple(target.hard().shape)
        (True, (4, 16, 16))
    """

    def __init__(self, mixer: Mixer | None = None, *, classmix: bool = False, num_classes: int | None = None,
                 ignore_index: int = 255) -> None:
        if mixer is None:
            mixer = MixUp(alpha=1.0)
        if not isinstance(mixer, (MixUp, CutMix)):
            raise MixupError(f"SegmentationMix needs a MixUp or a CutMix mixer, got {type(mixer).__name__}.")
        if classmix and not (isinstance(num_classes, int) and num_classes >= 1):
            raise MixupError(f"classmix=True needs num_classes (a positive int), got {num_classes!r}.")
        if not isinstance(ignore_index, int):
            raise MixupError(f"ignore_index must be an int, got {ignore_index!r}.")
        self.mixer = mixer
        self.classmix = classmix
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def __repr__(self) -> str:
        cm = f", classmix=True, num_classes={self.num_classes}" if self.classmix else ""
        return f"SegmentationMix({self.mixer!r}{cm}, ignore_index={self.ignore_index})"

    def _check(self, images: Any, masks: Any) -> None:
        if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
            got = f"{images.dtype} of shape {tuple(images.shape)}" if isinstance(images, Tensor) else type(images).__name__
            raise MixupError(f"images must be a (B, C, H, W) float tensor, got {got}.")
        if not isinstance(masks, Tensor) or masks.is_floating_point() or masks.is_complex() or masks.dtype == torch.bool:
            got = str(masks.dtype) if isinstance(masks, Tensor) else type(masks).__name__
            raise MixupError(f"masks must be a (B, H, W) tensor of integer class ids, got {got}. Soft or "
                             "one-hot masks: pass their argmax; boxes: use DetectionMix.")
        if masks.ndim != 3 or masks.shape[0] != images.shape[0]:
            raise MixupError(f"masks must be (B, H, W) = ({images.shape[0]}, H, W) for images of shape "
                             f"{tuple(images.shape)}, got {tuple(masks.shape)}.")
        if masks.shape[1:] != images.shape[2:]:
            raise MixupError(f"Mask spatial size {tuple(masks.shape[1:])} differs from the image's "
                             f"{tuple(images.shape[2:])}; resize masks with the images (nearest) first.")
        if masks.device != images.device:
            raise MixupError(f"masks are on {masks.device} but images on {images.device}.")

    def __call__(self, images: Tensor, masks: Tensor, *, params: MixParams | None = None,
                 generator: torch.Generator | None = None) -> tuple[Tensor, MixedMask]:
        """Return the mixed images ``(B, C, H, W)`` and the lazy :class:`MixedMask`.

        Args:
            images: ``(B, C, H, W)`` float (channels_last kept for MixUp).
            masks: ``(B, H, W)`` integer class ids (a ``tv_tensors.Mask`` too).
            params: replay a plan; ``generator``: draw with this generator instead of the mixer's.
        """
        self._check(images, masks)
        x, m = plain(images), plain(masks)
        b = x.shape[0]
        if params is None:
            params = self.mixer.sample(x.shape, device=x.device, generator=generator)
        else:
            check_given(params, "SegmentationMix(images, masks, params=...)", b)
        if not params.mixed:
            return images, MixedMask(m, m, torch.ones(b, 1, 1, device=m.device), self.ignore_index)
        check_extra(params, (type(None), Box), "SegmentationMix (MixUp and CutMix plans)")
        index, lam = params.index, params.lam_rows()
        if self.classmix:
            if self.num_classes is None:
                raise MixupError("classmix=True needs num_classes (a positive int), got None.")
            check_same_device(x, index)
            gen = generator if generator is not None else self.mixer.generator_for(x.device)
            region = classmix_region(m, index, self.num_classes, ignore_index=self.ignore_index, generator=gen)
            region = region & (lam < 1).view(-1, 1, 1)  # rows the plan leaves unmixed stay unmixed
            out = torch.where(region.unsqueeze(1), gather_rows(x, index), x)
        else:  # the mixer's own kernel: a lerp, or CutMix's box pasted
            out = self.mixer.mix(x, params)
            if not isinstance(params.extra, Box):
                return rewrap(out, images), MixedMask(m, m[index], lam.view(-1, 1, 1), self.ignore_index)
            region = box_mask(params.extra.rows(b, m.device), m.shape, (1, 2))
        return rewrap(out, images), MixedMask(m, m[index], (~region).float(), self.ignore_index)
