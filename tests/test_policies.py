"""The small policies (λ, pairing, targets): each validates itself, draws what the functional samplers draw, and
a mixer built from keywords equals one built from the policy objects."""

from __future__ import annotations

import inspect
import pickle
import random

import pytest
import torch

from mixup_any import CutMix, LamPolicy, MixParams, MixUp, MixupError, Pairing, RandomChoice, TargetSpec
from mixup_any.sampling import sample_index, sample_lambda


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kwargs", [dict(alpha=0.4, per_sample=True), dict(alpha=0.4, per_sample=True, p=0.5, per_sample_p=True),
                                    dict(lam=(0.2, 0.6), fold=True, per_sample=True)])
def test_per_row_lam_draws_the_functional_stream_on_the_device_generator(kwargs):
    p = kwargs.pop("p", 1.0)
    per_sample_p = kwargs.pop("per_sample_p", False)
    g = gen(3)  # one generator for both draws, in this order: λ first, then the rows p selects
    ref = sample_lambda(16, generator=g, **kwargs)
    lam, rows = LamPolicy(**kwargs, p=p, per_sample_p=per_sample_p).draw(16, rng=random.Random(0), generator=gen(3))
    assert torch.equal(lam, ref)
    if per_sample_p:
        assert torch.equal(rows, torch.rand(16, generator=g) < p)
    else:
        assert rows is None


@pytest.mark.parametrize(("kwargs", "mean", "var"), [
    (dict(alpha=0.4), 0.5, 0.16 / (0.64 * 1.8)),            # Beta(a, b): ab / ((a+b)^2 (a+b+1))
    (dict(alpha=2.0, beta=0.5), 0.8, 1.0 / (6.25 * 3.5)),
    (dict(alpha=0.4, fold=True), None, None),
    (dict(lam=(0.2, 0.6)), 0.4, 0.4 ** 2 / 12),
])
def test_per_batch_lam_is_a_host_float_with_the_beta_moments(kwargs, mean, var):
    policy, rng = LamPolicy(**kwargs), random.Random(5)
    draws = [policy.draw(16, rng=rng) for _ in range(4000)]
    assert all(isinstance(lam, float) and rows is None for lam, rows in draws)
    values = torch.tensor([lam for lam, _ in draws], dtype=torch.float64)
    assert bool(((values >= 0) & (values <= 1)).all())
    if mean is None:  # folded: the row's own sample dominates
        assert bool((values >= 0.5).all())
        return
    assert abs(values.mean().item() - mean) < 4 * (var / 4000) ** 0.5
    assert abs(values.var().item() - var) < 0.15 * var


def test_per_batch_p_skips_whole_batches_on_the_host():
    policy, rng = LamPolicy(alpha=1.0, p=0.3), random.Random(1)
    skipped = sum(policy.draw(8, rng=rng) == (1.0, None) for _ in range(2000))
    assert abs(skipped / 2000 - 0.7) < 0.05


def test_lam_policy_alpha_scale_and_mixes():
    a = LamPolicy(alpha=2.0, per_sample=True).draw(4, rng=random.Random(0), alpha_scale=0.5, generator=gen(1))[0]
    assert torch.equal(a, sample_lambda(4, alpha=1.0, per_sample=True, generator=gen(1)))
    assert not LamPolicy(alpha=0.0).mixes and not LamPolicy(p=0.0).mixes
    assert LamPolicy(alpha=0.0, lam=0.3).mixes and LamPolicy().mixes


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(alpha=-1), "alpha must be a float >= 0"), (dict(alpha=True), "alpha must be"),
    (dict(beta=0), "beta must be a finite float of at least"), (dict(alpha=1e-300), "alpha must be 0 .no mixing. or at least"), (dict(lam=(0.6, 0.2)), r"lam must be a float in \[0, 1\]"),
    (dict(lam=1.5), "lam must be"), (dict(p=1.5), r"p must be a probability in \[0, 1\]"),
])
def test_lam_policy_validates_itself(kwargs, match):
    with pytest.raises(MixupError, match=match):
        LamPolicy(**kwargs)


def test_pairing_excludes_classes_and_draws_sample_index():
    labels = torch.tensor([0, 1, 2, 1, 0, 2, 1, 0])
    index, eligible = Pairing("permute", exclude_classes=[1]).draw(8, labels=labels, generator=gen(2))
    excluded = labels == 1
    assert torch.equal(eligible, ~excluded)
    assert torch.equal(index[excluded], torch.arange(8)[excluded])  # excluded rows pair with themselves
    assert not bool(excluded[index[~excluded]].any())               # and are never a partner
    index, eligible = Pairing("same_class").draw(8, labels=labels, generator=gen(4))
    assert eligible is None
    assert torch.equal(index, sample_index(8, pairing="same_class", labels=labels, generator=gen(4)))
    assert Pairing("same_class").needs_labels and Pairing(exclude_classes=[0]).needs_labels
    assert not Pairing("flip").needs_labels


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(strategy="shuffle"), "Unknown pairing 'shuffle'"), (dict(bandwidth=0), "bandwidth must be > 0"),
    (dict(exclude_classes="1"), "list of class ids"), (dict(exclude_classes=[1.0]), "int class ids"),
])
def test_pairing_validates_itself(kwargs, match):
    with pytest.raises(MixupError, match=match):
        Pairing(**kwargs)


def test_target_spec_pairs_with_the_target_weight():
    y = torch.tensor([0, 2, 1])
    p = MixParams(lam=torch.tensor([0.3, 0.3, 0.3]), index=torch.tensor([1, 2, 0]),
                  target_lam=torch.tensor([0.9, 0.5, 1.0]))
    soft = TargetSpec(num_classes=3, label_smoothing=0.1).pair(y, p).soft()
    eye = torch.eye(3) * 0.9 + 0.1 / 3  # each side smoothed towards 1/C, then mixed with target_lam
    w = p.target_lam[:, None]
    torch.testing.assert_close(soft, w * eye[y] + (1 - w) * eye[y[p.index]])


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(kind="hard"), "Unknown target kind 'hard'"), (dict(num_classes=0), "num_classes must be a positive int"),
    (dict(label_smoothing=1.0), r"label_smoothing must be in \[0, 1\)"), (dict(num_classes=True), "num_classes"),
])
def test_target_spec_validates_itself(kwargs, match):
    with pytest.raises(MixupError, match=match):
        TargetSpec(**kwargs)


def test_a_mixer_built_from_policy_objects_equals_the_keyword_one():
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    a = MixUp(alpha=0.5, pairing="same_class", bandwidth=2.0, num_classes=3, label_smoothing=0.1, seed=1)
    b = MixUp(alpha=0.5, pairing=Pairing("same_class", 2.0), target=TargetSpec(num_classes=3, label_smoothing=0.1),
              seed=1)
    (xa, ta), (xb, tb) = a(x, y), b(x, y)
    assert torch.equal(xa, xb) and torch.equal(ta.soft(), tb.soft())
    assert a.pairing_policy == b.pairing_policy and a.target_spec == b.target_spec
    with pytest.raises(MixupError, match="set bandwidth and exclude_classes on it"):
        MixUp(pairing=Pairing("flip"), bandwidth=2.0)
    with pytest.raises(MixupError, match="set num_classes and label_smoothing on it"):
        MixUp(target=TargetSpec(), num_classes=3)


def test_changed_arguments_are_never_stale():
    m = MixUp(alpha=1.0, seed=0)
    m.alpha = 0.0  # a plain attribute change: the next draw uses it
    assert not m.sample((4, 2)).mixed
    m.p, m.alpha = 0.0, 1.0
    assert not m.sample((4, 2)).mixed
    m.set_params(p=1.0, lam=0.25)
    assert m.sample((4, 2)).lam == 0.25
    with pytest.raises(MixupError, match="alpha must be"):
        m.set_params(alpha=-1.0)


def test_explicit_signatures():
    names = set(inspect.signature(MixUp).parameters)
    assert names <= set(inspect.signature(CutMix).parameters)  # CutMix lists every option (help() shows them)
    with pytest.raises(TypeError, match="alpah"):
        CutMix(alpah=1.0)
    assert list(inspect.signature(RandomChoice).parameters) == ["mixers", "weights", "per_sample_member", "seed"]
    m = CutMix(axis=-1, p=0.5, num_classes=3, seed=2)
    assert CutMix(**m.get_params()).get_params() == m.get_params()
    assert pickle.loads(pickle.dumps(m)).get_params() == m.get_params()


def test_the_call_needs_targets_and_always_returns_a_pair():
    x = torch.randn(4, 3)
    for m in (MixUp(), CutMix(axis=-1), RandomChoice([MixUp(), CutMix(axis=-1)])):
        with pytest.raises(MixupError, match=r"mixer\(x, y\) needs the targets y"):
            m(x)
        out = m(x, torch.zeros(4))
        assert isinstance(out, tuple) and len(out) == 2
        assert isinstance(m.eval()(x, torch.zeros(4)), tuple)  # eval: still a pair, the input unchanged


def test_sklearn_clone_keeps_policy_objects():
    base = pytest.importorskip("sklearn.base")
    m = MixUp(alpha=0.3, pairing=Pairing("flip"), target=TargetSpec(num_classes=3), seed=0)
    c = base.clone(m)
    assert c.pairing_policy == m.pairing_policy and c.target_spec == m.target_spec
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
    assert torch.equal(c(x, y)[1].y_b, y.flip(0))


@pytest.mark.parametrize("flag", ["fold", "per_sample", "per_sample_p"])
@pytest.mark.parametrize("value", ["no", 1, 0, None, torch.tensor(True)])
def test_boolean_flags_must_be_bools(flag, value):
    with pytest.raises(MixupError, match=f"{flag} must be True or False"):
        LamPolicy(**{flag: value})
    with pytest.raises(MixupError, match=f"{flag} must be True or False"):
        MixUp(**{flag: value})


def test_a_failed_set_params_leaves_the_mixer_as_it_was():
    mixer = MixUp(alpha=0.4, num_classes=3, seed=0)
    with pytest.raises(MixupError, match="alpha must be a float >= 0"):
        mixer.set_params(alpha=-1)
    assert mixer.alpha == 0.4
    with pytest.raises(MixupError, match="per_sample must be True or False"):
        mixer.set_params(alpha=0.2, per_sample="no")
    assert mixer.alpha == 0.4 and mixer.per_sample is False
    x, t = mixer(torch.rand(4, 2), torch.tensor([0, 1, 2, 0]))  # still usable
    assert x.shape == (4, 2) and t.soft().shape == (4, 3)
