"""Mixed targets of every kind, kept lazy as ``(y_a, y_b, lam)`` until a dense form is asked for.

Kinds:
    ``"index"``: class indices ``(B,)`` (int); ``soft()`` needs ``num_classes``.
    ``"soft"``: one-hot or probabilities ``(B, C)`` (float); smoothing goes towards ``1/C``.
    ``"multilabel"``: multi-hot ``(B, C)`` (float or bool); smoothing goes towards ``0.5``.
    ``"regression"``: any float shape ``(B, ...)``; no smoothing.
    ``"auto"``: integer ``(B,)`` → index, bool → multilabel, float ``(B,)`` → regression,
    other float → soft (mixing is the same for soft, multilabel and regression; only smoothing differs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, overload

import torch
from torch import Tensor

from .exceptions import MixupError
from .functional import check_same_device, gather_rows, smooth
from .params import MixParams

__all__ = ["MixedTarget"]

TARGET_KINDS = ("auto", "index", "soft", "multilabel", "regression")


@dataclass(frozen=True)
class MixedTarget:
    """Targets of a mixed batch: row ``i`` is ``lam[i]`` of ``y_a[i]`` and ``1 - lam[i]`` of ``y_b[i]``.

    Attributes:
        y_a: ``(B, ...)`` the batch's own targets.
        y_b: ``(B, ...)`` the partners' targets, ``y_a[index]``.
        lam: ``(B,)`` float32 weight of ``y_a``.
        kind: one of ``"index"``, ``"soft"``, ``"multilabel"``, ``"regression"``.
        num_classes: ``C`` for class targets, if known.
        label_smoothing: applied to each side *before* mixing, by :meth:`soft`.
        mixed: ``False`` for an identity plan (``y_b is y_a``, ``lam = 1``).

    Example:
        >>> t = MixedTarget(torch.tensor([0, 2]), torch.tensor([1, 2]), torch.tensor([0.75, 1.0]), "index", 3)
        >>> t.soft()
        tensor([[0.7500, 0.2500, 0.0000],
                [0.0000, 0.0000, 1.0000]])
    """

    y_a: Tensor
    y_b: Tensor
    lam: float | Tensor
    kind: str
    num_classes: int | None = None
    label_smoothing: float = 0.0
    mixed: bool = True

    @property
    def batch_size(self) -> int:
        return self.y_a.shape[0]

    def lam_rows(self) -> Tensor:
        """``(B,)`` float32 weight of ``y_a`` for every row (a per-batch λ repeated)."""
        if isinstance(self.lam, Tensor):
            return self.lam
        return torch.full((self.batch_size,), float(self.lam), device=self.y_a.device)

    def first(self, n: int) -> MixedTarget:
        """The target of the first ``n`` rows (e.g. a rank's own rows of a stacked batch)."""
        lam = self.lam[:n] if isinstance(self.lam, Tensor) else self.lam
        return replace(self, y_a=self.y_a[:n], y_b=self.y_b[:n], lam=lam)

    def lam_weight(self, ndim: int, dtype: torch.dtype) -> float | Tensor:
        """λ as a weight over ``(B, ...)`` values of ``ndim`` dims in ``dtype``: a float stays a float."""
        if not isinstance(self.lam, Tensor):
            return float(self.lam)
        w = self.lam.view(-1, *([1] * (ndim - 1)))
        return w if w.dtype == dtype else w.to(dtype)

    def soft(self, num_classes: int | None = None, *, label_smoothing: float | None = None,
             dtype: torch.dtype = torch.float32) -> Tensor:
        """Dense soft targets ``(B, C)`` for class targets (index, soft or multilabel).

        Rows of ``index`` and ``soft`` targets sum to 1.
        """
        if self.kind == "regression":
            raise MixupError("soft() is for class targets; these are regression targets, use dense().")
        eps = self.label_smoothing if label_smoothing is None else label_smoothing
        if self.kind == "index":
            c = num_classes if num_classes is not None else self.num_classes
            if c is None:
                raise MixupError(
                    "soft() of class-index targets needs num_classes: pass it to the mixer "
                    "(num_classes=C) or call target.soft(num_classes=C)."
                )
            return smooth(self._index_soft(c, dtype), eps, "soft")
        a = smooth(self.y_a.to(dtype), eps, self.kind)
        if not self.mixed:
            return a
        b = smooth(self.y_b.to(dtype), eps, self.kind)
        return torch.lerp(b, a, self.lam_weight(a.ndim, dtype))

    def _index_soft(self, c: int, dtype: torch.dtype) -> Tensor:
        """``lam·onehot(y_a) + (1-lam)·onehot(y_b)``, ``(B, C)`` in ``dtype``; an index outside ``[0, C)`` raises.

        Rows of a ``(C, C)`` identity matrix where it is no larger than the result (faster than ``one_hot``
        and a cast), else two scatters into zeros, so memory grows with ``B·C``, never ``C²``.
        """
        y_a, y_b = (y if y.dtype == torch.int64 else y.long() for y in (self.y_a, self.y_b))
        try:
            if c > y_a.shape[0]:
                return self._scatter_soft(c, dtype, y_a, y_b)
            eye = torch.eye(c, dtype=dtype, device=y_a.device)
            a = eye.index_select(0, y_a)
            if not self.mixed:
                return a
            b = eye.index_select(0, y_b)
        except (IndexError, RuntimeError) as err:  # checked by the gather (a device assertion off the CPU)
            raise MixupError(f"targets hold a class index outside [0, num_classes={c}): pass the right "
                             "num_classes, or remap the labels to 0..num_classes-1.") from err
        if isinstance(self.lam, Tensor):  # b + λ·(a - b) per row: exactly 1 where y_a == y_b
            return torch.lerp(b, a, self.lam_weight(2, dtype))
        return a.mul_(self.lam).add_(b, alpha=1.0 - self.lam)

    def _scatter_soft(self, c: int, dtype: torch.dtype, y_a: Tensor, y_b: Tensor) -> Tensor:
        out = torch.zeros(y_a.shape[0], c, dtype=dtype, device=y_a.device)
        if not self.mixed:
            return out.scatter_(1, y_a.view(-1, 1), 1.0)
        w = self.lam_weight(2, dtype)
        rest = 1.0 - w if isinstance(w, Tensor) else out.new_full((y_a.shape[0], 1), 1.0 - w)
        return out.scatter_(1, y_a.view(-1, 1), w).scatter_add_(1, y_b.view(-1, 1), rest)

    def dense(self, dtype: torch.dtype | None = None) -> Tensor:
        """The mixed target as one tensor: ``soft()`` for class indices, else ``lam·y_a + (1-lam)·y_b``."""
        if self.kind != "regression":
            return self.soft(dtype=dtype or (self.y_a.dtype if self.y_a.is_floating_point() else torch.float32))
        a = self.y_a if dtype is None else self.y_a.to(dtype)
        if not self.mixed:
            return a
        b = self.y_b.to(a.dtype)
        return torch.lerp(b, a, self.lam_weight(a.ndim, a.dtype))

    def to(self, device: torch.device | str) -> MixedTarget:
        lam = self.lam.to(device) if isinstance(self.lam, Tensor) else self.lam
        return replace(self, y_a=self.y_a.to(device), y_b=self.y_b.to(device), lam=lam)

    def __len__(self) -> int:
        return self.batch_size


def resolve_kind(y: Tensor, kind: str) -> str:
    """The concrete kind of ``y`` for ``kind`` (which may be ``"auto"``), validated."""
    if kind not in TARGET_KINDS:
        raise MixupError(f"Unknown target kind {kind!r}; expected one of {TARGET_KINDS}.")
    if y.is_complex():
        raise MixupError(f"Targets must be real (class indices, float or bool), got {y.dtype}.")
    integer = not y.is_floating_point() and y.dtype != torch.bool
    if kind == "auto" and integer and y.ndim != 1:
        raise MixupError(
            f"Integer targets of shape {tuple(y.shape)} are ambiguous: class indices must be (B,). "
            "For multi-hot targets pass a float or bool tensor, or set target='multilabel'."
        )
    if kind == "auto":
        kind = ("index" if integer else "multilabel" if y.dtype == torch.bool
                else "regression" if y.ndim == 1 else "soft")
    elif kind == "index" and (y.is_floating_point() or y.ndim != 1):
        raise MixupError(
            f"target='index' needs integer class indices of shape (B,), got {y.dtype} of shape {tuple(y.shape)}."
        )
    elif kind in ("soft", "multilabel") and y.ndim < 2:
        raise MixupError(
            f"target={kind!r} needs a (B, C) tensor, got shape {tuple(y.shape)}. Class indices are target='index'."
        )
    elif kind == "regression" and not y.is_floating_point():
        raise MixupError(f"target='regression' needs float targets, got {y.dtype}.")
    if kind in ("soft", "multilabel") and y.ndim >= 2 and y.shape[-1] == 0:
        raise MixupError(f"{kind} targets need at least one class, got shape {tuple(y.shape)} (width 0).")
    return kind


def _one(y: Tensor, params: MixParams, kind: str, num_classes: int | None, label_smoothing: float,
         name: str) -> MixedTarget:
    if not isinstance(y, Tensor):
        raise MixupError(f"{name} must be a tensor (or a dict of tensors), got {type(y).__name__}.")
    if y.ndim == 0 or y.shape[0] != params.batch_size:
        raise MixupError(
            f"{name} has shape {tuple(y.shape)} but the batch has {params.batch_size} rows: "
            "inputs and targets must share their first dimension."
        )
    if kind == "auto" and num_classes is not None and y.ndim == 1 and y.is_floating_point():
        raise MixupError(
            f"{name} are float of shape {tuple(y.shape)} with num_classes={num_classes}: class indices must be an "
            f"integer tensor ({name}.long()); for regression targets drop num_classes or set target='regression'."
        )
    kind = resolve_kind(y, kind)
    if kind == "regression" and label_smoothing:
        raise MixupError("label_smoothing does not apply to regression targets; set label_smoothing=0.")
    if kind in ("soft", "multilabel") and num_classes is not None and y.shape[-1] != num_classes:
        raise MixupError(
            f"{name} are {kind} targets of width {y.shape[-1]}, but num_classes={num_classes}."
        )
    if kind == "multilabel" and y.dtype == torch.bool:
        y = y.float()
    if not params.mixed:
        return MixedTarget(y, y, params.target_weight, kind, num_classes, label_smoothing, mixed=False)
    check_same_device(y, params.index, name)
    y_b = gather_rows(y, params.index)
    return MixedTarget(y, y_b, params.target_weight, kind, num_classes, label_smoothing)


def _pick(option: Any, key: str) -> Any:
    return option.get(key) if isinstance(option, Mapping) else option


@overload
def mix_target(
    y: Tensor, params: MixParams, *, kind: str | Mapping[str, str] = ...,
    num_classes: int | Mapping[str, int] | None = ..., label_smoothing: float | Mapping[str, float] = ...,
) -> MixedTarget: ...
@overload
def mix_target(
    y: Mapping[str, Tensor], params: MixParams, *, kind: str | Mapping[str, str] = ...,
    num_classes: int | Mapping[str, int] | None = ..., label_smoothing: float | Mapping[str, float] = ...,
) -> dict[str, MixedTarget]: ...
@overload
def mix_target(
    y: Tensor | Mapping[str, Tensor], params: MixParams, *, kind: str | Mapping[str, str] = ...,
    num_classes: int | Mapping[str, int] | None = ..., label_smoothing: float | Mapping[str, float] = ...,
) -> MixedTarget | dict[str, MixedTarget]: ...
def mix_target(
    y: Tensor | Mapping[str, Tensor],
    params: MixParams,
    *,
    kind: str | Mapping[str, str] = "auto",
    num_classes: int | Mapping[str, int] | None = None,
    label_smoothing: float | Mapping[str, float] = 0.0,
) -> MixedTarget | dict[str, MixedTarget]:
    """Pair targets with ``params``; a dict of targets (multi-task) gives a dict of :class:`MixedTarget`.

    Each row's own target weighs ``params.target_weight`` (``target_lam`` where the plan sets it, else ``lam``).

    ``kind``, ``num_classes`` and ``label_smoothing`` may be dicts keyed like ``y``.

    Example:
        >>> p = MixParams(lam=torch.tensor([0.5, 0.5]), index=torch.tensor([1, 0]))
        >>> mix_target(torch.tensor([1.0, 3.0]), p).dense()
        tensor([2., 2.])
    """
    if isinstance(y, Mapping):
        return {
            k: _one(v, params, _pick(kind, k) or "auto", _pick(num_classes, k), _pick(label_smoothing, k) or 0.0,
                    f"targets[{k!r}]")
            for k, v in y.items()
        }
    if isinstance(kind, Mapping) or isinstance(num_classes, Mapping) or isinstance(label_smoothing, Mapping):
        raise MixupError("kind / num_classes / label_smoothing are dicts, but the targets are a single tensor.")
    return _one(y, params, kind, num_classes, float(label_smoothing), "targets")
