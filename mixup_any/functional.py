"""Pure, vectorized kernels: mix a tensor or a nested batch, build soft targets.

Nothing here works in place unless asked (``inplace=True`` or ``out=``), so the kernels are safe
inside an autograd graph (hidden activations) and never change the caller's tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError

__all__: list[str] = []  # internal: the public names are re-exported by the package


def _check_plan(x: Tensor, lam: float | Tensor, index: Tensor, what: str = "x") -> None:
    """Shapes and devices of a plan against one tensor: Python attribute reads, no tensor op."""
    if not isinstance(index, Tensor) or not (isinstance(lam, Tensor) or isinstance(lam, float)):
        raise MixupError(
            f"lam must be a float or a (B,) tensor and index a (B,) tensor, got {type(lam).__name__} and "
            f"{type(index).__name__}."
        )
    if x.ndim == 0:
        raise MixupError(f"Cannot mix a 0-d tensor ({what}); expected a batch of shape (B, ...).")
    if index.shape != (x.shape[0],) or (isinstance(lam, Tensor) and lam.shape != (x.shape[0],)):
        lam_s = tuple(lam.shape) if isinstance(lam, Tensor) else "per batch"
        raise MixupError(
            f"{what} has batch size {x.shape[0]} (shape {tuple(x.shape)}), but the mixing plan is for "
            f"lam {lam_s} and index {tuple(index.shape)}: every input of a batch must share dim 0."
        )
    check_same_device(x, index, what)


def check_same_device(x: Tensor, plan_tensor: Tensor, what: str = "x") -> None:
    """Raise if a plan drawn on one device meets a batch on another (moving it would block the host)."""
    if plan_tensor.device != x.device:
        raise MixupError(
            f"The mixing plan is on {plan_tensor.device} but {what} is on {x.device}. Plans are drawn where the "
            "batch lives: draw it for this batch (mixer.sample(x.shape, device=x.device)), or move it "
            "explicitly with params.to(device)."
        )


def check_in_range(t: Tensor, n: int, message: Callable[[int], str], device_message: str) -> None:
    """Raise a :class:`MixupError` with ``message(value)`` if the integer tensor ``t`` holds a value outside ``[0, n)``.

    Checked at once on the CPU; on accelerators and inside ``torch.compile`` (where reading a value back
    would break the graph) it is an asynchronous device assertion with ``device_message``.
    """
    if t.numel() == 0:
        return
    if t.device.type == "cpu" and not torch.compiler.is_compiling():
        lo, hi = (int(v) for v in t.aminmax())
        if lo < 0 or hi >= n:
            raise MixupError(message(hi if hi >= n else lo))
    else:
        torch._assert_async(((t >= 0) & (t < n)).all(), device_message)


def check_partner_index(index: Tensor, batch_size: int) -> None:
    """Raise if the integer tensor ``index`` holds a partner outside ``[0, batch_size)``."""
    check_in_range(index, batch_size,
                   lambda v: f"index holds partner row {v}, outside [0, {batch_size}) for a batch of {batch_size} "
                             "rows: row i is mixed with row index[i] of the same batch.",
                   f"index holds a partner outside [0, {batch_size})")


def gather_rows(x: Tensor, index: Tensor, *, keep_layout: bool = True) -> Tensor:
    """``x[index]`` along dim 0, in ``x``'s memory format; a partner outside the batch is a :class:`MixupError`.

    ``index_select`` copies whole rows (up to 5x faster than advanced indexing on the CPU) but returns a
    contiguous tensor, so other layouts (channels_last) use advanced indexing, which keeps them, unless
    ``keep_layout=False`` (a result that is only copied on, e.g. into a box). The partner range is checked
    by the gather itself (on accelerators as a device assertion), so a valid plan costs no extra pass.
    """
    try:
        return x.index_select(0, index) if not keep_layout or x.is_contiguous() else x[index]
    except (IndexError, RuntimeError) as err:
        raise MixupError(
            f"index holds a partner outside [0, {x.shape[0]}) or is not an integer tensor on {x.device} "
            f"({index.dtype} on {index.device}): row i is mixed with row index[i] of the same batch."
        ) from err


def mix(
    x: Tensor,
    lam: float | Tensor,
    index: Tensor,
    *,
    out: Tensor | None = None,
    inplace: bool = False,
    keep_unmixed: bool = True,
) -> Tensor:
    """Return ``lam * x + (1 - lam) * x[index]``: one gather of the partners and one ``lerp``.

    Args:
        x: ``(B, ...)`` floating-point tensor (any dtype, device and memory format; all kept).
        lam: weight of each row's own sample: a Python float (the whole batch; passed to the kernel as
            a scalar, no tensor is made) or a ``(B,)`` tensor on ``x``'s device.
        index: ``(B,)`` partner of each row, on ``x``'s device.
        out: optional preallocated result, shape, dtype and device of ``x``.
        inplace: write the result into ``x`` (never do this to activations that autograd needs).
        keep_unmixed: copy rows whose ``lam`` tensor is exactly 1 from ``x`` (one more pass), so they
            stay exact next to partners holding inf or NaN; ``False`` skips the pass for plans that
            cannot hold such rows.

    Rows with ``lam == 1`` come back exactly as they were when every value is finite.

    Example:
        >>> mix(torch.tensor([[0.0], [10.0]]), torch.tensor([0.75, 1.0]), torch.tensor([1, 0]))
        tensor([[ 2.5000],
                [10.0000]])
    """
    if not isinstance(x, Tensor):
        raise MixupError(f"mix() needs a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise MixupError(
            f"mix() needs a floating-point tensor, got {x.dtype} of shape {tuple(x.shape)}. "
            + ("For uint8 images convert with x.float() / 255, or use MixupCollate(mixer, to_float=True)."
               if x.dtype == torch.uint8 else
               "Integer inputs such as token ids or category codes must not be interpolated: mix them in "
               "embedding space (mixup_any.attach at the embedding, mixup_any.tabular, mixup_any.text), "
               "or cast with .float() if they really are continuous values.")
        )
    _check_plan(x, lam, index)
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype or out.device != x.device):
        raise MixupError(
            f"out must have the shape, dtype and device of x: x is {tuple(x.shape)} {x.dtype} on {x.device}, "
            f"out is {tuple(out.shape)} {out.dtype} on {out.device}."
        )
    return lerp_rows(x, lam, index, out=out, inplace=inplace, keep_unmixed=keep_unmixed)


def lerp_rows(x: Tensor, lam: float | Tensor, index: Tensor, *, out: Tensor | None = None, inplace: bool = False,
              keep_unmixed: bool = False, permutation: bool = False) -> Tensor:
    """:func:`mix` without its argument checks, for plans a mixer drew itself.

    ``permutation``: ``index`` is known to be a permutation of the rows (the mixer drew it so); a
    per-batch mix of at least :data:`PERMUTED_MIN_NUMEL` elements that autograd differentiates then runs
    its backward as one gather and one lerp.
    """
    if isinstance(lam, float) and lam == 1.0:
        return x if inplace else (out.copy_(x) if out is not None else x.clone())
    if (permutation and isinstance(lam, float) and x.requires_grad and not inplace and out is None
            and x.numel() >= PERMUTED_MIN_NUMEL and not torch.compiler.is_compiling()):
        return _PermutedLerp.apply(x, lam, index)  # type: ignore[no-any-return,no-untyped-call]
    partner = gather_rows(x, index)  # a copy: writing into x cannot corrupt rows still to be read
    w = lam if isinstance(lam, float) else row_weight(lam, x)
    if isinstance(w, float):
        if inplace:
            return x.lerp_(partner, 1.0 - w)  # x + (1 - λ)(partner - x); exactly x at λ = 1
        return torch.lerp(partner, x, w, out=out) if out is not None else partner.lerp_(x, w)
    # the in-place form would overwrite what the gradient of lam needs
    mixed = torch.lerp(partner, x, w) if isinstance(w, Tensor) and w.requires_grad else partner.lerp_(x, w)
    if keep_unmixed and isinstance(w, Tensor):
        mixed = torch.where(w == 1, x, mixed)
    if inplace:
        return x.copy_(mixed)
    return out.copy_(mixed) if out is not None else mixed


# Below this many elements autograd's scatter costs less than a Python Function's fixed cost (~50 µs a call)
PERMUTED_MIN_NUMEL = 1 << 16


class _PermutedLerp(torch.autograd.Function):
    """``lerp(x[index], x, w)`` for a float ``w`` and a permutation ``index``.

    Autograd would scatter the partners' gradient back (``index_add_`` into zeros) and add it to the
    rows' own; a permutation's inverse turns that into one gather and one lerp of the gradient. The map
    is linear, so its forward-mode derivative is the same map of the tangent.
    """

    generate_vmap_rule = True  # torch.func.vmap/grad see plain tensor ops

    @staticmethod
    def forward(x: Tensor, w: float, index: Tensor) -> Tensor:
        return gather_rows(x, index).lerp_(x, w)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, float, Tensor], output: Tensor) -> None:
        ctx.w, ctx.index = inputs[1], inputs[2]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        index = ctx.index
        rows = torch.arange(index.shape[0], dtype=index.dtype, device=index.device)
        inverse = torch.empty_like(index).scatter_(0, index, rows)
        return gather_rows(grad, inverse).lerp_(grad, ctx.w), None, None

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor, *_: Any) -> Tensor:
        return gather_rows(tangent, ctx.index).lerp_(tangent, ctx.w)


def row_weight(lam: Tensor, x: Tensor) -> Tensor:
    """``(B,)`` λ as a weight that broadcasts over ``x`` ``(B, ...)``, in ``x``'s dtype."""
    w = lam.view(-1, *([1] * (x.ndim - 1)))
    return w if w.dtype == x.dtype else w.to(x.dtype)


def batch_size_of(batch: Any, path: str = "batch") -> int:
    """The shared dim-0 size of every tensor leaf of a nested batch; raises if they disagree."""
    if not isinstance(batch, (Tensor, Mapping, tuple, list)):
        raise MixupError(f"{path} contains no tensor to mix (got {type(batch).__name__}).")
    sizes: dict[str, int] = {}
    for p, t in tensor_leaves(batch, path):
        if t.ndim == 0:
            raise MixupError(f"{p} is a 0-d tensor; expected a batch of shape (B, ...).")
        sizes[p] = t.shape[0]
    if not sizes:
        raise MixupError(f"{path} contains no tensor to mix.")
    distinct = set(sizes.values())
    if len(distinct) > 1:
        listing = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise MixupError(f"Every tensor of a batch must share its first (batch) dimension; got {listing}.")
    b = distinct.pop()
    if b == 0:
        raise MixupError(f"{path} is an empty batch (batch size 0); there is nothing to mix.")
    return b


def mix_batch(batch: Any, lam: float | Tensor, index: Tensor, *, inplace: bool = False, path: str = "batch",
              keep_unmixed: bool = False, permutation: bool = False) -> Any:
    """Mix every float leaf of a nested batch (tensor, dict, tuple, list, namedtuple, ``BatchEncoding``).

    The container types are kept. Integer or bool leaves (token ids, category codes, masks) are never
    interpolated: they raise a :class:`MixupError` naming the leaf. A leaf that is not a tensor raises too.

    Example:
        >>> b = {"a": torch.ones(2, 3), "b": (torch.zeros(2),)}
        >>> out = mix_batch(b, 0.5, torch.tensor([1, 0]))
        >>> sorted(out), type(out["b"]).__name__
        (['a', 'b'], 'tuple')
    """
    def one(t: Tensor, p: str) -> Tensor:
        _check_plan(t, lam, index, p)
        return lerp_rows(t, lam, index, inplace=inplace, keep_unmixed=keep_unmixed, permutation=permutation)

    return map_float_leaves(batch, one, path)


INTEGER_LEAF_HINT = ("integer and bool leaves are never interpolated. uint8 images: convert them with "
                      "x.float() / 255, or use MixupCollate(mixer, to_float=True); token ids and category codes: "
                      "mix them in embedding space (mixup_any.hooks.attach / mixup_any.text / mixup_any.tabular); "
                      "masks: leave them out of the batch given to the mixer.")


def map_tensors(batch: Any, fn: Callable[[Tensor, str], Any], path: str = "batch") -> Any:
    """Apply ``fn(tensor, path)`` to every tensor leaf of a nested batch, keeping the container types.

    The one walker over nested batches: dicts (any ``Mapping``), tuples, lists and namedtuples. A leaf
    that is not a tensor raises a :class:`MixupError`.
    """
    if isinstance(batch, Tensor):
        return fn(batch, path)
    if isinstance(batch, Mapping):
        items = {k: map_tensors(v, fn, f"{path}[{k!r}]") for k, v in batch.items()}
        rebuild: Any = type(batch)  # any Mapping subclass; its constructor is not known
        try:
            return rebuild(items)
        except TypeError:
            return items
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(map_tensors(v, fn, f"{path}.{f}")
                             for f, v in zip(batch._fields, batch, strict=True)))
    if isinstance(batch, (tuple, list)):
        return type(batch)(map_tensors(v, fn, f"{path}[{i}]") for i, v in enumerate(batch))
    raise MixupError(
        f"{path} is a {type(batch).__name__}, not a tensor; a batch given to a mixer may only hold tensors "
        "in dicts, tuples and lists. Pass the non-tensor parts around the mixer."
    )


def tensor_leaves(batch: Any, path: str = "batch") -> list[tuple[str, Tensor]]:
    """``(path, tensor)`` for every leaf of a nested batch (dict / tuple / list); other leaves raise."""
    leaves: list[tuple[str, Tensor]] = []

    def collect(t: Tensor, p: str) -> Tensor:
        leaves.append((p, t))
        return t

    map_tensors(batch, collect, path)
    return leaves


def map_float_leaves(batch: Any, fn: Callable[[Tensor, str], Tensor], path: str = "batch", *,
                     integer_hint: str = INTEGER_LEAF_HINT) -> Any:
    """Apply ``fn(tensor, path)`` to every float leaf of a nested batch, keeping the container types.

    Integer or bool leaves raise a :class:`MixupError` naming the leaf, followed by ``integer_hint``;
    a leaf that is not a tensor raises too.
    """
    def float_only(t: Tensor, p: str) -> Tensor:
        if not t.is_floating_point():
            raise MixupError(f"{p} is a {t.dtype} tensor of shape {tuple(t.shape)}; {integer_hint}")
        return fn(t, p)

    return map_tensors(batch, float_only, path)


def check_class_indices(y: Tensor, num_classes: int, what: str = "targets") -> None:
    """Raise if class indices are not integers in ``[0, num_classes)``."""
    if y.is_floating_point() or y.is_complex():
        raise MixupError(f"Class indices must be an integer tensor, got {y.dtype}.")
    check_in_range(y, num_classes,
                   lambda v: f"{what} hold class index {v}, outside [0, num_classes={num_classes}). Pass the right "
                             "num_classes, or remap the labels to 0..num_classes-1.",
                   f"{what} hold a class index outside [0, {num_classes})")


def smooth(y: Tensor, label_smoothing: float, kind: str) -> Tensor:
    """Label smoothing of a float target: towards ``1/C`` (``soft``) or towards ``0.5`` (``multilabel``)."""
    if label_smoothing == 0.0:
        return y
    if kind == "multilabel":
        return y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
