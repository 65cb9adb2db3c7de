"""Doctest namespace and skipping of modules whose optional dependencies are missing."""

import importlib.util

import pytest
import torch

# The tests use small tensors, and pytest -n 2 already runs one worker per core: more intra-op
# threads only oversubscribe the machine.
torch.set_num_threads(1)

collect_ignore_glob = ["examples/*", "benchmarks/*"]
_OPTIONAL = {"transformers": ["mixup_any/text/*", "mixup_any/integrations/hf.py"],
             "sklearn": ["mixup_any/tabular/*", "mixup_any/cli*"],
             "matplotlib": ["mixup_any/viz*"],
             "lightning": ["mixup_any/integrations/lightning.py"],
             "torch_geometric": ["mixup_any/graph/*"]}
for _mod, _globs in _OPTIONAL.items():
    if importlib.util.find_spec(_mod) is None:
        collect_ignore_glob += _globs


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import torch.nn as nn
    import torch.nn.functional as F

    doctest_namespace.update(torch=torch, nn=nn, F=F)
