"""C-Mixup with partners from the whole training set (Yao et al., 2022), as the regressor trains it.

Each batch row draws its partner among all training rows by label distance
(:func:`~mixup_any.sampling.label_distance_partners` with the training set as the pool); the partners are
appended to the batch (``[rows; partners]``, ``2B`` rows) and :class:`AppendedPartners` pairs row ``i``
with row ``B + i``, so one ordinary :class:`~mixup_any.MixUp` draw mixes them. The partners pair with
themselves and stay unmixed; the training loss keeps only the first ``B`` rows.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..params import appended_partners_index

__all__: list[str] = []  # internal: the public names are re-exported by the package


class AppendedPartners:
    """Pairing of a batch ``[rows; partners]`` of ``2B`` rows: row ``i`` pairs with ``B + i``, and each
    partner with itself (so it stays unmixed).

    Example:
        >>> AppendedPartners()(6).tolist()
        [3, 4, 5, 3, 4, 5]
    """

    def __call__(self, batch_size: int, *, labels: Tensor | None = None, generator: Any = None,
                 device: Any = None) -> Tensor:
        return appended_partners_index(batch_size // 2, device)

    def __repr__(self) -> str:
        return "label_distance over the whole training set"
