"""MixupCollate inside a real DataLoader: uint8 conversion, mixed targets, per-worker reseeding."""

from __future__ import annotations

import collections

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mixup_any import CutMix, MixedTarget, MixUp, MixupCollate, MixupError, mixed_loss


class Images(Dataset):
    def __init__(self, n: int = 32, dict_samples: bool = False) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)
        self.y = torch.randint(0, 4, (n,), generator=g)
        self.dict_samples = dict_samples

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        if self.dict_samples:
            return {"image": self.x[i], "label": self.y[i]}
        return self.x[i], self.y[i]


def load(num_workers: int, mixer, seed: int = 0, **kw):
    collate = MixupCollate(mixer, to_float=True, **kw)
    return list(DataLoader(Images(dict_samples="input_key" in kw), batch_size=8, num_workers=num_workers,
                           collate_fn=collate, generator=torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batches_are_float_mixed_and_trainable(num_workers):
    batches = load(num_workers, MixUp(alpha=1.0, per_sample=True, num_classes=4, seed=1))
    assert len(batches) == 4
    for x, t in batches:
        assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        assert isinstance(t, MixedTarget) and t.mixed
        torch.testing.assert_close(t.soft().sum(-1), torch.ones(8))
        logits = torch.randn(8, 4, requires_grad=True)
        mixed_loss(torch.nn.CrossEntropyLoss(), logits, t).backward()


def test_workers_draw_different_plans_and_runs_replay():
    mixer = CutMix(per_sample=True, num_classes=4, seed=3)
    a = load(2, mixer, seed=7)
    lams = [tuple(t.lam.tolist()) for _, t in a]
    assert len(set(lams)) == len(lams)  # batches 0/1 come from workers 0/1: not the same plan
    b = load(2, mixer, seed=7)
    assert all(torch.equal(xa, xb) and torch.equal(ta.lam_rows(), tb.lam_rows()) for (xa, ta), (xb, tb) in zip(a, b, strict=True))


def test_no_workers_uses_the_mixers_generator():
    a = load(0, MixUp(alpha=1.0, per_sample=True, seed=5))
    b = load(0, MixUp(alpha=1.0, per_sample=True, seed=5))
    assert all(torch.equal(ta.lam_rows(), tb.lam_rows()) for (_, ta), (_, tb) in zip(a, b, strict=True))


def test_dict_batches():
    batches = load(0, MixUp(seed=0), input_key="image", target_key="label")
    assert set(batches[0]) == {"image", "label"} and isinstance(batches[0]["label"], MixedTarget)


def test_scale_and_dtype():
    collate = MixupCollate(MixUp(lam=1.0), to_float=torch.float64, scale=2.0)
    x, _ = collate([(torch.tensor([3], dtype=torch.uint8), 0), (torch.tensor([4], dtype=torch.uint8), 1)])
    assert x.dtype == torch.float64 and x.tolist() == [[6.0], [8.0]]


def test_nested_inputs_are_converted_leaf_by_leaf():
    # a namedtuple of uint8 tensors (and a list beside it) keeps its type; each leaf is scaled to [0, 1]
    Pair = collections.namedtuple("Pair", "rgb depth")
    sample = (Pair(torch.full((2,), 255, dtype=torch.uint8), torch.zeros(2, dtype=torch.uint8)), 0)
    x, _ = MixupCollate(MixUp(lam=1.0), to_float=True)([sample, sample])
    assert type(x) is Pair and x.rgb.tolist() == [[1.0, 1.0]] * 2 and x.depth.dtype == torch.float32


def test_errors():
    collate = MixupCollate(CutMix())
    with pytest.raises(MixupError, match="needs float inputs"):
        collate([(torch.zeros(3, 8, 8, dtype=torch.uint8), 0)] * 2)
    with pytest.raises(MixupError, match="never interpolated"):
        MixupCollate(MixUp())([(torch.zeros(3, dtype=torch.uint8), 0)] * 2)
    with pytest.raises(MixupError, match="needs a Mixer"):
        MixupCollate(lambda x: x)
    with pytest.raises(MixupError, match="to_float must be"):
        MixupCollate(MixUp(), to_float=torch.int32)
    with pytest.raises(MixupError, match="input_key='img' is not in the collated batch"):
        MixupCollate(MixUp(), input_key="img")([{"image": torch.zeros(2), "label": 0}] * 2)


def test_complex_inputs_are_not_silently_cast():
    with pytest.raises(MixupError, match="to_float converts integer or bool inputs"):
        MixupCollate(MixUp(), to_float=True)([(torch.zeros(2, dtype=torch.complex64), 0)] * 2)
