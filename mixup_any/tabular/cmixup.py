"""C-Mixup with partners from the whole training set (Yao et al., 2022), as the regressor trains it.

Each batch row draws its partner among all training rows by label distance; the partners are
appended to the batch (``[rows; partners]``, ``2B`` rows) and :class:`AppendedPartners` pairs row ``i``
with row ``B + i``, so one ordinary :class:`~mixup_any.MixUp` draw mixes them. The partners pair with
themselves and stay unmixed; the training loss keeps only the first ``B`` rows.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__: list[str] = []  # internal: the public names are re-exported by the package


def label_distance_partners(y_batch: Tensor, y_train: Tensor, batch_rows: Tensor, train_rows: Tensor,
                            bandwidth: float, generator: torch.Generator) -> Tensor:
    """C-Mixup partners drawn from the whole training set, as row ids of the table.

    Row ``i`` takes training row ``j ≠ i`` with probability ∝ ``exp(-‖y_i - y_j‖² / (2·bandwidth²))``
    (Gumbel-max over a ``(B, N)`` matrix of kernel logits).

    Args:
        y_batch: ``(B, k)`` the batch's (standardised) targets; y_train: ``(N, k)`` the training set's.
        batch_rows: ``(B,)`` the batch's row ids; train_rows: ``(N,)`` the training set's row ids.
        bandwidth: σ of the Gaussian kernel. generator: the source of the Gumbel noise.

    Returns:
        ``(B,)`` row ids taken from ``train_rows``.

    Example:
        >>> y = torch.tensor([[0.0], [0.1], [5.0]])
        >>> rows = torch.arange(3)
        >>> label_distance_partners(y[:1], y, rows[:1], rows, 0.5, torch.Generator().manual_seed(0)).tolist()
        [1]
    """
    yb, yt = y_batch.reshape(y_batch.shape[0], -1).float(), y_train.reshape(y_train.shape[0], -1).float()
    logits = -torch.cdist(yb, yt).pow(2) / (2.0 * bandwidth**2)
    logits = logits.masked_fill(batch_rows[:, None] == train_rows[None, :], float("-inf"))
    u = torch.rand(logits.shape, generator=generator, device=generator.device).to(logits.device)
    return train_rows[(logits - torch.log(-torch.log(u.clamp(1e-12, 1.0 - 1e-7)))).argmax(1)]


class AppendedPartners:
    """Pairing of a batch ``[rows; partners]`` of ``2B`` rows: row ``i`` pairs with ``B + i``, and each
    partner with itself (so it stays unmixed).

    Example:
        >>> AppendedPartners()(6).tolist()
        [3, 4, 5, 3, 4, 5]
    """

    def __call__(self, batch_size: int, *, labels: Tensor | None = None, generator: Any = None,
                 device: Any = None) -> Tensor:
        tail = torch.arange(batch_size // 2, batch_size, device=device)
        return torch.cat([tail, tail])

    def __repr__(self) -> str:
        return "label_distance over the whole training set"
