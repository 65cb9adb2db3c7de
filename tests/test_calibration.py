"""Calibration-safe modes against the papers' formulas, written out independently on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any import MixedTarget, MixParams, MixUp, MixupError
from mixup_any.calibration import warp_lambda, warp_params, warp_tau
from mixup_any.modes import inputs_only_target, regmixup_loss

scipy_stats = pytest.importorskip("scipy.stats")


def _target(lam, y_a, y_b, c=3):
    return MixedTarget(torch.tensor(y_a), torch.tensor(y_b), torch.tensor(lam), "index", c)


# ------------------------------------------------------------------ RegMixup
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0, 3.0])
def test_regmixup_is_clean_ce_plus_eta_mixed_ce(eta):
    g = torch.Generator().manual_seed(0)
    out = torch.randn(8, 3, generator=g)
    t = _target([0.9, 0.3, 0.5, 0.05], [0, 1, 2, 1], [2, 2, 0, 1])
    # the paper's formula, row by row: mean CE on clean rows + eta * mean of lam·CE(y_a) + (1-lam)·CE(y_b)
    clean = sum(-torch.log_softmax(out[i], 0)[t.y_a[i]] for i in range(4)) / 4
    mixed = sum(t.lam[i] * -torch.log_softmax(out[4 + i], 0)[t.y_a[i]]
                + (1 - t.lam[i]) * -torch.log_softmax(out[4 + i], 0)[t.y_b[i]] for i in range(4)) / 4
    torch.testing.assert_close(regmixup_loss(F.cross_entropy, out, t, eta=eta), clean + eta * mixed)


def test_regmixup_two_forwards_equal_one_concatenated_forward():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    mixer = MixUp(alpha=1.0, num_classes=3, seed=1)
    xm, t = mixer(x, y)
    one = regmixup_loss(F.cross_entropy, model(torch.cat([x, xm])), t)
    two = regmixup_loss(F.cross_entropy, torch.cat([model(x), model(xm)]), t)
    torch.testing.assert_close(one, two)


def test_regmixup_bad_input():
    t = _target([0.5], [0], [1])
    with pytest.raises(MixupError, match="eta"):
        regmixup_loss(F.cross_entropy, torch.zeros(2, 3), t, eta=-0.1)
    for bad in (float("nan"), True, "1"):
        with pytest.raises(MixupError, match="eta"):
            regmixup_loss(F.cross_entropy, torch.zeros(2, 3), t, eta=bad)
    with pytest.raises(MixupError, match=r"2B=2"):
        regmixup_loss(F.cross_entropy, torch.zeros(1, 3), t)
    with pytest.raises(MixupError, match="MixedTarget"):
        regmixup_loss(F.cross_entropy, torch.zeros(2, 3), torch.tensor([0]))
    # a criterion that only takes soft (B, C) targets cannot take the clean class indices
    with pytest.raises(MixupError, match="clean term"):
        regmixup_loss(lambda out, tt: F.cross_entropy(out, tt.soft()), torch.zeros(2, 3), t)


# ------------------------------------------------------------------ inputs only
def test_inputs_only_dominant_and_own_targets():
    t = _target([0.7, 0.2, 0.5, 1.0], [0, 1, 2, 1], [2, 0, 1, 0])
    dom = inputs_only_target(t)
    # MixupIO: y if lam > 0.5 else y[index] (a tie goes to the partner)
    assert dom.y_a.tolist() == [0, 0, 1, 1] and dom.y_b.tolist() == dom.y_a.tolist()
    assert dom.lam_rows().tolist() == [1.0] * 4 and not dom.mixed
    own = inputs_only_target(t, keep="own")
    assert own.y_a.tolist() == [0, 1, 2, 1]
    out = torch.randn(4, 3)
    from mixup_any import mixed_loss
    torch.testing.assert_close(mixed_loss(F.cross_entropy, out, dom), F.cross_entropy(out, torch.tensor([0, 0, 1, 1])))
    # soft targets (B, C) pick whole rows
    s = MixedTarget(torch.eye(3)[[0, 1]], torch.eye(3)[[2, 2]], torch.tensor([0.6, 0.4]), "soft", 3)
    torch.testing.assert_close(inputs_only_target(s).y_a, torch.eye(3)[[0, 2]])
    with pytest.raises(MixupError, match="keep"):
        inputs_only_target(t, keep="partner")
    with pytest.raises(MixupError, match="MixedTarget"):
        inputs_only_target(torch.tensor([0]))


# ------------------------------------------------------------------ kernel warping
@pytest.mark.parametrize("tau", [1e-3, 0.05, 0.3, 1.0, 2.5, 17.0, 400.0, 1e4])
def test_warp_lambda_is_the_beta_cdf(tau):
    lam = torch.linspace(0, 1, 201, dtype=torch.float64)
    ref = scipy_stats.beta.cdf(lam.numpy(), tau, tau)
    np.testing.assert_allclose(warp_lambda(lam, tau).numpy(), ref, atol=1e-8)


def test_warp_lambda_per_row_tau_and_dtype():
    lam = torch.tensor([0.1, 0.4, 0.8], dtype=torch.float32)
    tau = torch.tensor([0.5, 3.0, 40.0])
    got = warp_lambda(lam, tau)
    ref = [scipy_stats.beta.cdf(float(v), float(a), float(a)) for v, a in zip(lam, tau, strict=True)]
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 4096), st.integers(0, 4096), st.floats(1e-2, 1e3))
def test_warp_lambda_properties(a, b, tau):
    lo, hi = sorted((a / 4096, b / 4096))  # exact binary fractions, so 1 - (1 - lo) == lo
    w = warp_lambda(torch.tensor([lo, hi, 1 - lo], dtype=torch.float64), tau)
    assert 0 <= float(w[0]) <= float(w[1]) + 1e-12 <= 1 + 1e-12          # monotone, in [0, 1]
    assert math.isclose(float(w[0]) + float(w[2]), 1.0, abs_tol=1e-9)   # symmetric: w(1-x) = 1 - w(x)


def test_warp_tau_formula():
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    index = torch.tensor([1, 2, 3, 0])
    ff = f.numpy().astype(np.float64)
    d = np.array([((ff[i] - ff[j]) ** 2).sum() for i, j in enumerate(index.tolist())])
    dn = d / d.mean()
    ref = 1.0 / (0.7 * np.exp(-(dn - 1.0) / (2 * 0.4**2)))
    np.testing.assert_allclose(warp_tau(f, index, tau_max=0.7, tau_std=0.4).numpy(), np.clip(ref, 1e-3, 1e4),
                               rtol=1e-10)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(MixupError, match="tau_std"):
            warp_tau(f, index, tau_std=bad)
    with pytest.raises(MixupError, match="one row per pair"):
        warp_tau(f[:3], index)


def test_warp_params_far_pairs_mix_less_close_pairs_more():
    # four rows, pairs (0,1) close and (2,3) far: squared distances 0.01 and 4, mean 2.005
    f = torch.tensor([[0.0], [0.1], [0.0], [2.0]])
    p = MixParams(lam=torch.full((4,), 0.3), index=torch.tensor([1, 0, 3, 2]))
    lam = warp_params(p, f).lam
    d = torch.tensor([0.01, 0.01, 4.0, 4.0], dtype=torch.float64)
    tau = 1.0 / torch.exp(-(d / d.mean() - 1.0) / (2 * 0.5**2))       # the paper's kernel, tau_max = 1, sigma = 0.5
    ref = [scipy_stats.beta.cdf(0.3, float(t), float(t)) for t in tau]
    np.testing.assert_allclose(lam.numpy(), ref, rtol=1e-5)
    assert 0.3 < float(lam[0]) < 0.5          # close pair: tau < 1, lam pulled towards 0.5 (more mixing)
    assert float(lam[2]) < 0.3                # far pair: tau > 1, lam pushed towards 0 (less mixing)
    torch.testing.assert_close(warp_params(p, f + 5.0).lam, lam)     # distances only: a shift changes nothing


def test_warp_params_keeps_the_plan_and_draws_nothing():
    mixer = MixUp(alpha=1.0, per_sample=True, seed=3)
    x = torch.randn(6, 4)
    p = mixer.sample(x.shape)
    state = torch.random.get_rng_state()
    gen_state = mixer.generator.get_state()
    w = warp_params(p, x, tau_max=1.0, tau_std=0.5)
    assert torch.equal(torch.random.get_rng_state(), state) and torch.equal(mixer.generator.get_state(), gen_state)
    assert torch.equal(w.index, p.index)
    tau = warp_tau(x, p.index)
    ref = [scipy_stats.beta.cdf(float(v), float(a), float(a)) for v, a in zip(p.lam, tau, strict=True)]
    np.testing.assert_allclose(w.lam.numpy(), ref, atol=1e-6)
    # far pairs mix less: the pair with the largest distance has its lam pushed furthest from 0.5
    lam_w = w.lam.double()
    xm = mixer.mix(x, w)
    torch.testing.assert_close(xm, lam_w.float()[:, None] * x + (1 - lam_w.float()[:, None]) * x[p.index])
    ident = MixParams.identity(6)
    assert warp_params(ident, x) is ident
    with pytest.raises(MixupError, match="MixParams"):
        warp_params("plan", x)


def test_warp_params_refuses_plans_whose_weights_are_not_lam_alone():
    from mixup_any import CutMix, RandomChoice
    from mixup_any.params import Swap
    x = torch.randn(4, 1, 6, 6)
    box = CutMix(seed=0).sample(x.shape)
    choice = RandomChoice([MixUp(), CutMix()], seed=0).sample(x.shape)
    swap = MixParams(torch.full((4,), 0.5), torch.tensor([1, 0, 3, 2]), extra=Swap(torch.zeros(4, 2, dtype=torch.bool)))
    for p, what in ((box, "a Box record"), (choice, "a Choice record"), (swap, "a Swap record"),
                    (MixParams(torch.full((4,), 0.5), torch.tensor([1, 0, 3, 2]), target_lam=torch.ones(4)),
                     "a target_lam")):
        with pytest.raises(MixupError, match=f"interpolation \\(MixUp\\) plans, but this plan carries {what}"):
            warp_params(p, x.flatten(1))
