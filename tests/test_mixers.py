"""MixUp end to end: identity cases, replay, training phase, exclusion, validation, params and pickling."""

import copy
import dataclasses
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mixup_any import CutMix, MixParams, MixSchedule, MixUp, MixupError, RandomChoice


def data(b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 4, 4, generator=g), torch.randint(0, 5, (b,), generator=g)


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 17), per_sample=st.booleans(), alpha=st.floats(0.05, 4.0), seed=st.integers(0, 999))
def test_mixed_input_equals_reference_and_targets_sum_to_one(b, per_sample, alpha, seed):
    x, y = data(b, seed)
    mixer = MixUp(alpha=alpha, per_sample=per_sample, num_classes=5, seed=seed)
    params = mixer.sample(x.shape, labels=y)
    xm, t = mixer(x, y, params=params)
    lam = params.lam_rows().view(-1, 1, 1, 1)
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x[params.index])
    torch.testing.assert_close(t.soft().sum(-1), torch.ones(b))
    assert ((t.lam_rows() >= 0) & (t.lam_rows() <= 1)).all()


def test_self_pairing_and_lam_one_are_identity():
    x, y = data()
    mixer = MixUp(alpha=1.0, seed=0)
    p = mixer.sample(x.shape)
    assert torch.equal(mixer.mix(x, dataclasses.replace(p, index=torch.arange(8))), x)
    assert torch.equal(mixer.mix(x, dataclasses.replace(p, lam=torch.ones(8))), x)
    xm, _ = MixUp(lam=1.0)(x, y)
    assert torch.equal(xm, x)


@pytest.mark.parametrize("kwargs", [dict(alpha=0.0), dict(alpha=1.0, p=0.0)])
def test_alpha_zero_or_p_zero_is_exactly_erm(kwargs):
    x, y = data()
    xm, t = MixUp(num_classes=5, **kwargs)(x, y)
    assert xm is x and not t.mixed and torch.equal(t.y_a, y)
    logits = torch.randn(8, 5)
    from mixup_any import mixed_loss

    assert torch.equal(mixed_loss(nn.CrossEntropyLoss(), logits, t), nn.CrossEntropyLoss()(logits, y))


def test_per_sample_probability_leaves_unmixed_rows_bit_for_bit():
    x, y = data(64)
    mixer = MixUp(alpha=1.0, per_sample=True, p=0.5, per_sample_p=True, seed=3)
    p = mixer.sample(x.shape)
    xm = mixer.mix(x, p)
    unmixed = p.lam == 1
    assert 0 < unmixed.sum() < 64
    assert torch.equal(xm[unmixed], x[unmixed])


def test_same_seed_same_output_and_global_rng_untouched():
    x, y = data()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = MixUp(alpha=0.4, seed=7)(x, y)[0]
    b = MixUp(alpha=0.4, seed=7)(x, y)[0]
    c = MixUp(alpha=0.4, seed=8)(x, y)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(state, torch.get_rng_state())


def test_replaying_params_reproduces_the_batch():
    x, y = data()
    mixer = MixUp(alpha=0.4, seed=1)
    xm, t = mixer(x, y, params=(p := mixer.sample(x.shape)))
    saved = p.state_dict()
    xr, tr = MixUp(alpha=123.0)(x, y, params=MixParams.from_state_dict(saved))
    assert torch.equal(xm, xr) and torch.equal(t.lam_rows(), tr.lam_rows())


def test_eval_mode_and_follow_model():
    x, y = data()
    model = nn.Linear(2, 2)
    mixer = MixUp(seed=0).follow(model)
    model.eval()
    assert mixer(x, y)[0] is x
    model.train()
    assert mixer(x, y)[0] is not x
    mixer.follow(None).eval()
    assert mixer(x, y)[0] is x
    mixer.train()
    mixer.enabled = False
    assert mixer(x, y)[0] is x


def test_excluded_classes_are_left_alone_and_never_partners():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g)
    y = torch.randint(0, 4, (40,), generator=g)
    mixer = MixUp(alpha=1.0, per_sample=True, exclude_classes=[2], seed=0)
    p = mixer.sample(x.shape, labels=y)
    excluded = y == 2
    assert (p.lam[excluded] == 1).all() and (p.index[excluded] == torch.arange(40)[excluded]).all()
    assert (y[p.index][~excluded] != 2).all()
    xm, _ = mixer(x, y, params=p)
    assert torch.equal(xm[excluded], x[excluded])


def test_nested_batch_with_dict_targets():
    x = {"a": torch.randn(4, 2), "b": torch.randn(4, 3, 3)}
    y = {"cls": torch.tensor([0, 1, 0, 1]), "reg": torch.randn(4)}
    xm, t = MixUp(num_classes={"cls": 2}, seed=0)(x, y)
    assert set(xm) == {"a", "b"} and t["cls"].soft().shape == (4, 2)


def test_inputs_never_mutated_unless_inplace():
    x, y = data()
    x0 = x.clone()
    MixUp(seed=0)(x, y)
    assert torch.equal(x, x0)
    out, _ = MixUp(seed=0)(x, y, inplace=True)
    assert out.data_ptr() == x.data_ptr() and not torch.equal(x, x0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtype_and_memory_format_kept(dtype):
    x = torch.randn(4, 3, 5, 5).to(dtype).to(memory_format=torch.channels_last)
    xm, t = MixUp(seed=0)(x, torch.tensor([0, 1, 2, 3]))
    assert xm.dtype == dtype and xm.is_contiguous(memory_format=torch.channels_last)


def test_schedule_off_after_epoch_and_warmup_and_resume():
    x, y = data()
    mixer = MixUp(alpha=1.0, schedule=MixSchedule(off_after_epoch=2, warmup_steps=4), seed=0)
    first = mixer.sample(x.shape)
    assert not first.mixed  # α is scaled by 0/4 at the very first step
    mixer.set_epoch(2)
    assert not mixer.sample(x.shape).mixed
    mixer.set_epoch(1)
    # exact resume: a copy restored from state_dict draws the same plans
    state = copy.deepcopy(mixer.state_dict())
    a = [mixer.sample(x.shape) for _ in range(5)]
    other = MixUp(alpha=1.0, schedule=MixSchedule(off_after_epoch=2, warmup_steps=4), seed=99)
    other.load_state_dict(state)
    b = [other.sample(x.shape) for _ in range(5)]
    assert all(torch.equal(p.lam_rows(), q.lam_rows()) and torch.equal(p.index, q.index) for p, q in zip(a, b, strict=True))


def test_off_after_step():
    mixer = MixUp(schedule=MixSchedule(off_after_step=2), seed=0)
    assert [mixer.sample((4, 1)).mixed for _ in range(4)] == [True, True, False, False]


def test_pickle_get_set_params_and_repr():
    mixer = MixUp(alpha=0.4, per_sample=True, seed=3)
    clone = pickle.loads(pickle.dumps(mixer))
    x, y = data()
    assert torch.equal(mixer(x, y)[0], clone(x, y)[0])
    assert mixer.get_params()["alpha"] == 0.4
    assert mixer.set_params(alpha=0.2).alpha == 0.2
    assert repr(mixer) == "MixUp(alpha=0.2, per_sample=True, seed=3)"
    rebuilt = MixUp(**mixer.get_params())
    assert rebuilt.get_params() == mixer.get_params()
    with pytest.raises(MixupError, match="Unknown parameter 'alpah'"):
        mixer.set_params(alpah=1.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(alpha=-0.1), "alpha must be a float >= 0"),
        (dict(alpha="1"), "alpha must be a float >= 0"),
        (dict(p=1.5), r"p must be a probability in \[0, 1\], got 1.5"),
        (dict(lam=1.2), "lam must be a float in"),
        (dict(lam=(0.6, 0.2)), "lam must be a float in"),
        (dict(beta=0), "beta must be a finite float of at least"),
        (dict(pairing="random"), "Unknown pairing 'random'"),
        (dict(target="onehot"), "Unknown target kind 'onehot'"),
        (dict(num_classes=0), "num_classes must be a positive int"),
        (dict(label_smoothing=1.0), "label_smoothing must be in"),
        (dict(exclude_classes="cat"), "exclude_classes must be a list"),
        (dict(seed=1.5), "seed must be an int"),
        (dict(schedule=3), "schedule must be a MixSchedule"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(MixupError, match=match):
        MixUp(**kwargs)


def test_bad_batches():
    mixer = MixUp(seed=0)
    with pytest.raises(MixupError, match="inputs have batch size 3 but the targets have 2 rows"):
        mixer(torch.randn(3, 2), torch.tensor([0, 1]))
    with pytest.raises(MixupError, match="empty batch"):
        mixer(torch.randn(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(MixupError, match="never interpolated"):
        mixer(torch.ones(3, 2, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(MixupError, match="the plan is for 2 rows, but the batch has 3"):
        mixer(torch.randn(3, 2), torch.zeros(3, dtype=torch.long), params=MixParams.identity(2))
    with pytest.raises(MixupError, match="exclude_classes needs the targets"):
        MixUp(exclude_classes=[1]).sample((3, 2))
    with pytest.raises(MixupError, match=r"needs the targets y.*mixer\.mix\(x, mixer\.sample\(x\.shape"):
        mixer(torch.randn(3, 2))


def test_batch_size_one_and_odd():
    for b in (1, 3):
        x, y = data(b)
        xm, t = MixUp(num_classes=5, seed=0)(x, y)
        assert xm.shape == x.shape and t.soft().shape == (b, 5)


@pytest.mark.parametrize("make", [lambda: MixUp(alpha=0.0), lambda: MixUp(p=0.0), lambda: MixUp().eval(),
                                  lambda: CutMix(p=0.0), lambda: RandomChoice([MixUp(), CutMix()]).eval()])
def test_integer_input_is_rejected_even_when_nothing_is_mixed(make):
    # an identity plan must not accept what a drawn plan rejects (docs/bad_input.md: integer input always raises)
    with pytest.raises(MixupError, match="torch.int64 tensor of shape"):
        make()(torch.ones(4, 3, 8, 8, dtype=torch.int64), torch.arange(4))
    x = torch.randn(4, 3, 8, 8)
    assert make()(x, torch.arange(4))[0] is x


def test_per_row_lam_of_one_keeps_its_row_exact_next_to_an_inf_partner():
    # a plan built by hand may leave rows unmixed: they come back unchanged, whatever their partner holds
    x = torch.tensor([[1.5], [float("inf")], [2.5]])
    p = MixParams(lam=torch.tensor([1.0, 0.5, 1.0]), index=torch.tensor([1, 0, 1]))
    out = MixUp(per_sample=True).mix(x, p)
    assert out[0].item() == 1.5 and out[2].item() == 2.5


@pytest.mark.parametrize(("kwargs", "unmixed"), [({}, False), ({"p": 0.5, "per_sample_p": True}, True),
                                                 ({"exclude_classes": [0]}, True), ({"lam": 1.0}, True)])
def test_drawn_plans_say_whether_they_leave_rows_unmixed(kwargs, unmixed):
    # only plans that can leave rows unmixed pay for the guard; their unmixed rows stay exact next to inf
    mixer = MixUp(per_sample=True, seed=0, **kwargs)
    x = torch.randn(64, 3)
    x[::2] = float("inf")
    y = torch.arange(64) % 4
    p = mixer.sample(x.shape, labels=y)
    assert p.unmixed_rows is unmixed
    kept = p.lam == 1
    if unmixed:
        assert kept.any() and torch.equal(mixer.mix(x, p)[kept], x[kept])


def test_random_choice_seed_decides_its_members_host_draws():
    def plans(member_seeds):
        m = RandomChoice([MixUp(seed=member_seeds[0]), CutMix(seed=member_seeds[1])], seed=7)
        return [m.sample((8, 3, 16, 16)) for _ in range(6)]

    a, b = plans((1, 2)), plans((3, 4))
    assert [p.lam for p in a] == [p.lam for p in b] and [p.extra for p in a] == [p.extra for p in b]


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.4])
def test_per_row_beta_draws_stay_below_one_so_every_row_mixes(alpha):
    # in float32 a Beta draw with a small alpha rounds to 1.0 for a few % of rows; they are kept just below 1,
    # so no row of an unguarded plan has lam == 1 (a lerp there would turn an inf partner into NaN)
    mixer = MixUp(alpha=alpha, per_sample=True, seed=0)
    lam = torch.cat([mixer.sample((4096, 1)).lam for _ in range(4)])
    assert lam.max() < 1.0 and lam.min() >= 0.0
    assert (lam > 1 - 1e-6).any()  # the draws that would have rounded to 1 are there, just below it
