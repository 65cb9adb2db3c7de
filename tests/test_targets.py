"""Mixed targets of every kind: soft rows sum to one, smoothing before mixing, validation."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any import MixedTarget, MixParams, MixupError
from mixup_any.targets import mix_target


def plan(b, seed=0, per_sample=True):
    g = torch.Generator().manual_seed(seed)
    lam = torch.rand(b, generator=g) if per_sample else torch.rand(1, generator=g).expand(b).clone()
    return MixParams(lam=lam, index=torch.randperm(b, generator=g))


@settings(max_examples=50, deadline=None)
@given(b=st.integers(1, 20), c=st.integers(1, 7), seed=st.integers(0, 1000), eps=st.sampled_from([0.0, 0.1]))
def test_index_targets_soft_sum_to_one_and_match_onehot_reference(b, c, seed, eps):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (b,), generator=g)
    p = plan(b, seed)
    t = mix_target(y, p, num_classes=c, label_smoothing=eps)
    soft = t.soft()
    torch.testing.assert_close(soft.sum(-1), torch.ones(b))
    oh = F.one_hot(y, c).float() * (1 - eps) + eps / c
    ref = p.lam[:, None] * oh + (1 - p.lam[:, None]) * oh[p.index]
    torch.testing.assert_close(soft, ref)


def test_kinds_are_inferred():
    p = plan(4)
    assert mix_target(torch.tensor([0, 1, 2, 0]), p).kind == "index"
    assert mix_target(torch.randn(4), p).kind == "regression"
    assert mix_target(torch.rand(4, 3), p).kind == "soft"
    assert mix_target(torch.rand(4, 3) > 0.5, p).kind == "multilabel"


def test_multilabel_smoothing_goes_towards_half():
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    t = mix_target(y, MixParams.identity(2), kind="multilabel", label_smoothing=0.2)
    torch.testing.assert_close(t.soft(), torch.tensor([[0.9, 0.1], [0.1, 0.1]]))


@pytest.mark.parametrize("c", [3, 5])
@pytest.mark.parametrize("kind", ["soft", "multilabel"])
def test_float_targets_smooth_each_side_before_mixing(kind, c):
    g = torch.Generator().manual_seed(c)
    y = (torch.rand(6, c, generator=g) > 0.5).float() if kind == "multilabel" else torch.rand(6, c, generator=g)
    p = plan(6, seed=c)
    eps = 0.2
    towards = 0.5 if kind == "multilabel" else 1.0 / c  # each label is its own 2-class problem
    smoothed = y * (1 - eps) + eps * towards
    ref = p.lam[:, None] * smoothed + (1 - p.lam[:, None]) * smoothed[p.index]
    torch.testing.assert_close(mix_target(y, p, kind=kind, label_smoothing=eps).soft(), ref)


def test_regression_any_trailing_shape():
    y = torch.randn(5, 2, 3)
    p = plan(5)
    d = mix_target(y, p, kind="regression").dense()
    torch.testing.assert_close(d, p.lam_rows().view(-1, 1, 1) * y + (1 - p.lam_rows().view(-1, 1, 1)) * y[p.index])
    with pytest.raises(MixupError, match="use dense"):
        mix_target(y, p, kind="regression").soft()


def test_identity_plan_returns_targets_unchanged():
    y = torch.randn(3, 4).softmax(-1)
    t = mix_target(y, MixParams.identity(3))
    assert not t.mixed and torch.equal(t.soft(), y)


def test_dict_targets_for_multitask():
    p = plan(3)
    t = mix_target({"cls": torch.tensor([0, 1, 1]), "reg": torch.randn(3)}, p, num_classes={"cls": 2})
    assert t["cls"].soft().shape == (3, 2) and t["reg"].kind == "regression"


def test_bad_targets_raise_clear_errors():
    p = plan(3)
    with pytest.raises(MixupError, match="class index outside"):
        mix_target(torch.tensor([0, 5, 1]), p, num_classes=3).soft()
    with pytest.raises(MixupError, match="needs num_classes"):
        mix_target(torch.tensor([0, 1, 1]), p).soft()
    with pytest.raises(MixupError, match="width 4, but num_classes=3"):
        mix_target(torch.rand(3, 4), p, num_classes=3)
    with pytest.raises(MixupError, match=r"targets has shape \(2,\) but the batch has 3 rows"):
        mix_target(torch.tensor([0, 1]), p)
    with pytest.raises(MixupError, match="Unknown target kind 'ordinal'"):
        mix_target(torch.tensor([0, 1, 1]), p, kind="ordinal")
    with pytest.raises(MixupError, match="does not apply to regression"):
        mix_target(torch.randn(3), p, label_smoothing=0.1)
    with pytest.raises(MixupError, match="must be a tensor"):
        mix_target([0, 1, 2], p)
    with pytest.raises(MixupError, match="ambiguous"):
        mix_target(torch.ones(3, 2, dtype=torch.long), p)
    for option in ({"kind": {"a": "index"}}, {"num_classes": {"a": 3}}, {"label_smoothing": {"a": 0.1}}):
        with pytest.raises(MixupError, match="are dicts, but the targets are a single tensor"):
            mix_target(torch.tensor([0, 1, 1]), p, **option)


def test_mixed_target_repr_and_to():
    t = MixedTarget(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.5]), "index", 2)
    assert t.to("cpu").soft().shape == (1, 2) and len(t) == 1


def test_a_partner_out_of_range_is_the_same_mixup_error_as_in_mix():
    from mixup_any import MixUp
    p = MixParams(torch.full((4,), 0.5), torch.tensor([1, 0, 3, 4]))
    with pytest.raises(MixupError, match=r"index holds a partner outside \[0, 4\)"):
        MixUp().mix(torch.rand(4, 2), p)
    with pytest.raises(MixupError, match=r"index holds a partner outside \[0, 4\)"):
        mix_target(torch.tensor([0, 1, 2, 0]), p, num_classes=3)
    with pytest.raises(MixupError, match=r"index holds a partner outside \[0, 4\)"):
        mix_target(torch.randn(4), MixParams(torch.full((4,), 0.5), torch.tensor([-1, 0, 1, 2])))


@pytest.mark.parametrize("c", [3, 50])  # fewer classes than rows (identity rows) and more (scatters)
@pytest.mark.parametrize("per_row", [False, True])
def test_soft_targets_equal_the_one_hot_reference_for_few_and_many_classes(c, per_row):
    g = torch.Generator().manual_seed(c)
    y_a, y_b = torch.randint(0, c, (6,), generator=g), torch.randint(0, c, (6,), generator=g)
    y_b[0] = y_a[0]
    lam = torch.rand(6, generator=g) if per_row else 0.3
    w = lam[:, None] if per_row else lam
    ref = w * F.one_hot(y_a, c) + (1 - w) * F.one_hot(y_b, c)
    t = MixedTarget(y_a, y_b, lam, "index", c)
    torch.testing.assert_close(t.soft(), ref.float())
    torch.testing.assert_close(MixedTarget(y_a, y_a, 1.0, "index", c, mixed=False).soft(), F.one_hot(y_a, c).float())
    with pytest.raises(MixupError, match="class index outside"):
        MixedTarget(y_a + c, y_b, lam, "index", c).soft()
