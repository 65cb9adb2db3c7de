"""Pictures of a mix (matplotlib, the ``viz`` extra): samples, their mix and targets; batches; λ histograms.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no global
state, any backend); save it with ``fig.savefig(path)`` or display it in a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .exceptions import MixupError
from .extras import require
from .mixers.base import Mixer

__all__ = ["explain", "plot_mixed_batch", "plot_dense_batch"]

KINDS = ("auto", "image", "series", "tabular", "text")


def _figure(**kw: Any) -> Any:
    require("matplotlib", "viz", feature="mixup_any.viz")
    from matplotlib.figure import Figure

    return Figure(**kw)


def _grid(n: int, ncols: int, max_images: int, figsize: tuple[float, float] | None,
          cell: tuple[float, float]) -> tuple[Any, Any]:
    """A figure with a grid for ``min(n, max_images)`` panels, and those panels (the spare ones are hidden)."""
    n = min(n, max_images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig = _figure(figsize=figsize or (cell[0] * ncols, cell[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
    for ax in axes[n:]:
        ax.axis("off")
    return fig, axes[:n]


def _np(t: Any) -> Any:
    return t.detach().float().cpu().numpy() if isinstance(t, Tensor) else t


def _span(arrays: Sequence[Any]) -> tuple[float, float]:
    """The smallest and largest value over ``arrays`` (one scale for all panels, so the mix is comparable)."""
    return min(float(_np(a).min()) for a in arrays), max(float(_np(a).max()) for a in arrays)


def _kind_of(x: Any, kind: str) -> str:
    if kind not in KINDS:
        raise MixupError(f"kind must be one of {KINDS}, got {kind!r}.")
    if kind != "auto":
        return kind
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], str):
        return "text"
    nd = x.ndim if isinstance(x, Tensor) else len(getattr(x, "shape", ()))
    if nd in (2, 3):
        return "image"
    if nd == 1:
        return "series"
    raise MixupError(f"Cannot guess how to draw a sample of shape {tuple(x.shape)}; pass kind=.")


def _draw_images(axes: Sequence[Any], images: Sequence[Tensor]) -> None:
    imgs = []
    for t in images:  # (C, H, W) -> (H, W, C); one channel -> (H, W)
        t = t.detach().float().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 3, 4) and t.shape[-1] not in (1, 3, 4):
            t = t.permute(1, 2, 0)
        imgs.append(t[..., 0] if t.ndim == 3 and t.shape[-1] == 1 else t)
    lo, hi = _span(imgs)
    for ax, t in zip(axes, imgs, strict=False):
        t = ((t - lo) / (hi - lo if hi > lo else 1.0)).clamp(0, 1)
        ax.imshow(t.numpy(), cmap="gray" if t.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])


def _draw_series(axes: Sequence[Any], series: Sequence[Tensor]) -> None:
    lo, hi = _span(series)
    pad = 0.05 * (hi - lo or 1.0)
    for ax, s, color in zip(axes, series, ("C0", "C1", "C2"), strict=False):
        arr = _np(s)
        if arr.ndim == 1:
            ax.plot(arr, color=color, lw=1.2)
        else:  # (C, L): one line per channel
            for c in range(arr.shape[0]):
                ax.plot(arr[c], lw=1.0)
        ax.set_ylim(lo - pad, hi + pad)


def _draw_tabular(axes: Sequence[Any], rows: Sequence[Tensor], feature_names: Sequence[str] | None) -> None:
    arrs = [_np(r).reshape(-1) for r in rows]
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(arrs[0].shape[0])]
    lo, hi = _span(arrs)
    pad = 0.05 * (hi - lo or 1.0)
    for ax, a, color in zip(axes, arrs, ("C0", "C1", "C2"), strict=False):
        ax.barh(range(len(a)), a, color=color)
        ax.set_yticks(range(len(a)))
        ax.set_yticklabels(names, fontsize=7)
        ax.set_xlim(min(lo, 0) - pad, max(hi, 0) + pad)
        ax.invert_yaxis()


def _draw_text(axes: Sequence[Any], tokens_a: Sequence[str], tokens_b: Sequence[str], weights: Any) -> None:
    from matplotlib.patches import Rectangle

    w = [float(v) for v in (_np(weights).reshape(-1) if hasattr(weights, "shape") else weights)]
    n = max(len(tokens_a), len(tokens_b))
    strips = ([(tokens_a, [1.0] * len(tokens_a), "C0")], [(tokens_b, [1.0] * len(tokens_b), "C1")],
              [(tokens_a, w, "C0"), (tokens_b, [1.0 - v for v in w], "C1")])
    for ax, rows in zip(axes, strips, strict=True):
        ax.set_xlim(0, n)
        ax.set_ylim(0, len(rows))
        ax.axis("off")
        for r, (toks, alpha, color) in enumerate(rows):
            y = len(rows) - r - 0.5
            for i, tok in enumerate(toks):
                a = max(0.0, min(1.0, alpha[i] if i < len(alpha) else 0.0))
                ax.add_patch(Rectangle((i + 0.05, y - 0.4), 0.9, 0.8, color=color, alpha=a * 0.6, lw=0))
                ax.text(i + 0.5, y, tok, ha="center", va="center", fontsize=7, rotation=90 if len(tok) > 4 else 0)
    axes[2].text(0, -0.1, "shade = per-token weight", transform=axes[2].transAxes, fontsize=7, va="top")


def _bars(ax: Any, values: Any, class_names: Sequence[str] | None, color: str) -> None:
    v = _np(values).reshape(-1)
    ax.bar(range(len(v)), v, color=color)
    ax.set_ylim(0, 1.05)
    ax.set_xticks(range(len(v)))
    ax.set_xticklabels(list(class_names) if class_names is not None else [str(i) for i in range(len(v))],
                       fontsize=7, rotation=90 if len(v) > 12 else 0)


def plot_mix(
    x_a: Any,
    x_b: Any,
    x_mix: Any,
    y_a: Tensor,
    y_b: Tensor,
    y_mix: Tensor,
    *,
    kind: str = "auto",
    lam: float | None = None,
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (9.0, 5.5),
) -> Any:
    """The explanatory figure: a, b and their mix on top; target a, target b and the mixed target below.

    Args:
        x_a: sample a: an image ``(C, H, W)`` / ``(H, W)``, a series ``(L,)`` / ``(C, L)``, a table row
            ``(F,)`` (``kind="tabular"``) or a list of tokens (``kind="text"``).
        x_b: sample b, like ``x_a``.
        x_mix: the mixed sample; for text, the ``(L,)`` weight of a's token at each position.
        y_a: ``(K,)`` target of a (one-hot or soft).
        y_b: ``(K,)`` target of b.
        y_mix: ``(K,)`` mixed target.
        kind: ``"image"``, ``"series"``, ``"tabular"``, ``"text"`` or ``"auto"`` (guessed from the shape).
        lam: shown in the titles when given.
        class_names: labels of the bars.
        feature_names: labels of tabular features.
        title: figure title.
        figsize: figure size in inches.

    Example:
        >>> fig = plot_mix(torch.rand(8, 8), torch.rand(8, 8), torch.rand(8, 8),
        ...                torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([0.7, 0.3]), lam=0.7)
        >>> len(fig.axes)
        6
    """
    kind = _kind_of(x_a, kind)
    fig = _figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(2, 3, height_ratios=[3, 2] if kind != "text" else [2, 2])
    top, bottom = axes[0], axes[1]
    if kind == "image":
        _draw_images(top, [x_a, x_b, x_mix])
    elif kind == "series":
        _draw_series(top, [x_a, x_b, x_mix])
    elif kind == "tabular":
        _draw_tabular(top, [x_a, x_b, x_mix], feature_names)
    else:
        if not (isinstance(x_a, (list, tuple)) and isinstance(x_b, (list, tuple))):
            raise MixupError("kind='text' needs x_a and x_b as lists of tokens and x_mix as per-token weights.")
        _draw_text(top, x_a, x_b, x_mix)
    for ax, y, color in zip(bottom, (y_a, y_b, y_mix), ("C0", "C1", "C2"), strict=True):
        _bars(ax, y, class_names, color)
    lam_a, lam_b = (f" (λ = {lam:.2f})", f" (1 − λ = {1 - lam:.2f})") if lam is not None else ("", "")
    titles = (f"sample a{lam_a}", f"sample b{lam_b}", "mix", "target a", "target b", "mixed target")
    for ax, t in zip(axes.reshape(-1), titles, strict=True):
        ax.set_title(t, fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def explain(
    mixer: Mixer,
    x: Tensor,
    y: Tensor,
    *,
    row: int = 0,
    num_classes: int | None = None,
    generator: torch.Generator | None = None,
    **kwargs: Any,
) -> Any:
    """Mix the batch ``(x, y)`` with ``mixer`` and draw :func:`plot_mix` for ``row``.

    Args:
        mixer: any mixer (``MixUp``, ``CutMix``, ``RandomChoice`` ...).
        x: ``(B, ...)`` float batch.
        y: ``(B,)`` class indices or ``(B, K)`` soft targets.
        row: which row to show.
        num_classes: ``K`` for class indices (else the mixer's ``num_classes``).
        generator: a generator for the draw (else the mixer's own).
        **kwargs: passed to :func:`plot_mix` (``kind``, ``class_names``, ``title`` ...).

    Example:
        >>> from mixup_any import MixUp
        >>> fig = explain(MixUp(alpha=1.0, seed=0), torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]), num_classes=4)
        >>> [a.get_title() for a in fig.axes][3:]
        ['target a', 'target b', 'mixed target']
    """
    params = mixer.sample(x.shape, labels=y, device=x.device, generator=generator)
    x_mix = mixer.mix(x, params)
    t = mixer.mix_target(y, params)
    nc = mixer.target_spec.num_classes
    k = num_classes if num_classes is not None else nc if isinstance(nc, int) else None
    j = int(params.index[row])
    if t.kind == "index":
        soft = t.soft(num_classes=k)
        ya, yb = torch.eye(soft.shape[-1])[[int(y[row]), int(y[j])]]
    else:
        soft = t.dense()
        ya, yb = t.y_a[row], t.y_b[row]
    return plot_mix(x[row], x[j], x_mix[row], ya, yb, soft[row], lam=float(params.lam_rows()[row]), **kwargs)


def plot_mixed_batch(
    x: Tensor,
    lam: Tensor,
    *,
    ncols: int = 8,
    max_images: int = 32,
    figsize: tuple[float, float] | None = None,
) -> Any:
    """A grid of a mixed image batch ``(B, C, H, W)`` (or ``(B, H, W)``), each titled with its λ.

    Example:
        >>> fig = plot_mixed_batch(torch.rand(6, 3, 8, 8), torch.linspace(0, 1, 6), ncols=3)
        >>> [a.get_title() for a in fig.axes][:2]
        ['λ = 0.00', 'λ = 0.20']
    """
    if x.ndim not in (3, 4):
        raise MixupError(f"plot_mixed_batch needs images (B, C, H, W) or (B, H, W), got shape {tuple(x.shape)}.")
    fig, axes = _grid(x.shape[0], ncols, max_images, figsize, (1.6, 1.8))
    lam_c = lam.detach().float().cpu()
    for i, ax in enumerate(axes):
        _draw_images([ax], [x[i]])
        ax.set_title(f"λ = {float(lam_c[i]):.2f}", fontsize=8)
    return fig


def plot_lambda_hist(
    source: Mixer | Tensor,
    *,
    n: int = 10_000,
    shape: Sequence[int] = (1, 32, 32),
    bins: int = 40,
    generator: torch.Generator | None = None,
    figsize: tuple[float, float] = (5.0, 3.0),
) -> Any:
    """Histogram of λ: given values, or ``n`` draws of a mixer (for a batch of ``(n, *shape)``).

    CutMix's λ is the corrected kept area, so its histogram shows the effect of clipping.

    Example:
        >>> from mixup_any import MixUp
        >>> fig = plot_lambda_hist(MixUp(alpha=0.4, per_sample=True, seed=0), n=500)
        >>> fig.axes[0].get_xlabel()
        'λ (weight of the row’s own sample)'
    """
    if isinstance(source, Mixer):
        lam = source.sample((n, *shape), generator=generator).lam
        label = repr(source)
    elif isinstance(source, Tensor):
        lam = source
        label = f"{source.numel()} values"
    else:
        raise MixupError(f"plot_lambda_hist needs a Mixer or a tensor of λ, got {type(source).__name__}.")
    fig = _figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.hist(_np(lam).reshape(-1), bins=bins, range=(0.0, 1.0), color="C0")
    ax.set_xlabel("λ (weight of the row’s own sample)")
    ax.set_ylabel("count")
    ax.set_title(label, fontsize=8)
    return fig


def plot_dense_batch(
    images: Tensor | Sequence[Tensor],
    targets: Sequence[dict] | None = None,
    masks: Any = None,
    *,
    ncols: int = 4,
    max_images: int = 16,
    figsize: tuple[float, float] | None = None,
) -> Any:
    """Mixed detection or segmentation images with their boxes and masks.

    Args:
        images: ``(B, C, H, W)`` or a list of ``(C, H, W)`` (sizes may differ).
        targets: detection targets (XYXY pixel ``"boxes"``, ``"labels"``, optional ``"weights"``): each
            box is drawn with the opacity of its weight and titled with its label.
        masks: ``(B, H, W)`` class ids, or a :class:`~mixup_any.dense.MixedMask` (the pasted mask, or
            for a blend each pixel's heavier side), drawn over the image; ``ignore_index`` is left clear.

    Example:
        >>> t = [{"boxes": torch.tensor([[1.0, 1.0, 5.0, 6.0]]), "labels": torch.tensor([3]),
        ...       "weights": torch.tensor([0.6])}]
        >>> fig = plot_dense_batch([torch.rand(3, 8, 8)], t, torch.zeros(1, 8, 8, dtype=torch.long))
        >>> len(fig.axes[0].patches), fig.axes[0].texts[0].get_text()
        (1, '3 (0.60)')
    """
    from matplotlib.patches import Rectangle

    imgs = list(images.unbind(0)) if isinstance(images, Tensor) else list(images)
    if not imgs or not all(isinstance(x, Tensor) and x.ndim in (2, 3) for x in imgs):
        raise MixupError("plot_dense_batch needs images (B, C, H, W) or a list of (C, H, W) tensors.")
    ignore = 255
    if masks is not None and hasattr(masks, "mask_a"):  # a MixedMask: each pixel's heavier side
        ignore = masks.ignore_index
        masks = torch.where(masks.lam >= 0.5, masks.mask_a, masks.mask_b)
    fig, axes = _grid(len(imgs), ncols, max_images, figsize, (2.4, 2.4))
    for i, ax in enumerate(axes):
        x = imgs[i]
        _draw_images([ax], [x.mean(0) if x.ndim == 3 and x.shape[0] not in (1, 3) else x])  # other channels: grey
        if masks is not None:  # class ids over the image, ignore_index left clear
            m = masks[i].detach().cpu().long()
            labelled = m[m != ignore]
            ax.imshow(_np(m.float().masked_fill(m == ignore, float("nan"))), cmap="tab20", alpha=0.45,
                      interpolation="nearest", vmin=0, vmax=max(1.0, float(labelled.max()) if len(labelled) else 1.0))
        if targets is not None:  # XYXY pixel boxes, each with the opacity of its weight and its label
            t = targets[i]
            boxes = t["boxes"].detach().float().cpu()
            w = t.get("weights", torch.ones(len(boxes))).detach().float().cpu()
            labels = t.get("labels", torch.full((len(boxes),), -1)).detach().cpu()
            for (x1, y1, x2, y2), wk, lab in zip(boxes.tolist(), w.tolist(), labels.tolist(), strict=False):
                ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor="C1",
                                       lw=1.5, alpha=max(0.15, min(1.0, wk))))
                ax.text(x1 - 0.5, y1 - 0.5, f"{lab} ({wk:.2f})", color="C1", fontsize=6, va="bottom",
                        alpha=max(0.3, min(1.0, wk)))
    return fig
