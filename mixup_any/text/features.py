"""Pooled sentence features of a frozen encoder, computed once and reused every epoch: cache them with
``mixup_any.frozen.cache_features(SentenceEncoder(encoder), data)``, then mix them as plain float inputs
(``mixer(features, y)``) while training the head (senMixup)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..exceptions import MixupError

__all__ = ["SentenceEncoder", "pool"]

POOLINGS = ("mean", "cls", "last")


def pool(hidden: Tensor, attention_mask: Tensor | None, pooling: str = "mean") -> Tensor:
    """Pool token states ``(B, L, H)`` into sentence vectors ``(B, H)``.

    Args:
        hidden: ``(B, L, H)`` last hidden state.
        attention_mask: ``(B, L)``; ``None`` means every token counts.
        pooling: ``"mean"`` over attended tokens (sentence-transformers' default), ``"cls"`` (position 0)
            or ``"last"`` (last attended position, for decoder-only models with either padding side).

    Example:
        >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> pool(h, torch.tensor([[1, 1, 0]]))
        tensor([[2.]])
    """
    if pooling not in POOLINGS:
        raise MixupError(f"Unknown pooling {pooling!r}; expected one of {POOLINGS}.")
    if hidden.ndim != 3:
        raise MixupError(f"pool() needs token states of shape (B, L, H), got {tuple(hidden.shape)}.")
    if pooling == "cls":
        return hidden[:, 0]
    m = hidden.new_ones(hidden.shape[:2]) if attention_mask is None else attention_mask.to(hidden.dtype)
    if pooling == "mean":
        return (hidden * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0)
    pos = torch.arange(hidden.shape[1], device=hidden.device)
    last = (pos * (m > 0)).argmax(-1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class SentenceEncoder(nn.Module):
    """A text encoder plus pooling, as one module: ``forward(batch) -> (B, H)`` sentence vectors.

    ``batch`` is a dict of model inputs (``labels`` are dropped). This is the backbone to give to
    :func:`mixup_any.frozen.cache_features` (batches of model-input dicts, or ``(inputs, labels)`` pairs:
    the cache then keeps the labels), or to train end to end.

    Args:
        encoder: a bare Hugging Face encoder (``AutoModel``) returning ``last_hidden_state``, or any module
            whose first output is ``(B, L, H)``.
        pooling: see :func:`pool`.

    Example:
        >>> class Enc(nn.Module):
        ...     def forward(self, input_ids, attention_mask=None):
        ...         return (input_ids.float().unsqueeze(-1),)
        >>> SentenceEncoder(Enc())({"input_ids": torch.tensor([[1, 3], [5, 0]]),
        ...                         "attention_mask": torch.tensor([[1, 1], [1, 0]])})
        tensor([[2.],
                [5.]])
    """

    def __init__(self, encoder: nn.Module, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise MixupError(f"Unknown pooling {pooling!r}; expected one of {POOLINGS}.")
        self.encoder = encoder
        self.pooling = pooling

    def forward(self, batch: Mapping[str, Any]) -> Tensor:
        if not isinstance(batch, Mapping):
            raise MixupError(f"SentenceEncoder takes a dict of model inputs, got {type(batch).__name__}.")
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        res = self.encoder(**inputs)
        hidden = res["last_hidden_state"] if isinstance(res, Mapping) else res[0]
        return pool(hidden, inputs.get("attention_mask"), self.pooling)

