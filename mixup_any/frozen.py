"""Frozen backbones: run the backbone once, cache its features, then mix the cache to train a head.

Mixing the cached features equals mixing with a hook at the end of the frozen part (a frozen backbone in
eval mode computes the same features every epoch), so an epoch costs a head forward and backward only. For
a site inside the frozen part, use :func:`mixup_any.attach` on the whole model instead.

Example:
    >>> from mixup_any import MixUp, mixed_loss
    >>> backbone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten())
    >>> head = nn.Linear(4 * 6 * 6, 3)
    >>> x, y = torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,))
    >>> cache = cache_features(backbone, (x, y), batch_size=8)
    >>> cache.features.shape
    torch.Size([20, 144])
    >>> mixer, opt = MixUp(alpha=2.0, num_classes=3, seed=0), torch.optim.SGD(head.parameters(), lr=0.1)
    >>> for feats, yb in cache.batches(8, generator=torch.Generator().manual_seed(0)):
    ...     feats, target = mixer(feats, yb)
    ...     loss = mixed_loss(F.cross_entropy, head(feats), target)
    ...     opt.zero_grad(); loss.backward(); opt.step()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .exceptions import MixupError
from .sites import select_output

__all__ = ["cache_features"]


@dataclass(frozen=True)
class FeatureCache:
    """Features of a frozen backbone, computed once, with their targets.

    Attributes:
        features: ``(N, ...)`` detached backbone outputs.
        targets: ``(N, ...)`` targets in the same order, or ``None``.

    Example:
        >>> cache = FeatureCache(torch.arange(10.0).view(5, 2), torch.arange(5))
        >>> [yb.tolist() for _, yb in cache.batches(2, shuffle=False)]
        [[0, 1], [2, 3], [4]]
    """

    features: Tensor
    targets: Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.features, Tensor) or self.features.ndim == 0:
            raise MixupError(f"FeatureCache.features must be a (N, ...) tensor, got {type(self.features).__name__}.")
        if self.targets is not None and (self.targets.ndim == 0 or self.targets.shape[0] != self.features.shape[0]):
            raise MixupError(
                f"FeatureCache has {self.features.shape[0]} feature rows but targets of shape "
                f"{tuple(self.targets.shape)}."
            )

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[tuple[Tensor, Tensor | None]]:
        """Yield ``(features, targets)`` batches; the order comes from ``generator`` when shuffling."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise MixupError(f"batch_size must be a positive int, got {batch_size!r}.")
        n = self.features.shape[0]
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        order = order[: n - n % batch_size if drop_last else n]
        # the order copied to each tensor's device once, not once per batch
        rows = order.to(self.features.device).split(batch_size)
        target_rows = rows if self.targets is None else order.to(self.targets.device).split(batch_size)
        for idx, target_idx in zip(rows, target_rows, strict=True):
            yield self.features[idx], None if self.targets is None else self.targets[target_idx]


def cache_features(
    backbone: nn.Module,
    data: Tensor | tuple[Tensor, Tensor] | Iterable[Any],
    *,
    batch_size: int = 256,
    output: int | str | None = None,
    device: torch.device | str | None = None,
) -> FeatureCache:
    """Run a frozen ``backbone`` once over ``data`` (eval mode, no grad) and keep its outputs.

    Args:
        backbone: the frozen part; every module's ``training`` flag is restored afterwards.
        data: an input tensor ``(N, ...)``, an ``(inputs, targets)`` pair of tensors, or an iterable of
            batches (a ``DataLoader`` yielding ``x`` or ``(x, y, ...)``); its order is kept, so use an
            unshuffled loader.
        batch_size: rows per backbone forward for tensor data.
        output: which tensor of the backbone output to keep (as ``attach(output=...)``).
        device: where to store the cache (default: where the backbone put its outputs).

    Returns:
        a :class:`FeatureCache` with ``features`` ``(N, ...)`` and the targets (if the data had any).
    """
    if not isinstance(backbone, nn.Module):
        raise MixupError(f"cache_features() needs an nn.Module backbone, got {type(backbone).__name__}.")
    if isinstance(data, Tensor):
        data = zip(data.split(batch_size))
    elif isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        if data[0].shape[0] != data[1].shape[0]:
            raise MixupError(f"cache_features got inputs with {data[0].shape[0]} rows and targets with "
                             f"{data[1].shape[0]}.")
        data = zip(data[0].split(batch_size), data[1].split(batch_size), strict=True)
    flags = [(m, m.training) for m in backbone.modules()]
    feats: list[Tensor] = []
    targets: list[Tensor] = []
    try:
        backbone.eval()
        with torch.no_grad():
            for batch in data:  # x, (x,) or (x, y, ...)
                parts = batch if isinstance(batch, (tuple, list)) else (batch,)
                xb, yb = parts[0], parts[1] if len(parts) > 1 else None
                t, _ = select_output(backbone(xb), output, "backbone output", backbone)
                feats.append(t.detach() if device is None else t.detach().to(device))
                if yb is not None:
                    targets.append(yb if device is None else yb.to(device))
    finally:
        for m, flag in flags:
            m.training = flag
    if not feats:
        raise MixupError("cache_features() got no data (an empty tensor or loader).")
    if targets and len(targets) != len(feats):
        raise MixupError("cache_features(): some batches had targets and some did not.")
    return FeatureCache(torch.cat(feats), torch.cat(targets) if targets else None)
