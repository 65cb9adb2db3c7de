"""RandomChoice: per-batch switching and per-sample combination of MixUp and CutMix, by composition."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from _mix_reference import loop_reference

from mixup_any import CutMix, MixUp, MixupError, RandomChoice
from mixup_any.params import Box, Choice


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pair(**kw):
    return RandomChoice([MixUp(alpha=0.8, num_classes=5), CutMix(alpha=1.0, num_classes=5)], **kw)


def test_per_batch_frequencies_follow_p():
    m = pair(weights=[0.25, 0.75], seed=0)
    choices = [m.sample((4, 3, 8, 8)).extra.member for _ in range(800)]
    frac = sum(c == 1 for c in choices) / 800
    assert abs(frac - 0.75) < 5 * (0.75 * 0.25 / 800) ** 0.5


def test_per_batch_applies_the_chosen_members_plan():
    m = pair(weights=[0.5, 0.5], seed=1)
    x = torch.randn(6, 3, 8, 8)
    seen = set()
    for _ in range(20):
        p = m.sample(x.shape)
        assert isinstance(p.extra, Choice)
        k = p.extra.member
        seen.add(k)
        assert isinstance(p.extra.inner, Box) == (k == 1)
        assert torch.equal(m.mix(x, p), m.mixers[k].mix(x, replace(p, extra=p.extra.inner)))
        assert torch.equal(m.mix(x, p), loop_reference(x, p))
    assert seen == {0, 1}


@pytest.mark.parametrize("shape,axis,ref_axes", [((32, 3, 8, 8), (-2, -1), (2, 3)), ((32, 2, 40), -1, (2,))])
def test_per_sample_combines_rows_in_one_plan(shape, axis, ref_axes):
    m = RandomChoice([MixUp(alpha=0.8), CutMix(alpha=1.0, axis=axis)], weights=[0.4, 0.6], per_sample_member=True, seed=2)
    x = torch.randn(*shape)
    p = m.sample(x.shape)
    cut = p.extra.member == 1
    assert 0 < int(cut.sum()) < 32
    area = (p.extra.inner.bounds[:, 1] - p.extra.inner.bounds[:, 0])
    assert bool((area[~cut] == 0).all())
    assert torch.allclose(m.mix(x, p), loop_reference(x, p, ref_axes), atol=1e-6, rtol=0)


def test_per_sample_frequencies():
    m = pair(weights=[0.3, 0.7], per_sample_member=True, seed=3)
    cut = m.sample((4000, 1, 4, 4)).extra.member == 1
    assert abs(float(cut.float().mean()) - 0.7) < 0.04


def test_only_mixup_members_per_sample():
    m = RandomChoice([MixUp(alpha=0.2), MixUp(alpha=4.0)], per_sample_member=True, seed=0)
    x = torch.randn(8, 5)
    p = m.sample(x.shape)
    torch.testing.assert_close(m.mix(x, p), loop_reference(x, p))


def test_soft_targets_sum_to_one_and_seed_replays():
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 5, (8,))
    for per_sample_member in (False, True):
        a_x, a_t = pair(per_sample_member=per_sample_member, seed=4)(x, y)
        b_x, b_t = pair(per_sample_member=per_sample_member, seed=4)(x, y)
        assert torch.equal(a_x, b_x) and torch.equal(a_t.lam_rows(), b_t.lam_rows())
        torch.testing.assert_close(a_t.soft().sum(-1), torch.ones(8))


def test_eval_is_identity_and_train_propagates():
    m = pair(seed=0).eval()
    x = torch.randn(4, 3, 8, 8)
    assert m(x, torch.zeros(4, dtype=torch.long))[0] is x and not any(c.training for c in m.mixers)
    m.train()
    assert all(c.training for c in m.mixers)


def test_state_dict_resumes():
    m = pair(per_sample_member=True, seed=5)
    state = m.state_dict()
    a = m.sample((8, 3, 8, 8))
    m.load_state_dict(state)
    b = m.sample((8, 3, 8, 8))
    assert torch.equal(a.lam_rows(), b.lam_rows()) and torch.equal(a.index, b.index)


def test_repr_and_params():
    m = pair(weights=[0.5, 0.5])
    assert repr(m) == ("RandomChoice([MixUp(alpha=0.8, num_classes=5), CutMix(alpha=1.0, num_classes=5)], "
                       "weights=[0.5, 0.5])")
    assert set(m.get_params()) == {"mixers", "weights", "per_sample_member", "seed"}
    assert repr(RandomChoice(**m.get_params())) == repr(m)


def test_errors():
    with pytest.raises(MixupError, match="sum to 1"):
        pair(weights=[0.5, 0.6])
    with pytest.raises(MixupError, match="sum to 1"):
        pair(weights=[-0.5, 1.5])
    with pytest.raises(MixupError, match="2 probabilities for 3 mixers"):
        RandomChoice([MixUp(), CutMix(), MixUp()], weights=[0.5, 0.5])
    with pytest.raises(MixupError, match="non-empty list"):
        RandomChoice([])
    with pytest.raises(MixupError, match="must be Mixer instances"):
        RandomChoice([MixUp(), "cutmix"])
    with pytest.raises(MixupError, match="agree on their targets"):
        RandomChoice([MixUp(num_classes=3), CutMix(num_classes=4)])
    with pytest.raises(MixupError, match="one shared axis"):
        RandomChoice([CutMix(axis=-1), CutMix()], per_sample_member=True)


def test_sklearn_clone_and_set_params():
    base = pytest.importorskip("sklearn.base")
    m = RandomChoice((MixUp(alpha=0.8), CutMix(min_area=0.1)), weights=(0.3, 0.7), per_sample_member=True, seed=1)
    c = base.clone(m)
    assert repr(c) == repr(m) and c.mixers[0] is not m.mixers[0]
    m.set_params(weights=[0.5, 0.5])
    with pytest.raises(MixupError, match="sum to 1"):
        m.set_params(weights=[0.5, 0.6])
    assert repr(base.clone(CutMix(axis=1))) == "CutMix(alpha=1.0, axis=1)"


def test_per_row_boxes_replayed_on_another_size_are_refused():
    mixer = RandomChoice([MixUp(), CutMix()], per_sample_member=True, seed=0)
    p = mixer.sample((8, 1, 12, 12))
    assert isinstance(p.extra.inner, Box) and p.extra.inner.size == (12, 12)
    with pytest.raises(MixupError, match=r"RandomChoice \(x\): this box was drawn for 12x12 but the tensor is 6x6"):
        mixer.mix(torch.rand(8, 1, 6, 6), p)
    per_batch = RandomChoice([CutMix()], seed=0).sample((8, 1, 12, 12))  # the member's own Box is checked too
    with pytest.raises(MixupError, match="drawn for 12x12 but the tensor is 6x12"):
        RandomChoice([CutMix()]).mix(torch.rand(8, 1, 6, 12), per_batch)


def test_per_sample_must_be_a_bool_and_a_failed_set_params_keeps_the_old_value():
    with pytest.raises(MixupError, match="per_sample_member must be True or False, got 'no'"):
        RandomChoice([MixUp(), CutMix()], per_sample_member="no")
    mixer = RandomChoice([MixUp(), CutMix()], weights=[0.5, 0.5])
    with pytest.raises(MixupError, match="sum to 1"):
        mixer.set_params(weights=[1, 2])
    assert mixer.weights == [0.5, 0.5]
    with pytest.raises(MixupError, match="per_sample_member must be True or False"):
        mixer.set_params(weights=[0.25, 0.75], per_sample_member="yes")
    assert mixer.weights == [0.5, 0.5] and mixer.per_sample_member is False  # neither value of the failed call is kept


def test_per_row_choice_keeps_rows_blended_with_weight_one_exact_next_to_inf():
    # CutMix rows are pasted (weight 1 outside the box): an inf partner must not turn the outside into NaN
    m = RandomChoice([MixUp(alpha=0.8), CutMix(alpha=1.0)], weights=[0.5, 0.5], per_sample_member=True, seed=0)
    x = torch.randn(64, 1, 8, 8)
    x[::4] = float("inf")
    p = m.sample(x.shape)
    out = m.mix(x, p)
    cut = (p.extra.member == 1) & (x.flatten(1).isfinite().all(1))
    assert not out[cut].isnan().any()


def test_a_schedule_given_to_the_choice_turns_it_off_at_its_epoch():
    # MixupCallback(RandomChoice(...), off_after_epoch=N) sets the choice's own schedule
    from mixup_any import MixSchedule
    m = pair(seed=0)
    m.schedule = MixSchedule(off_after_epoch=1)
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    m.set_epoch(0)
    assert m(x, y)[1].mixed
    m.set_epoch(1)
    out, target = m(x, y)
    assert not target.mixed and torch.equal(out, x)
    assert all(member.schedule is None for member in m.mixers)
