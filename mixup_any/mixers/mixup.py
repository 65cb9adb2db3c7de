"""Input mixup (Zhang et al., 2018, https://arxiv.org/abs/1710.09412) for any float tensor or nested batch."""

from __future__ import annotations

from .base import Mixer

__all__ = ["MixUp"]


class MixUp(Mixer):
    """Mixup: ``x̃ = λ·x + (1-λ)·x[index]`` and the same for targets, λ ~ Beta(α, α).

    Works on any float batch ``(B, ...)`` — images, audio, time series, continuous features,
    embeddings — and on dicts / tuples / lists of them (every float leaf shares one draw).
    All arguments are those of :class:`mixup_any.mixers.base.Mixer`.

    Example:
        >>> mixer = MixUp(alpha=0.4, num_classes=3, seed=0)
        >>> x, target = mixer(torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> x.shape, target.lam.shape, target.soft().shape
        (torch.Size([4, 3, 8, 8]), torch.Size([4]), torch.Size([4, 3]))
    """
