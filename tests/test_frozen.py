"""Frozen-backbone recipe: cached + mixed features train the head exactly like a hook at the backbone output."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_any import MixUp, attach, mixed_loss
from mixup_any.exceptions import MixupError
from mixup_any.frozen import FeatureCache, cache_features


class Full(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout(0.3),
                                      nn.Conv2d(6, 4, 3), nn.ReLU(), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.head(self.backbone(x))


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def _train_with_hook(model, x, y, epochs, seed):
    model.train()
    model.backbone.eval()  # frozen: BatchNorm statistics and Dropout fixed
    model.backbone.requires_grad_(False)
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    order = torch.Generator().manual_seed(123)
    with attach(MixUp(alpha=1.0, num_classes=3, seed=seed), model, at="backbone") as h:
        for _ in range(epochs):
            for xb, yb in FeatureCache(x, y).batches(8, generator=order):
                h.arm(yb)
                loss = mixed_loss(F.cross_entropy, model(xb), h.target(yb))
                opt.zero_grad()
                loss.backward()
                opt.step()
    return model.head


def _train_on_cache(backbone, head, x, y, epochs, seed):
    cache = cache_features(backbone, (x, y), batch_size=16)
    mixer = MixUp(alpha=1.0, num_classes=3, seed=seed)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    order = torch.Generator().manual_seed(123)
    for _ in range(epochs):
        for fb, yb in cache.batches(8, generator=order):
            fb, target = mixer(fb, yb)
            loss = mixed_loss(F.cross_entropy, head(fb), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head


def test_cached_features_equal_hook_at_backbone_output():
    torch.manual_seed(0)
    model = Full()
    model.train()
    model.backbone(torch.randn(16, 1, 8, 8))  # give BatchNorm non-trivial running statistics
    x, y = _data()
    head0 = copy.deepcopy(model.head)
    flags = [m.training for m in model.backbone.modules()]
    cached_head = _train_on_cache(model.backbone, copy.deepcopy(head0), x, y, epochs=3, seed=7)
    assert [m.training for m in model.backbone.modules()] == flags
    hooked_head = _train_with_hook(model, x, y, epochs=3, seed=7)
    moved = sum((a - b).abs().sum() for a, b in zip(hooked_head.parameters(), head0.parameters(), strict=True))
    assert moved > 1e-3  # the heads did train
    for a, b in zip(hooked_head.parameters(), cached_head.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cache_from_loader_tensor_and_tuple_outputs():
    backbone = nn.Linear(3, 2)
    x, y = torch.randn(10, 3), torch.arange(10)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    a = cache_features(backbone, loader)
    b = cache_features(backbone, x, batch_size=3)
    with torch.no_grad():
        ref = backbone(x)
    torch.testing.assert_close(a.features, ref)
    torch.testing.assert_close(b.features, ref)
    assert torch.equal(a.targets, y) and b.targets is None and not a.features.requires_grad

    class TwoOut(nn.Module):
        def forward(self, x):
            return {"ids": torch.zeros(x.shape[0], dtype=torch.long), "h": x * 2}

    c = cache_features(TwoOut(), (x, y), output="h")
    torch.testing.assert_close(c.features, x * 2)


def test_batches_cover_every_row_once():
    cache = FeatureCache(torch.arange(11.0)[:, None], torch.arange(11))
    seen = torch.cat([yb for _, yb in cache.batches(4, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(11))
    assert [len(yb) for _, yb in cache.batches(4, drop_last=True)] == [4, 4]


def test_bad_input():
    with pytest.raises(MixupError, match="10 feature rows but targets of shape"):
        FeatureCache(torch.zeros(10, 2), torch.zeros(9))
    with pytest.raises(MixupError, match="batch_size must be a positive int"):
        list(FeatureCache(torch.zeros(3, 1)).batches(0))
    with pytest.raises(MixupError, match="inputs with 4 rows and targets with 3"):
        cache_features(nn.Identity(), (torch.zeros(4, 2), torch.zeros(3)))
    with pytest.raises(MixupError, match="got no data"):
        cache_features(nn.Identity(), [])
