"""metrics.paired_t_interval: the one "beyond the noise" rule, checked against scipy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any.exceptions import MixupError
from mixup_any.metrics import paired_t_interval, t_quantile_975

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 4, 9, 29, 30, 31, 40, 100, 1000])
def test_t_quantile_matches_scipy(df):
    assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=2, max_size=40))
def test_interval_equals_scipy_ttest_rel(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    d = [x - y for x, y in pairs]
    iv = paired_t_interval(a, b)
    assert iv.diff == pytest.approx(sum(d) / len(d), abs=1e-9)
    if max(d) - min(d) < 1e-6:  # no spread: scipy returns nan, we a zero-width interval
        return
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert iv.low == pytest.approx(ci.low, rel=1e-6, abs=1e-6)
    assert iv.high == pytest.approx(ci.high, rel=1e-6, abs=1e-6)
    assert iv.beyond_noise == (ci.low > 0 or ci.high < 0)


def test_corrected_interval_for_cross_validation():
    a, b = [0.80, 0.82, 0.79, 0.81, 0.83], [0.78, 0.80, 0.80, 0.79, 0.80]
    d = [x - y for x, y in zip(a, b, strict=True)]
    n, m = len(d), sum(d) / len(d)
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * sd * math.sqrt(1 / n + 1 / 4)  # Nadeau-Bengio, 5 folds: n2/n1 = 1/4
    iv = paired_t_interval(a, b, test_over_train=0.25)
    assert (iv.low, iv.high) == (pytest.approx(m - half), pytest.approx(m + half))
    assert iv.high - iv.low > paired_t_interval(a, b).high - paired_t_interval(a, b).low


def test_verdicts():
    assert paired_t_interval([1.0, 1.1, 1.2], [0.0, 0.1, 0.1]).verdict(higher_is_better=True) == "better"
    assert paired_t_interval([1.0, 1.1, 1.2], [0.0, 0.1, 0.1]).verdict(higher_is_better=False) == "worse"
    assert paired_t_interval([1.0, 1.1, 1.2], [0.0, 0.1, 0.1]).verdict() == "beyond noise"
    assert paired_t_interval([0.1, -0.1, 0.2], [0.0, 0.0, 0.0]).verdict(True) == "within noise"
    one = paired_t_interval([1.0], [0.0])
    assert one.diff == 1.0 and math.isnan(one.low) and one.verdict() == "n/a (one pair)" and not one.beyond_noise


@pytest.mark.parametrize("a, b, kw, match", [([1.0, 2.0], [1.0], {}, "matched pairs"), ([], [], {}, "at least one"),
                                             ([1.0], [1.0], {"test_over_train": -1.0}, "test_over_train")])
def test_bad_input(a, b, kw, match):
    with pytest.raises(MixupError, match=match):
        paired_t_interval(a, b, **kw)
