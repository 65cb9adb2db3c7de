"""Mixup for graphs with PyTorch Geometric (the ``graph`` extra: ``pip install 'mixup-any[graph]'``).

* :class:`GraphMixer` — graph-level manifold mixup at the readout (one plan row per graph),
  ``attach(GraphMixer(mixer), model, at="pool")``; :func:`graph_sites` lists the sites of a model called on
  a ``Batch``.
* :class:`IfMixup` — input-level graph mixup (ifMixup): pairs of graphs aligned by node index, node
  features interpolated, both edge sets kept with weights λ and 1-λ; vectorized over the batch.
* :func:`node_plan` — node-level manifold mixup for node classification: a plan that mixes the
  training nodes among themselves and leaves the others untouched (``attach(..., at=hidden layer)``).

Importing this subpackage imports ``torch_geometric``; ``import mixup_any`` does not.
"""

from __future__ import annotations

from .ifmixup import IfMixup, mix_graphs
from .nodes import node_plan
from .readout import GraphMixer, graph_sites

__all__ = ["GraphMixer", "IfMixup", "graph_sites", "mix_graphs", "node_plan"]
