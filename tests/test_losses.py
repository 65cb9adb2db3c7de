"""Mixed losses: equal soft-target CE, honour the criterion's reduction and weights, reject reduced losses."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mixup_any import (
    MixParams,
    MixUp,
    MixupError,
    mixed_loss,
)
from mixup_any.targets import mix_target


def batch(b=6, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, generator=g), torch.randint(0, c, (b,), generator=g)


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 12), c=st.integers(2, 6), seed=st.integers(0, 999), eps=st.sampled_from([0.0, 0.1]),
       per_sample=st.booleans())
def test_mixed_ce_equals_soft_target_ce(b, c, seed, eps, per_sample):
    logits, y = batch(b, c, seed)
    mixer = MixUp(alpha=0.7, per_sample=per_sample, num_classes=c, label_smoothing=eps, seed=seed)
    _, t = mixer(torch.randn(b, 3), y)
    lazy = mixed_loss(nn.CrossEntropyLoss(label_smoothing=eps), logits, t)
    dense = F.cross_entropy(logits, t.soft())
    torch.testing.assert_close(lazy, dense)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reduction_is_honoured(reduction):
    logits, y = batch()
    p = MixParams(lam=torch.linspace(0, 1, 6), index=torch.tensor([5, 4, 3, 2, 1, 0]))
    t = mix_target(y, p)
    got = mixed_loss(nn.CrossEntropyLoss(reduction=reduction), logits, t)
    per = p.lam * F.cross_entropy(logits, y, reduction="none") + (1 - p.lam) * F.cross_entropy(
        logits, y[p.index], reduction="none")
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    torch.testing.assert_close(got, ref)
    # functional criteria get reduction="none" too
    torch.testing.assert_close(mixed_loss(F.cross_entropy, logits, t, reduction=reduction), ref)


def test_lam_one_equals_plain_loss_with_class_weights_and_ignore_index():
    logits, y = batch(8, 3)
    y[2] = -100
    crit = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]))
    t = mix_target(y, MixParams(lam=torch.ones(8), index=torch.arange(8).flip(0)))
    torch.testing.assert_close(mixed_loss(crit, logits, t), crit(logits, y))
    # identity plan path too
    torch.testing.assert_close(mixed_loss(crit, logits, mix_target(y, MixParams.identity(8))), crit(logits, y))


def test_multilabel_bce_and_regression_mse_mix_linearly():
    g = torch.Generator().manual_seed(1)
    out = torch.randn(5, 3, generator=g)
    y = (torch.rand(5, 3, generator=g) > 0.5).float()
    p = MixParams(lam=torch.rand(5, generator=g), index=torch.randperm(5, generator=g))
    t = mix_target(y, p)
    # BCE is linear in the target: mixing losses equals the loss on mixed multi-hot targets
    torch.testing.assert_close(mixed_loss(nn.BCEWithLogitsLoss(), out, t),
                               F.binary_cross_entropy_with_logits(out, t.soft()))
    yr = torch.randn(5, generator=g)
    tr = mix_target(yr, p)
    per = p.lam * (out[:, 0] - yr) ** 2 + (1 - p.lam) * (out[:, 0] - yr[p.index]) ** 2
    torch.testing.assert_close(mixed_loss(nn.MSELoss(), out[:, 0], tr), per.mean())


def test_plain_targets_pass_through():
    logits, y = batch()
    torch.testing.assert_close(mixed_loss(nn.CrossEntropyLoss(), logits, y), F.cross_entropy(logits, y))
    torch.testing.assert_close(mixed_loss(nn.CrossEntropyLoss(), logits, y, reduction="sum"),
                               F.cross_entropy(logits, y, reduction="sum"))


def test_class_weighted_mean_of_a_mixed_batch_divides_by_the_mixed_weights():
    logits, y = batch(8, 3)
    y[2] = -100  # ignored on its own side only
    weight = torch.tensor([1.0, 3.0, 0.25])
    p = MixParams(lam=torch.linspace(0.1, 0.9, 8), index=torch.tensor([1, 2, 3, 4, 5, 6, 7, 0]))
    got = mixed_loss(nn.CrossEntropyLoss(weight=weight, ignore_index=-100), logits, mix_target(y, p))
    num = den = 0.0
    for i, j in enumerate(p.index.tolist()):  # row by row: each side's weight, zero for an ignored label
        lam = float(p.lam[i])
        for side, share in ((int(y[i]), lam), (int(y[j]), 1 - lam)):
            if side != -100:
                num += share * float(weight[side]) * float(-logits[i].log_softmax(-1)[side])
                den += share * float(weight[side])
    torch.testing.assert_close(got, torch.tensor(num / den))


def test_plain_targets_with_a_reduction_reduce_as_torch_does():
    logits, y = batch(8, 3)
    weight = torch.tensor([1.0, 3.0, 0.25])
    torch.testing.assert_close(mixed_loss(nn.CrossEntropyLoss(weight=weight), logits, y, reduction="mean"),
                               F.cross_entropy(logits, y, weight=weight))
    with pytest.raises(MixupError, match="floating-point losses"):
        mixed_loss(lambda out, tgt: tgt * 2, logits, y, reduction="mean")
    t = mix_target(y, MixParams(lam=torch.full((8,), 0.5), index=torch.arange(8).flip(0)))
    with pytest.raises(MixupError, match="floating-point losses"):
        mixed_loss(lambda out, tgt: tgt * 2, logits, t)


def test_reduced_criterion_is_rejected_with_reason():
    logits, y = batch()
    t = mix_target(y, MixParams(lam=torch.full((6,), 0.5), index=torch.arange(6).flip(0)))
    with pytest.raises(MixupError, match="needs per-sample losses"):
        mixed_loss(lambda out, tgt: F.cross_entropy(out, tgt), logits, t)
    with pytest.raises(MixupError, match="Unknown reduction 'avg'"):
        mixed_loss(nn.CrossEntropyLoss(), logits, t, reduction="avg")
    with pytest.raises(MixupError, match="once per head"):
        mixed_loss(nn.CrossEntropyLoss(), logits, {"a": t})


def test_criterion_not_modified():
    crit = nn.CrossEntropyLoss()
    logits, y = batch()
    mixed_loss(crit, logits, mix_target(y, MixParams(lam=torch.full((6,), 0.5), index=torch.arange(6))))
    assert crit.reduction == "mean"
