"""Pure, vectorized kernels: mix a tensor or a nested batch, build soft targets.

Nothing here works in place unless asked (``inplace=True`` or ``out=``), so the kernels are safe
inside an autograd graph (hidden activations) and never change the caller's tensors.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError

__all__ = ["mix", "mix_batch", "batch_size_of", "tensor_leaves", "map_float_leaves", "check_partner_index", "one_hot", "smooth"]


def _check_plan(x: Tensor, lam: Tensor, index: Tensor, what: str = "x", *, check_index: bool = True) -> None:
    if not isinstance(lam, Tensor) or not isinstance(index, Tensor):
        raise MixupError(
            f"lam and index must be tensors of shape (B,), got {type(lam).__name__} and {type(index).__name__}."
        )
    if x.ndim == 0:
        raise MixupError(f"Cannot mix a 0-d tensor ({what}); expected a batch of shape (B, ...).")
    if lam.shape != (x.shape[0],) or index.shape != (x.shape[0],):
        raise MixupError(
            f"{what} has batch size {x.shape[0]} (shape {tuple(x.shape)}), but the mixing plan is for "
            f"lam {tuple(lam.shape)} and index {tuple(index.shape)}: every input of a batch must share dim 0."
        )
    if check_index:
        check_partner_index(index, x.shape[0])


def check_partner_index(index: Tensor, batch_size: int) -> None:
    """Raise if ``index`` is not an integer tensor of partners in ``[0, batch_size)``.

    Checked at once on CPU; on accelerators and inside ``torch.compile`` it is an asynchronous device
    assertion, so the per-batch path never waits for the device.
    """
    if index.dtype not in (torch.int64, torch.int32):
        raise MixupError(f"index must be an int64 (or int32) tensor of partner rows, got {index.dtype}.")
    if index.numel() == 0:
        return
    compiling = torch.compiler.is_compiling()
    if not compiling:
        # a plan's index is checked once, not at every site and tensor it mixes (same tensor, unchanged)
        seen = _CHECKED_INDEX.get(id(index))
        if seen is not None and seen[0]() is index and seen[1] == index._version and seen[2] == batch_size:
            return
    if index.device.type == "cpu" and not compiling:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= batch_size:
            raise MixupError(
                f"index holds partner row {hi if hi >= batch_size else lo}, outside [0, {batch_size}) for a batch "
                f"of {batch_size} rows: row i is mixed with row index[i] of the same batch."
            )
    else:
        torch._assert_async(((index >= 0) & (index < batch_size)).all(), f"index holds a partner outside [0, {batch_size})")
    if not compiling:
        _remember_checked(index, batch_size)


def _remember_checked(index: Tensor, batch_size: int) -> None:
    """Record ``index`` as a valid partner index for ``batch_size`` rows (valid by construction or checked)."""
    if len(_CHECKED_INDEX) >= 16:
        _CHECKED_INDEX.clear()
    _CHECKED_INDEX[id(index)] = (weakref.ref(index), index._version, batch_size)


# id(index) -> (weak reference, version counter, batch size) of the last indices that passed the check
_CHECKED_INDEX: dict[int, tuple[weakref.ref, int, int]] = {}


def mix(
    x: Tensor,
    lam: Tensor,
    index: Tensor,
    *,
    out: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    """Return ``lam * x + (1 - lam) * x[index]``, ``lam`` broadcast over the non-batch dims.

    Args:
        x: ``(B, ...)`` floating-point tensor (any dtype, device and memory format; all kept).
        lam: ``(B,)`` weight of each row's own sample.
        index: ``(B,)`` partner of each row.
        out: optional preallocated result, shape and dtype of ``x``.
        inplace: write the result into ``x`` (never do this to activations that autograd needs).

    Rows with ``lam == 1`` come back bit-for-bit unchanged (``torch.lerp`` is exact at its ends).

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
               "embedding space (mixup_any.hooks.attach at the embedding, mixup_any.tabular, mixup_any.text), "
               "or cast with .float() if they really are continuous values.")
        )
    _check_plan(x, lam, index)
    return _mix_checked(x, lam, index, out=out, inplace=inplace)


def _mix_checked(x: Tensor, lam: Tensor, index: Tensor, *, out: Tensor | None, inplace: bool) -> Tensor:
    """:func:`mix` after its checks of ``x``, ``lam`` and ``index`` (``mix_batch`` checks the index once)."""
    if out is not None and not inplace and (out.shape != x.shape or out.dtype != x.dtype):
        raise MixupError(
            f"out must have the shape and dtype of x: x is {tuple(x.shape)} {x.dtype}, "
            f"out is {tuple(out.shape)} {out.dtype}."
        )
    if not (torch.is_grad_enabled() and (x.requires_grad or lam.requires_grad)):
        # fast paths write through out= views, which autograd does not support: they skip graphs
        fast = _mix_rows(x, lam, index, out=out, inplace=inplace)
        if fast is None:
            fast = _mix_flat(x, lam, index, out=out, inplace=inplace)
        if fast is not None:
            return fast
    w = lam.to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.ndim - 1)))
    idx = index.to(x.device)
    # advanced indexing keeps channels_last, index_select does not; for contiguous x (most activations)
    # index_select is the same gather, and its backward (index_add) is cheaper than index_put(accumulate)
    partner = x.index_select(0, idx) if x.is_contiguous() else x[idx]
    if inplace:
        # partner is already a copy, so overwriting x cannot corrupt rows still to be read; the same
        # lerp(partner, x, w) as out of place, so both give bit-identical results in every dtype
        return torch.lerp(partner, x, w, out=x)
    if out is not None:
        return torch.lerp(partner, x, w, out=out)
    return torch.lerp(partner, x, w)


# Rows at least this large (bytes) go through the streaming path of _mix_rows.
_ROW_STREAM_BYTES = 32 * 1024


def _flat_rows(t: Tensor) -> Tensor | None:
    """A ``(B, N)`` view of ``t`` whose rows are dense, or ``None`` (any layout but plain or channels_last)."""
    if t.numel() == 0:  # a (B, N) view of no elements is ambiguous; the gathered kernel handles it
        return None
    if t.is_contiguous():
        return t.view(t.shape[0], -1)
    if t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
    if t.ndim == 5 and t.is_contiguous(memory_format=torch.channels_last_3d):
        return t.permute(0, 2, 3, 4, 1).reshape(t.shape[0], -1)
    return None


def _mix_flat(x: Tensor, lam: Tensor, index: Tensor, *, out: Tensor | None, inplace: bool) -> Tensor | None:
    """The gathered kernel on ``(B, N)`` row views: ``index_select`` of dense rows is several times faster
    than advanced indexing of small rows, and the views keep any memory format. ``None`` to fall back."""
    xr = _flat_rows(x)
    if xr is None:
        return None
    res = x if inplace else (out if out is not None else torch.empty_like(x))
    if res is not x and res.stride() != x.stride():
        return None
    rr = _flat_rows(res)
    if rr is None:
        return None
    w = lam.to(device=x.device, dtype=x.dtype).view(-1, 1)
    # partner is a copy, so writing into x (inplace) cannot corrupt rows still to be read
    torch.lerp(xr.index_select(0, index.to(x.device)), xr, w, out=rr)
    return res


def _mix_rows(x: Tensor, lam: Tensor, index: Tensor, *, out: Tensor | None, inplace: bool) -> Tensor | None:
    """Streaming kernel for large CPU rows: one ``lerp`` per row straight from ``x[index[i]]`` into the result.

    Gathering ``x[index]`` first costs a full extra batch of memory traffic (and page faults on a fresh
    buffer); reading each partner row where it lies makes one pass that reads two rows and writes one,
    the memory-bandwidth floor. This needs ``lam`` and ``index`` on the host, so it only runs for CPU
    tensors (where ``.tolist()`` is not a device sync), on rows of at least
    ``_ROW_STREAM_BYTES`` (the per-row Python call is then negligible). Returns ``None`` to fall back.
    The result is bit-identical to the gathered ``torch.lerp(x[index], x, lam)``.
    """
    if x.device.type != "cpu" or lam.device.type != "cpu" or index.device.type != "cpu":
        return None
    if torch.compiler.is_compiling():  # .tolist() would break the graph; the gathered kernel traces
        return None
    b = x.shape[0]
    if b == 0 or x.numel() // b * x.element_size() < _ROW_STREAM_BYTES:
        return None
    xr = _flat_rows(x)
    if xr is None:
        return None
    idx = index.tolist()
    w = lam.to(x.dtype).tolist()  # the weight lerp would see, rounded to x's dtype as in the gathered path
    if inplace:
        return _mix_rows_inplace(x, xr, idx, w)
    if out is None:
        out = torch.empty_like(x)  # preserve_format: channels_last stays channels_last
    if out.stride() != x.stride() or out.data_ptr() == x.data_ptr():
        return None
    orows = _flat_rows(out)
    if orows is None:
        return None
    for i in range(b):
        torch.lerp(xr[idx[i]], xr[i], w[i], out=orows[i])
    return out


def _mix_rows_inplace(x: Tensor, xr: Tensor, idx: list[int], w: list[float]) -> Tensor | None:
    """In-place streaming along the cycles of a permutation; one saved row per cycle, no batch copy.

    Writing row ``i`` needs the original of row ``idx[i]``; walking each cycle ``i → idx[i] → ...``
    in order reads every partner before it is overwritten, except the cycle's first row, which is saved.
    Returns ``None`` (fall back to the gathered path) when ``index`` is not a permutation.
    """
    b = len(idx)
    if sorted(idx) != list(range(b)):
        return None
    seen = [False] * b
    for start in range(b):
        if seen[start]:
            continue
        seen[start] = True
        if idx[start] == start:
            continue  # a row paired with itself is unchanged
        head = xr[start].clone()
        i = start
        while True:
            j = idx[i]
            src = head if j == start else xr[j]
            torch.lerp(src, xr[i], w[i], out=xr[i])
            if j == start:
                break
            seen[j] = True
            i = j
    return x


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


def mix_batch(batch: Any, lam: Tensor, index: Tensor, *, inplace: bool = False, path: str = "batch") -> Any:
    """Mix every float leaf of a nested batch (tensor, dict, tuple, list, namedtuple, ``BatchEncoding``).

    The container types are kept. Integer or bool leaves (token ids, category codes, masks) are never
    interpolated: they raise a :class:`MixupError` naming the leaf. A leaf that is not a tensor raises too.

    Example:
        >>> b = {"a": torch.ones(2, 3), "b": (torch.zeros(2),)}
        >>> out = mix_batch(b, torch.tensor([0.5, 0.5]), torch.tensor([1, 0]))
        >>> sorted(out), type(out["b"]).__name__
        (['a', 'b'], 'tuple')
    """
    if isinstance(index, Tensor) and index.ndim == 1:  # once per batch, not per leaf
        check_partner_index(index, index.shape[0])
    return _mix_batch(batch, lam, index, inplace=inplace, path=path)


_INTEGER_LEAF_HINT = ("integer and bool leaves are never interpolated. uint8 images: convert them with "
                      "x.float() / 255, or use MixupCollate(mixer, to_float=True); token ids and category codes: "
                      "mix them in embedding space (mixup_any.hooks.attach / mixup_any.text / mixup_any.tabular); "
                      "masks: leave them out of the batch given to the mixer.")


def _not_a_tensor(obj: Any, path: str) -> MixupError:
    return MixupError(
        f"{path} is a {type(obj).__name__}, not a tensor; a batch given to a mixer may only hold tensors "
        "in dicts, tuples and lists. Pass the non-tensor parts around the mixer."
    )


def tensor_leaves(batch: Any, path: str = "batch") -> list[tuple[str, Tensor]]:
    """``(path, tensor)`` for every leaf of a nested batch (dict / tuple / list); other leaves raise."""
    if isinstance(batch, Tensor):
        return [(path, batch)]
    if isinstance(batch, Mapping):
        return [leaf for k, v in batch.items() for leaf in tensor_leaves(v, f"{path}[{k!r}]")]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return [leaf for f, v in zip(batch._fields, batch, strict=True) for leaf in tensor_leaves(v, f"{path}.{f}")]
    if isinstance(batch, (tuple, list)):
        return [leaf for i, v in enumerate(batch) for leaf in tensor_leaves(v, f"{path}[{i}]")]
    raise _not_a_tensor(batch, path)


def map_float_leaves(batch: Any, fn: Callable[[Tensor, str], Tensor], path: str = "batch", *,
                     integer_hint: str = _INTEGER_LEAF_HINT) -> Any:
    """Apply ``fn(tensor, path)`` to every float leaf of a nested batch, keeping the container types.

    Integer or bool leaves raise a :class:`MixupError` naming the leaf, followed by ``integer_hint``;
    a leaf that is not a tensor raises too.
    """
    if isinstance(batch, Tensor):
        if not batch.is_floating_point():
            raise MixupError(f"{path} is a {batch.dtype} tensor of shape {tuple(batch.shape)}; {integer_hint}")
        return fn(batch, path)
    if isinstance(batch, Mapping):
        items = {k: map_float_leaves(v, fn, f"{path}[{k!r}]", integer_hint=integer_hint) for k, v in batch.items()}
        return _rebuild_mapping(batch, items)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(map_float_leaves(v, fn, f"{path}.{f}", integer_hint=integer_hint)
                             for f, v in zip(batch._fields, batch, strict=True)))
    if isinstance(batch, (tuple, list)):
        return type(batch)(map_float_leaves(v, fn, f"{path}[{i}]", integer_hint=integer_hint)
                           for i, v in enumerate(batch))
    raise _not_a_tensor(batch, path)


def _mix_batch(batch: Any, lam: Tensor, index: Tensor, *, inplace: bool, path: str) -> Any:
    def one(t: Tensor, p: str) -> Tensor:
        _check_plan(t, lam, index, p, check_index=False)
        return _mix_checked(t, lam, index, out=None, inplace=inplace)

    return map_float_leaves(batch, one, path)


def _rebuild_mapping(original: Mapping, items: dict) -> Mapping:
    try:
        new = type(original)(items)
    except TypeError:
        return items
    return new


def one_hot(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(B,)`` class indices to ``(B, C)`` one-hot, checked against ``num_classes``."""
    check_class_indices(y, num_classes)
    out = torch.zeros(*y.shape, num_classes, dtype=dtype, device=y.device)
    return out.scatter_(-1, y.long().unsqueeze(-1), 1.0)


def check_class_indices(y: Tensor, num_classes: int, what: str = "targets") -> None:
    """Raise if class indices are outside ``[0, num_classes)``.

    On CPU this is checked at once with a clear message; on accelerators, and inside ``torch.compile``
    (where reading a value back would break the graph), it is an asynchronous device assertion, so the
    per-batch path never waits for the device.
    """
    if y.is_floating_point() or y.is_complex():
        raise MixupError(f"Class indices must be an integer tensor, got {y.dtype}.")
    if y.numel() == 0:
        return
    if y.device.type == "cpu" and not torch.compiler.is_compiling():  # compiled: the async check below
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise MixupError(
                f"{what} hold class index {hi if hi >= num_classes else lo}, outside [0, num_classes={num_classes}). "
                "Pass the right num_classes, or remap the labels to 0..num_classes-1."
            )
    else:
        torch._assert_async(((y >= 0) & (y < num_classes)).all(), f"{what} hold a class index outside [0, {num_classes})")


def smooth(y: Tensor, label_smoothing: float, kind: str) -> Tensor:
    """Label smoothing of a float target: towards ``1/C`` (``soft``) or towards ``0.5`` (``multilabel``)."""
    if label_smoothing == 0.0:
        return y
    if kind == "multilabel":
        return y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
