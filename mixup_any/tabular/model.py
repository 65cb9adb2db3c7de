"""A built-in tabular model: one ``nn.Embedding`` per categorical variable, then an MLP."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..exceptions import MixupError
from ..sites import describe

__all__ = ["TabularMLP"]


def check_codes(x_cat: Tensor, cardinalities: Sequence[int]) -> None:
    """Raise MixupError if a ``(B, K)`` integer code is outside ``[0, cardinalities[k])``.

    Checked on CPU tensors only: on an accelerator the check would sync the host every batch.
    """
    if x_cat.device.type == "cpu" and x_cat.numel() and bool(((x_cat < 0) | (x_cat >= torch.tensor(cardinalities))).any()):
        raise MixupError(f"x_cat holds a code outside [0, cardinality) for cardinalities {list(cardinalities)}.")


def default_embedding_dim(cardinality: int) -> int:
    """A common rule of thumb: ``min(16, ceil(1.6 · cardinality ** 0.56))``."""
    return int(min(16, math.ceil(1.6 * cardinality**0.56)))


class TabularMLP(nn.Module):
    """Per-variable embeddings + MLP: ``forward(x_cont (B, D), x_cat (B, K) int64) -> (B, out_features)``.

    Hook sites: ``embeddings.j``, variable ``j``'s own ``nn.Embedding`` (``at="embeddings.*"`` mixes each
    variable in its own space); ``embedded``, every embedding side by side ``(B, sum(d_j))`` (the same in one
    kernel call); ``joined``, the MLP's input ``(B, D + sum(d_j))`` (with ``continuous_at_site=True``, the
    estimators' site). ``x_cat`` may also be the float one-hot blocks ``(B, sum(cardinalities))`` of
    ``categorical_mixing="onehot"``: each block times its embedding table equals the embedding lookup.

    Args:
        n_continuous: ``D``, width of the continuous input (may be 0).
        cardinalities: number of codes of each categorical variable (may be empty).
        out_features: number of outputs (classes, labels or regression targets).
        embedding_dim: one width for all variables, or ``None`` for :func:`default_embedding_dim`.
        hidden_sizes: widths of the hidden layers.
        dropout: dropout after each hidden layer.

    Example:
        >>> m = TabularMLP(3, [5, 4], out_features=2)
        >>> m(torch.randn(6, 3), torch.randint(0, 4, (6, 2))).shape
        torch.Size([6, 2])
    """

    def __init__(
        self,
        n_continuous: int,
        cardinalities: Sequence[int],
        out_features: int,
        *,
        embedding_dim: int | None = None,
        hidden_sizes: Sequence[int] = (128, 128),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.n_continuous = int(n_continuous)
        self.cardinalities = [int(c) for c in cardinalities]
        self.out_features = int(out_features)
        dims = [embedding_dim or default_embedding_dim(c) for c in self.cardinalities]
        self.embeddings = nn.ModuleList(nn.Embedding(c, d) for c, d in zip(self.cardinalities, dims, strict=True))
        self.embedded = nn.Identity()  # hook sites, see the class docstring
        self.joined = nn.Identity()
        layers: list[nn.Module] = []
        width = self.n_continuous + sum(dims)
        if width == 0:
            raise MixupError("TabularMLP needs at least one continuous column or categorical variable.")
        for h in hidden_sizes:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.mlp = nn.Sequential(*layers)

    def embed(self, x_cat: Tensor) -> list[Tensor]:
        """Embeddings of each variable, ``[(B, d_j)]``, from codes or from one-hot blocks."""
        if x_cat.is_floating_point():
            blocks = torch.split(x_cat, self.cardinalities, dim=1)
            tables = cast("list[nn.Embedding]", list(self.embeddings))  # nn.ModuleList is not generic
            return [F.linear(b, emb.weight.t()) for b, emb in zip(blocks, tables, strict=True)]
        return [emb(x_cat[:, j]) for j, emb in enumerate(self.embeddings)]

    def _check_inputs(self, x_cont: Any, x_cat: Any) -> None:
        """Clear errors for inputs the layers would reject with an IndexError or a shape error."""
        d, k, width = self.n_continuous, len(self.cardinalities), sum(self.cardinalities)
        if d and (not isinstance(x_cont, Tensor) or x_cont.ndim != 2 or x_cont.shape[1] != d
                  or not x_cont.is_floating_point()):
            raise MixupError(f"x_cont must be a float (B, {d}) tensor, got {describe(x_cont)}.")
        if k and (not isinstance(x_cat, Tensor) or x_cat.ndim != 2 or x_cat.is_complex()
                  or x_cat.shape[1] != (width if x_cat.is_floating_point() else k)):
            raise MixupError(f"x_cat must be (B, {k}) integer codes (or (B, {width}) float one-hot blocks), "
                             f"got {describe(x_cat)}.")
        if k and not x_cat.is_floating_point():
            check_codes(x_cat, self.cardinalities)
        if d and k and x_cont.shape[0] != x_cat.shape[0]:
            raise MixupError(f"x_cont has {x_cont.shape[0]} rows but x_cat has {x_cat.shape[0]}; they must match.")

    def forward(self, x_cont: Tensor | None, x_cat: Tensor | None = None) -> Tensor:
        self._check_inputs(x_cont, x_cat)
        parts = [x_cont] if x_cont is not None and self.n_continuous else []
        if x_cat is not None and self.embeddings:
            parts.append(self.embedded(torch.cat(self.embed(x_cat), dim=1)))
        return self.mlp(self.joined(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]))
