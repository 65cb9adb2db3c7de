"""Metrics against independent references (scikit-learn, a plain-Python ECE loop)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any.exceptions import MixupError
from mixup_any.metrics import accuracy, brier_score, expected_calibration_error, log_loss, mean_std

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _data(n: int, c: int, seed: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    probs = torch.randn(n, c, generator=g, dtype=torch.float64).mul(2).softmax(-1).to(dtype)
    y = torch.randint(0, c, (n,), generator=g)
    return probs, y


def _ece_reference(probs, y, n_bins):
    conf = probs.max(-1).values.double().tolist()
    pred = probs.argmax(-1).tolist()
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        rows = [i for i, c in enumerate(conf) if (lo < c <= hi) or (b == 0 and c == 0)]
        if rows:
            acc = sum(pred[i] == int(y[i]) for i in rows) / len(rows)
            cf = sum(conf[i] for i in rows) / len(rows)
            total += len(rows) / len(conf) * abs(acc - cf)
    return total


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), c=st.integers(2, 6), seed=st.integers(0, 10_000), n_bins=st.sampled_from([1, 10, 15]))
def test_against_references(n, c, seed, n_bins):
    probs, y = _data(n, c, seed, torch.float64)
    assert accuracy(probs, y) == pytest.approx(sklearn_metrics.accuracy_score(y, probs.argmax(-1)))
    assert log_loss(probs, y) == pytest.approx(sklearn_metrics.log_loss(y, probs, labels=list(range(c))), rel=1e-9)
    ref_brier = sklearn_metrics.brier_score_loss(y, probs[:, 1] if c == 2 else probs, labels=list(range(c)))
    assert brier_score(probs, y) == pytest.approx(float(ref_brier))
    assert expected_calibration_error(probs, y, n_bins) == pytest.approx(_ece_reference(probs, y, n_bins), abs=1e-9)


def test_brier_is_scikit_learns_definition():
    # two classes: the positive class's squared error (half the two-class sum); more: the sum over classes
    probs, y = torch.tensor([[0.8, 0.2], [0.3, 0.7]], dtype=torch.float64), torch.tensor([0, 0])
    assert brier_score(probs, y) == pytest.approx((0.2**2 + 0.7**2) / 2)
    assert brier_score(probs, y) == pytest.approx(sklearn_metrics.brier_score_loss(y, probs[:, 1]))
    p3, y3 = torch.tensor([[0.5, 0.25, 0.25]], dtype=torch.float64), torch.tensor([1])
    assert brier_score(p3, y3) == pytest.approx(0.5**2 + 0.75**2 + 0.25**2)


def test_ece_confidence_on_a_bin_edge_goes_to_the_lower_bin():
    # bins are (lo, hi]: confidence 0.75 belongs to (0.5, 0.75] with 4 bins, not to (0.75, 1.0]
    probs = torch.tensor([[0.75, 0.25], [0.125, 0.875]], dtype=torch.float64)
    y = torch.tensor([1, 1])  # the first row is wrong (confidence 0.75), the second right (0.875)
    # own bins: 0.5 * |0 - 0.75| + 0.5 * |1 - 0.875|; one shared bin would give |0.5 - 0.8125| = 0.3125
    assert expected_calibration_error(probs, y, n_bins=4) == pytest.approx(0.4375)
    # the same with the default 15 bins: confidence 0.6 = 9/15 is the top of bin (8/15, 9/15]
    probs = torch.tensor([[0.6, 0.4], [0.35, 0.65]], dtype=torch.float64)
    assert expected_calibration_error(probs, y) == pytest.approx(0.5 * 0.6 + 0.5 * 0.35)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtypes_agree(dtype):
    probs, y = _data(50, 4, 0)
    ref = expected_calibration_error(probs.to(dtype).double(), y)
    assert expected_calibration_error(probs.to(dtype), y) == pytest.approx(ref)


def test_perfectly_calibrated_and_confident():
    y = torch.tensor([0, 1, 2])
    probs = torch.nn.functional.one_hot(y, 3).float()
    assert expected_calibration_error(probs, y) == 0.0
    assert accuracy(probs, y) == 1.0 and brier_score(probs, y) == 0.0 and log_loss(probs, y) == pytest.approx(0.0)


def test_mean_std():
    assert mean_std([1.0]) == "1.000 ± 0.000"
    vals = [0.1, 0.4, 0.7]
    m, s = sum(vals) / 3, math.sqrt(sum((v - 0.4) ** 2 for v in vals) / 2)
    assert mean_std(vals, digits=2) == f"{m:.2f} ± {s:.2f}"
    with pytest.raises(MixupError, match="at least one value"):
        mean_std([])


def test_bad_input():
    with pytest.raises(MixupError, match=r"shape \(N, C\)"):
        accuracy(torch.rand(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(MixupError, match="integer class indices"):
        log_loss(torch.rand(4, 2), torch.zeros(4))
    with pytest.raises(MixupError, match="outside"):
        brier_score(torch.rand(2, 2), torch.tensor([0, 2]))
    with pytest.raises(MixupError, match="n_bins"):
        expected_calibration_error(torch.rand(2, 2), torch.tensor([0, 1]), n_bins=0)
