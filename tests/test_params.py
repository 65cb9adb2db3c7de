"""λ sampling, probability and pairing: distributions, determinism, no global RNG, edge sizes."""

import dataclasses
import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any import MixParams, MixupError
from mixup_any.params import Box, Choice, Swap
from mixup_any.sampling import sample_beta, sample_index, sample_lambda

scipy_stats = pytest.importorskip("scipy.stats")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("a,b", [(0.2, 0.2), (1.0, 1.0), (2.0, 2.0), (0.4, 1.0), (5.0, 0.7)])
def test_beta_matches_scipy_distribution(a, b):
    lam = sample_beta(4000, a, b, generator=gen(1)).numpy()
    # Kolmogorov-Smirnov against the exact Beta CDF: an independent reference
    assert scipy_stats.kstest(lam, scipy_stats.beta(a, b).cdf).pvalue > 1e-3


@pytest.mark.parametrize(("a", "b", "fold"), [(0.1, None, False), (0.3, None, False), (0.4, None, False),
                                             (0.4, 1.0, False), (1.0, None, False), (2.0, None, True)])
def test_per_row_float32_lambda_matches_scipy_distribution(a, b, fold):
    # the per-row draws a mixer makes: float32 Gamma draws (from 0.3 on) or float64 ones rounded, uniform at 1
    lam = sample_lambda(20000, alpha=a, beta=b, fold=fold, per_sample=True, generator=gen(5))
    assert lam.dtype == torch.float32 and lam.shape == (20000,) and lam.max() < 1.0
    ref = scipy_stats.beta(a, a if b is None else b)
    if fold:  # max(λ, 1 - λ) of a symmetric Beta
        assert scipy_stats.kstest(lam.double().numpy(), lambda t: 2 * ref.cdf(t) - 1).pvalue > 1e-3
    elif b is None:  # the lower half: float32 holds nothing between 1 - 2**-24 and 1, where a small alpha puts mass
        lower = lam[lam < 0.5].double().numpy()
        assert scipy_stats.binomtest(len(lower), 20000, 0.5).pvalue > 1e-3
        assert scipy_stats.kstest(lower, lambda t: 2 * ref.cdf(t)).pvalue > 1e-3
    else:
        assert scipy_stats.kstest(lam.double().numpy(), ref.cdf).pvalue > 1e-3


@pytest.mark.parametrize("a", [0.01, 0.05, 0.4, 1.0, 2.5, 40.0])
def test_symmetric_beta_matches_scipy_distribution(a):
    # The lower half only: float64 cannot hold 1 - tiny, so draws within ~1e-16 of 1 round to 1.0 for any
    # sampler, which a Kolmogorov-Smirnov test of small alphas would see; by symmetry the lower half suffices
    lam = sample_beta(20000, a, a, generator=gen(3))
    assert lam.dtype == torch.float64 and lam.shape == (20000,)
    lower = lam[lam < 0.5].numpy()
    assert scipy_stats.binomtest(len(lower), 20000, 0.5).pvalue > 1e-3
    assert scipy_stats.kstest(lower, lambda t: 2 * scipy_stats.beta(a, a).cdf(t)).pvalue > 1e-3


@pytest.mark.parametrize("a", [0.001, 0.003])
def test_tiny_alpha_keeps_its_mass_between_the_ends(a):
    # below alpha ~ 0.01 a plain Gamma(alpha) draw underflows to 0 (both to 0: a wrong atom at 0.5); the
    # log-space draw keeps the exact share of draws away from {0, 1}, where a KS test is blind (float64 atoms at 0)
    lam = sample_beta(200_000, a, a, generator=gen(4))
    inside = int(((lam > 1e-3) & (lam < 1 - 1e-3)).sum())
    dist = scipy_stats.beta(a, a)
    assert scipy_stats.binomtest(inside, lam.numel(), dist.cdf(1 - 1e-3) - dist.cdf(1e-3)).pvalue > 1e-3
    assert int((lam == 0.5).sum()) == 0


def test_beta_uses_only_the_generator():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    assert torch.equal(sample_beta(7, 0.3, 0.6, generator=gen(5)), sample_beta(7, 0.3, 0.6, generator=gen(5)))
    assert torch.equal(torch.get_rng_state(), state)
    assert sample_beta(0, 0.3, 0.3, generator=gen()).shape == (0,)


def test_concentrations_below_the_minimum_are_rejected():
    with pytest.raises(MixupError, match="at least 1e-06"):
        sample_beta(3, 1e-9, 1.0)
    with pytest.raises(MixupError, match="alpha=0 disables mixing"):
        sample_lambda(3, alpha=float("inf"))


def test_tiny_alpha_never_nan():
    lam = sample_beta(10000, 0.01, 0.01, generator=gen())
    assert torch.isfinite(lam).all() and ((lam >= 0) & (lam <= 1)).all()


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 64), alpha=st.just(0.0) | st.floats(1e-6, 8.0), per_sample=st.booleans(), fold=st.booleans())
def test_lambda_in_unit_interval_and_shape(b, alpha, per_sample, fold):
    lam = sample_lambda(b, alpha=alpha, per_sample=per_sample, fold=fold, generator=gen())
    assert lam.shape == (b,) and lam.dtype == torch.float32
    assert ((lam >= 0) & (lam <= 1)).all()
    if fold:
        assert (lam >= 0.5).all()
    if not per_sample:
        assert (lam == lam[0]).all()
    if alpha == 0:
        assert (lam == 1).all()


def test_fixed_and_uniform_lambda():
    assert torch.equal(sample_lambda(3, lam=0.3), torch.full((3,), 0.3))
    u = sample_lambda(2000, lam=(0.2, 0.4), per_sample=True, generator=gen())
    assert u.min() >= 0.2 and u.max() <= 0.4 and abs(u.mean() - 0.3) < 0.01


def test_beta_alpha_1_is_skewed_towards_one():
    lam = sample_lambda(4000, alpha=2.0, beta=1.0, per_sample=True, generator=gen())
    assert scipy_stats.kstest(lam.double().numpy(), scipy_stats.beta(2.0, 1.0).cdf).pvalue > 1e-3


def test_same_seed_same_draw_different_seed_different_draw():
    a = sample_lambda(16, alpha=0.4, per_sample=True, generator=gen(3))
    b = sample_lambda(16, alpha=0.4, per_sample=True, generator=gen(3))
    c = sample_lambda(16, alpha=0.4, per_sample=True, generator=gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    i1 = sample_index(16, generator=gen(3))
    assert torch.equal(i1, sample_index(16, generator=gen(3)))


def test_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    g = gen(0)
    sample_lambda(8, alpha=0.3, per_sample=True, generator=g)
    sample_index(8, generator=g)
    sample_index(8, pairing="different_class", labels=torch.tensor([0, 1] * 4), generator=g)
    sample_index(8, pairing="label_distance", labels=torch.randn(8, generator=g), generator=g)
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("b", [1, 2, 3, 7, 8])
@pytest.mark.parametrize("pairing", ["permute", "flip", "roll"])
def test_index_is_permutation_for_any_batch_size(b, pairing):
    idx = sample_index(b, pairing=pairing, generator=gen())
    assert torch.equal(idx.sort().values, torch.arange(b))


def test_flip_and_roll_follow_timm_and_torchvision():
    assert sample_index(5, pairing="flip").tolist() == [4, 3, 2, 1, 0]
    x = torch.arange(5)
    # torchvision mixes batch with batch.roll(1, 0): row i gets row i-1
    assert torch.equal(x[sample_index(5, pairing="roll")], x.roll(1, 0))


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, 3), min_size=1, max_size=40), seed=st.integers(0, 1000))
def test_same_class_pairing(labels, seed):
    y = torch.tensor(labels)
    idx = sample_index(len(labels), pairing="same_class", labels=y, generator=gen(seed))
    assert torch.equal(y[idx], y)
    assert torch.equal(idx.sort().values, torch.arange(len(labels)))  # still a permutation
    counts = torch.bincount(y)
    # rows with a classmate are never paired with themselves
    has_mate = counts[y] > 1
    assert (idx[has_mate] != torch.arange(len(labels))[has_mate]).all()


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, 3), min_size=1, max_size=40), seed=st.integers(0, 1000))
def test_different_class_pairing(labels, seed):
    y = torch.tensor(labels)
    idx = sample_index(len(labels), pairing="different_class", labels=y, generator=gen(seed))
    rows = torch.arange(len(labels))
    others_exist = torch.stack([(y != c).any() for c in y]) if len(labels) else torch.zeros(0, dtype=torch.bool)
    assert (y[idx][others_exist] != y[others_exist]).all()
    assert torch.equal(idx[~others_exist], rows[~others_exist])


def test_different_class_is_uniform_over_others():
    y = torch.tensor([0, 1, 1, 2, 2, 2])
    counts = torch.zeros(6)
    g = gen(0)
    for _ in range(3000):
        counts[sample_index(6, pairing="different_class", labels=y, generator=g)[0]] += 1
    # row 0 (class 0) picks each of the 5 others with probability 1/5
    assert counts[0] == 0
    assert (abs(counts[1:] / 3000 - 0.2) < 0.03).all()


def test_eligible_rows_pair_among_themselves():
    eligible = torch.tensor([True, False, True, True, False, True])
    for pairing in ["permute", "different_class"]:
        idx = sample_index(6, pairing=pairing, labels=torch.tensor([0, 1, 1, 0, 2, 2]), eligible=eligible,
                           generator=gen())
        assert eligible[idx][eligible].all()
        assert torch.equal(idx[~eligible], torch.arange(6)[~eligible])


def test_label_distance_prefers_close_labels():
    y = torch.tensor([0.0, 0.1, 10.0, 10.1])
    idx = sample_index(4, pairing="label_distance", labels=y, bandwidth=1.0, generator=gen())
    assert idx.tolist() == [1, 0, 3, 2]


@pytest.mark.parametrize("bandwidth", [0.5, 2.0])
def test_label_distance_draws_partners_with_the_gaussian_kernel(bandwidth):
    y = torch.tensor([0.0, 0.5 * bandwidth, 1.5 * bandwidth, 2.0 * bandwidth])
    g, n = gen(1), 4000
    counts = torch.zeros(4)
    for _ in range(n):
        counts[sample_index(4, pairing="label_distance", labels=y, bandwidth=bandwidth, generator=g)[0]] += 1
    d2 = (y[1:] - y[0]) ** 2
    expected = torch.softmax(-d2 / (2 * bandwidth**2), 0)  # exp(-d² / 2σ²) over the other rows
    assert counts[0] == 0
    assert (abs(counts[1:] / n - expected) < 0.03).all(), (counts[1:] / n, expected)


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(st.integers(0, 3), min_size=2, max_size=30), seed=st.integers(0, 1000))
def test_class_pairings_read_one_hot_targets_by_their_hot_class(labels, seed):
    y = torch.tensor(labels)
    onehot = torch.nn.functional.one_hot(y, 4).float()
    same = sample_index(len(labels), pairing="same_class", labels=onehot, generator=gen(seed))
    assert torch.equal(y[same], y)
    other = sample_index(len(labels), pairing="different_class", labels=onehot, generator=gen(seed))
    assert ((y[other] != y) | (y == y[0]).all()).all()


def test_callable_pairing_and_errors():
    idx = sample_index(3, pairing=lambda n, **kw: torch.arange(n).flip(0))
    assert idx.tolist() == [2, 1, 0]
    with pytest.raises(MixupError, match="must return an index tensor of shape"):
        sample_index(3, pairing=lambda n, **kw: torch.arange(2))
    with pytest.raises(MixupError, match="Unknown pairing 'shuffle'"):
        sample_index(3, pairing="shuffle")
    with pytest.raises(MixupError, match="needs the targets"):
        sample_index(3, pairing="same_class")
    with pytest.raises(MixupError, match="For regression targets use pairing='label_distance'"):
        sample_index(3, pairing="same_class", labels=torch.randn(3))


RECORDS = {
    "box": Box(torch.ones(3, 4, dtype=torch.long), (8, 8)),
    "swap": Swap(torch.tensor([[True, False], [False, False], [True, True]])),
    "choice per batch": Choice(1, Box(torch.ones(3, 2, dtype=torch.long), (5,))),
    "choice per row": Choice(torch.tensor([0, 1, 1]), None),
}


def _tensors(record: dict) -> list[torch.Tensor]:
    """The tensors of a record (as ``dataclasses.asdict`` gives it), nested records included, in field order."""
    out: list[torch.Tensor] = []
    for v in record.values():
        out += _tensors(v) if isinstance(v, dict) else [v] if isinstance(v, torch.Tensor) else []
    return out


@pytest.mark.parametrize("name", list(RECORDS))
def test_a_record_round_trips_through_state_dict_and_to(name):
    extra = RECORDS[name]
    p = MixParams(lam=torch.tensor([0.25, 1.0, 0.5]), index=torch.tensor([2, 1, 0]),
                  target_lam=torch.tensor([0.5, 1.0, 0.75]), extra=extra, site="s")
    assert type(extra).__name__ in repr(p)
    state = p.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    q = MixParams.from_state_dict(torch.load(buf, weights_only=True))  # plain data: no pickled classes
    assert type(q.extra) is type(extra) and q.site == "s" and torch.equal(q.target_lam, p.target_lam)
    flat_p, flat_q = _tensors(dataclasses.asdict(p.extra)), _tensors(dataclasses.asdict(q.extra))
    assert len(flat_p) == len(flat_q) > 0 and all(torch.equal(a, b) for a, b in zip(flat_p, flat_q, strict=True))
    if isinstance(extra, Choice) and isinstance(extra.member, int):
        assert q.extra.member == extra.member
    r = p.to("meta")
    assert r.lam.is_meta and r.target_lam.is_meta
    assert all(t.is_meta for t in _tensors(dataclasses.asdict(r.extra)))


def test_mixparams_validation_repr_and_roundtrip():
    p = MixParams(lam=torch.tensor([0.25, 1.0, 0.5]), index=torch.tensor([2, 1, 0]), extra=Box(torch.ones(3, 4, dtype=torch.long), (4, 4)))
    assert "MixParams(B=3" in repr(p) and "Box" in repr(p)
    q = MixParams.from_state_dict(p.state_dict())
    assert torch.equal(q.lam_rows(), p.lam_rows()) and torch.equal(q.index, p.index) and torch.equal(q.extra.bounds, p.extra.bounds)
    assert q.target_lam is None and torch.equal(q.target_weight, q.lam)
    host = MixParams(lam=0.3, index=torch.tensor([2, 1, 0]), extra=Box((0, 2, 1, 3), (4, 4)))
    back = MixParams.from_state_dict(host.state_dict())  # host numbers stay host numbers
    assert back.lam == 0.3 and isinstance(back.lam, float) and back.extra.bounds == (0, 2, 1, 3)
    assert torch.equal(back.lam_rows(), torch.full((3,), 0.3)) and back.batch_size == 3
    with pytest.raises(MixupError, match=r"MixParams.lam must be in \[0, 1\], got 1.5"):
        MixParams(lam=1.5, index=torch.arange(3))
    with pytest.raises(MixupError, match="extra must be a Box, Choice, Swap or None, got dict"):
        MixParams(lam=torch.ones(3), index=torch.arange(3), extra={"box": torch.ones(3, 4)})
    with pytest.raises(MixupError, match="target_lam must be a float in .0, 1. or a float tensor shaped like index"):
        MixParams(lam=torch.ones(3), index=torch.arange(3), target_lam=torch.ones(2))
    with pytest.raises(MixupError, match="a float tensor shaped like index"):
        MixParams(lam=torch.ones(3), index=torch.arange(2))
    with pytest.raises(MixupError, match="float tensor"):
        MixParams(lam=torch.ones(3, dtype=torch.long), index=torch.arange(3))
    with pytest.raises(dataclasses_frozen_error()):
        p.lam = torch.zeros(3)


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize("a", [0.05, 0.3, 0.5, 0.8, 1.0, 3.0])
def test_single_draws_match_scipy_distribution(a):
    # per-batch lam draws one value at a time
    g = gen(11)
    lam = torch.cat([sample_beta(1, a, a, generator=g) for _ in range(3000)])
    lower = lam[lam < 0.5].numpy()
    assert scipy_stats.binomtest(len(lower), 3000, 0.5).pvalue > 1e-3
    assert scipy_stats.kstest(lower, lambda t: 2 * scipy_stats.beta(a, a).cdf(t)).pvalue > 1e-3


def test_at_site_labels_a_copy_and_shares_the_tensors():
    p = MixParams(lam=torch.tensor([0.3, 1.0]), index=torch.tensor([1, 0]))
    q = p.at_site("layer2")
    assert q.site == "layer2" and p.site is None  # the original is unchanged (frozen)
    assert q.lam is p.lam and q.index is p.index and q.mixed is p.mixed
    assert q.at_site("layer2") is q


@pytest.mark.parametrize("a", [0.2, 1.0, 2.0])
def test_per_batch_lambda_matches_scipy_distribution(a):
    # per-batch sample_lambda: one draw repeated over the batch
    g = gen(13)
    lam = torch.stack([sample_lambda(4, alpha=a, generator=g) for _ in range(3000)])
    assert (lam == lam[:, :1]).all() and lam.dtype == torch.float32
    first = lam[:, 0].double()
    lower = first[first < 0.5].numpy()
    assert scipy_stats.binomtest(len(lower), 3000, 0.5).pvalue > 1e-3
    assert scipy_stats.kstest(lower, lambda t: 2 * scipy_stats.beta(a, a).cdf(t)).pvalue > 1e-3


@pytest.mark.parametrize("fold", [False, True])
def test_per_sample_uniform_lambda_is_uniform(fold):
    # per-sample Beta(1, 1) is drawn as float32 uniforms directly: its own distribution test
    lam = sample_lambda(20000, alpha=1.0, per_sample=True, fold=fold, generator=gen(17))
    assert lam.dtype == torch.float32 and ((lam >= 0) & (lam < 1)).all()
    ref = scipy_stats.uniform(0.5, 0.5) if fold else scipy_stats.uniform(0.0, 1.0)
    assert scipy_stats.kstest(lam.double().numpy(), ref.cdf).pvalue > 1e-3
    assert torch.equal(lam, sample_lambda(20000, alpha=1.0, beta=1.0, per_sample=True, fold=fold, generator=gen(17)))


def test_a_plan_with_a_box_is_not_silently_lerped():
    from mixup_any import CutMix, MixUp

    p = CutMix(seed=0).sample((4, 3, 8, 8))
    with pytest.raises(MixupError, match="MixUp replays plans with no record, but this plan carries Box"):
        MixUp().mix(torch.randn(4, 3, 8, 8), p)


@pytest.mark.parametrize("make, match", [
    (lambda: Box(torch.zeros(3, 4), (8, 8)), r"Box.bounds must be 4 ints or an integer tensor of shape \(B, 4\)"),
    (lambda: Box(torch.zeros(3, 4, dtype=torch.bool), (8, 8)), "Box.bounds must be 4 ints or an integer tensor"),
    (lambda: Box((0, 4, 2), (8, 8)), r"Box.bounds must be 4 ints.*got \(0, 4, 2\)"),
    (lambda: Box((0, 4, 2, 9), (8, 8)), r"Box.bounds must be 4 ints"),
    (lambda: Box(torch.zeros(3, 2, dtype=torch.long), (8, 8)), r"shape \(B, 4\).*got torch.int64 of shape \(3, 2\)"),
    (lambda: Box(torch.zeros(12, dtype=torch.long), (8, 8)), "Box.bounds must be 4 ints or an integer tensor"),
    (lambda: Box([[0, 1]], (8,)), r"Box.bounds must be 2 ints.*got \[\[0, 1\]\]"),
    (lambda: Box(torch.zeros(3, 4, dtype=torch.long), (8, 0)), "tuple of positive ints"),
    (lambda: Box(torch.zeros(3, 4, dtype=torch.long), 8), "tuple of positive ints"),
    (lambda: Swap(torch.zeros(3, 2)), r"Swap.mask must be a bool tensor of shape \(B, K\)"),
    (lambda: Swap(torch.zeros(3, dtype=torch.bool)), r"Swap.mask must be a bool tensor of shape \(B, K\)"),
    (lambda: Choice(torch.zeros(3)), r"Choice.member must be an int or an integer tensor of shape \(B,\)"),
    (lambda: Choice(torch.zeros(3, 1, dtype=torch.long)), "Choice.member must be"),
    (lambda: Choice(True), "Choice.member must be"),
    (lambda: Choice(1.0), "Choice.member must be"),
    (lambda: Choice(torch.zeros(3, dtype=torch.long), Swap(torch.zeros(3, 1, dtype=torch.bool))),
     "A per-row Choice carries the rows' boxes"),
    (lambda: Choice(0, "box"), "Choice.inner must be a Box, Choice, Swap or None, got str"),
])
def test_records_validate_themselves(make, match):
    with pytest.raises(MixupError, match=match):
        make()


@pytest.mark.parametrize("extra, name", [
    (Box(torch.zeros(2, 4, dtype=torch.long), (8, 8)), "Box.bounds"),
    (Swap(torch.zeros(4, 2, dtype=torch.bool)), "Swap.mask"),
    (Choice(torch.zeros(2, dtype=torch.long)), "Choice.member"),
    (Choice(1, Box(torch.zeros(5, 2, dtype=torch.long), (8,))), "Box.bounds"),
])
def test_a_record_must_have_the_plans_batch_size(extra, name):
    with pytest.raises(MixupError, match=f"The plan is for 3 rows .* its {name} has"):
        MixParams(torch.ones(3), torch.arange(3), extra=extra)


def test_a_box_keeps_its_size_through_state_dict_and_old_states_fail_clearly():
    p = MixParams(torch.ones(3), torch.arange(3), extra=Box(torch.zeros(3, 4, dtype=torch.long), [16, 12]))
    assert p.extra.size == (16, 12)
    assert MixParams.from_state_dict(p.state_dict()).extra.size == (16, 12) and p.to("meta").extra.size == (16, 12)
    state = p.state_dict()
    del state["extra"]["size"]
    with pytest.raises(MixupError, match=r"A saved Box record has fields \['bounds'\]; expected \['bounds', 'size'\]"):
        MixParams.from_state_dict(state)
    state["extra"]["size"], state["extra"]["colour"] = (16, 12), 1
    with pytest.raises(MixupError, match="A saved Box record has fields"):
        MixParams.from_state_dict(state)
