"""One contract over every input mixer: identity, targets, seeds, lam range, repr, layout, loop reference."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest
import torch
from _mix_reference import loop_reference

from mixup_any import CutMix, MixUp, RandomChoice

MIXERS = [
    MixUp(alpha=0.4, num_classes=5),
    MixUp(alpha=1.0, per_sample=True, num_classes=5),
    MixUp(alpha=1.0, p=0.5, per_sample_p=True, num_classes=5),
    CutMix(alpha=1.0, num_classes=5),
    CutMix(alpha=1.0, per_sample=True, num_classes=5),
    CutMix(alpha=1.0, num_classes=5),
    CutMix(alpha=0.5, min_area=0.1, max_area=0.6, per_sample=True, num_classes=5),
    RandomChoice([MixUp(alpha=0.8, num_classes=5), CutMix(num_classes=5)], weights=[0.5, 0.5]),
    RandomChoice([MixUp(alpha=0.8, num_classes=5), CutMix(per_sample=True, num_classes=5)], per_sample_member=True),
]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(b: int = 6, seed: int = 0):
    g = gen(seed)
    return torch.randn(b, 3, 8, 8, generator=g), torch.randint(0, 5, (b,), generator=g)


@pytest.mark.parametrize("mixer", MIXERS, ids=repr)
class TestMixerContract:
    def test_self_pairing_is_identity(self, mixer):
        x, _ = batch()
        for seed in range(5):
            p = mixer.sample(x.shape, generator=gen(seed))
            assert torch.equal(mixer.mix(x, replace(p, index=torch.arange(6))), x)

    def test_soft_targets_sum_to_one(self, mixer):
        x, y = batch()
        _, t = mixer(x, y, generator=gen(1))
        torch.testing.assert_close(t.soft().sum(-1), torch.ones(6))

    def test_same_seed_same_output(self, mixer):
        x, y = batch()
        a, ta = mixer(x, y, generator=gen(2))
        b, tb = mixer(x, y, generator=gen(2))
        assert torch.equal(a, b) and torch.equal(ta.lam_rows(), tb.lam_rows()) and torch.equal(ta.y_b, tb.y_b)

    def test_lam_in_unit_interval(self, mixer):
        for seed in range(10):
            lam = mixer.sample((16, 3, 8, 8), generator=gen(seed)).lam_rows()
            assert lam.shape == (16,) and lam.dtype == torch.float32
            assert bool(((lam >= 0) & (lam <= 1)).all())

    def test_repr_rebuilds(self, mixer):
        assert repr(type(mixer)(**mixer.get_params())) == repr(mixer)
        assert repr(pickle.loads(pickle.dumps(mixer))) == repr(mixer)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
    def test_channels_last_and_dtype_kept(self, mixer, dtype):
        x = batch()[0].to(dtype).contiguous(memory_format=torch.channels_last)
        out = mixer.mix(x, mixer.sample(x.shape, generator=gen(3)))
        assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)

    def test_equals_the_per_sample_loop_reference(self, mixer):
        x, _ = batch(12)
        for seed in range(6):
            p = mixer.sample(x.shape, generator=gen(seed))
            torch.testing.assert_close(mixer.mix(x, p), loop_reference(x, p), rtol=0, atol=1e-6)

    def test_input_is_not_mutated(self, mixer):
        x, y = batch()
        before = x.clone()
        mixer(x, y, generator=gen(4))
        assert torch.equal(x, before)

    def test_eval_is_exactly_identity(self, mixer):
        x, y = batch()
        mixer.eval()
        try:
            out, t = mixer(x, y)
            assert out is x and not t.mixed
        finally:
            mixer.train()
