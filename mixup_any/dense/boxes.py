"""Box formats and torchvision ``tv_tensors``: boxes are read into XYXY pixels and written back as they came.

``tv_tensors`` (``BoundingBoxes``, ``Image``, ``Mask``) are recognised without importing torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..exceptions import MixupError
from ..extras import require

__all__: list[str] = []  # internal: the public names are re-exported by the package

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def is_tv_tensor(x: Any) -> bool:
    """Whether ``x`` is a torchvision ``tv_tensors`` subclass (checked without importing torchvision)."""
    return isinstance(x, Tensor) and type(x).__module__.startswith("torchvision.")


def plain(x: Tensor) -> Tensor:
    """``x`` as a plain tensor (a view; a ``tv_tensors`` subclass loses its metadata)."""
    return x.as_subclass(Tensor) if is_tv_tensor(x) else x


def rewrap(out: Tensor, like: Any, **metadata: Any) -> Tensor:
    """``out`` as the same ``tv_tensors`` type as ``like`` (with ``metadata``), or unchanged."""
    if not is_tv_tensor(like):
        return out
    return require("torchvision.tv_tensors", "vision").wrap(out, like=like, **metadata)


@dataclass(frozen=True)
class BoxFormat:
    """How a batch's boxes are written: ``fmt`` ``"xyxy"`` ``(x1, y1, x2, y2)``, ``"xywh"`` ``(x1, y1, w, h)``
    or ``"cxcywh"`` ``(cx, cy, w, h)`` (any case), and ``normalized`` by the image's width and height."""

    fmt: str = "xyxy"
    normalized: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.fmt, str) or self.fmt.lower() not in BOX_FORMATS:
            raise MixupError(f"Unknown box format {self.fmt!r}; expected one of {BOX_FORMATS} (case-insensitive; "
                             "rotated BoundingBoxes are not supported).")
        object.__setattr__(self, "fmt", self.fmt.lower())

    @classmethod
    def of(cls, boxes: Tensor, default: BoxFormat) -> BoxFormat:
        """The format of ``boxes``: a ``BoundingBoxes``' own (pixels), else ``default``."""
        if not is_tv_tensor(boxes):
            return default
        return cls(str(getattr(getattr(boxes, "format", None), "name", None)), False)


def to_xyxy(boxes: Tensor, fmt: BoxFormat, size: tuple[int, int]) -> Tensor:
    """``(N, 4)`` boxes in ``fmt`` on an image of ``size = (H, W)`` → ``(N, 4)`` float XYXY pixels.

    Example:
        >>> to_xyxy(torch.tensor([[0.5, 0.5, 0.5, 1.0]]), BoxFormat("cxcywh", normalized=True), (10, 20))
        tensor([[ 5.,  0., 15., 10.]])
    """
    b = plain(boxes)
    b = b if b.is_floating_point() else b.float()
    if fmt.normalized:
        h, w = size
        b = b * b.new_tensor([w, h, w, h])
    a, c = b[:, :2], b[:, 2:]
    if fmt.fmt == "xywh":
        return torch.cat((a, a + c), dim=1)
    if fmt.fmt == "cxcywh":
        return torch.cat((a - c / 2, a + c / 2), dim=1)
    return b


def from_xyxy(xyxy: Tensor, fmt: BoxFormat, size: tuple[int, int], like: Tensor) -> Tensor:
    """Inverse of :func:`to_xyxy`: back to ``fmt`` on an image of ``size``, with ``like``'s dtype.

    Integer boxes are rounded back to integers. A ``BoundingBoxes`` ``like`` gives a ``BoundingBoxes``
    whose ``canvas_size`` is ``size``.
    """
    a, c = xyxy[:, :2], xyxy[:, 2:]
    if fmt.fmt == "xywh":
        out = torch.cat((a, c - a), dim=1)
    elif fmt.fmt == "cxcywh":
        out = torch.cat(((a + c) / 2, c - a), dim=1)
    else:
        out = xyxy
    if fmt.normalized:
        h, w = size
        out = out / out.new_tensor([w, h, w, h])
    out = out.to(like.dtype) if like.is_floating_point() else out.round().to(like.dtype)
    return rewrap(out, like, canvas_size=tuple(size))


def check_shape(boxes: Any, where: str) -> None:
    """Raise unless ``boxes`` is an ``(N, 4)`` real tensor."""
    if not isinstance(boxes, Tensor):
        raise MixupError(f"{where} must be an (N, 4) tensor of boxes, got {type(boxes).__name__}.")
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.is_complex() or boxes.dtype == torch.bool:
        raise MixupError(f"{where} must be an (N, 4) real tensor of boxes, got {boxes.dtype} of shape "
                         f"{tuple(boxes.shape)}.")


def check_boxes(xyxy: list[Tensor], sizes: list[tuple[int, int]], fmt: BoxFormat) -> None:
    """Raise a :class:`MixupError` for degenerate boxes or boxes outside their image; one host read per batch.

    ``xyxy``: each image's ``(N_i, 4)`` XYXY pixel boxes; ``sizes``: each image's ``(H, W)``.
    """
    boxes = torch.cat(xyxy)
    owner = torch.repeat_interleave(torch.tensor([len(v) for v in xyxy]))  # the image of each box, on the host
    wh = torch.tensor(sizes, dtype=boxes.dtype)[owner].flip(1).to(boxes.device)  # (N, 2): its image's W, H
    degenerate = ~(boxes[:, 2:] > boxes[:, :2]).all(dim=1)
    outside = (boxes[:, :2] < 0).any(dim=1) | (boxes[:, 2:] > wh).any(dim=1)
    flags = torch.stack((degenerate.any(), outside.any())).tolist()
    if not any(flags):
        return
    k = int((degenerate if flags[0] else outside).nonzero()[0, 0])
    i = int(owner[k])
    j = k - int((owner < i).sum())
    box = [round(v, 4) for v in boxes[k].tolist()]
    unit = "normalized " if fmt.normalized else ""
    where = f"targets[{i}]['boxes'][{j}] (read as {unit}{fmt.fmt.upper()}) is {box} in XYXY pixels"
    if flags[0]:
        raise MixupError(f"Degenerate box: {where}. Expected x2 > x1 and y2 > y1 (positive width and "
                         "height); drop empty boxes before mixing.")
    h, w = sizes[i]
    raise MixupError(f"Box outside its image: {where}, on an image of H x W = {h} x {w}. Expected "
                     "0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H; clip boxes to the image first, or set "
                     "box_format= / normalized= to the format the boxes are in.")
