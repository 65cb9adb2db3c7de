"""Hypothesis fuzz over every public entry point: random shapes, dtypes, NaN/inf, empty and large batches.

Every call either succeeds (and then keeps shapes and dtypes) or fails with one of the library's own errors
(``MixupError``/``HookSiteError``, or ``TypeError``) carrying a message — never an ``IndexError`` or a shape
``RuntimeError`` from inside torch — and no forward hook stays attached after any failure.
The named cases of the same matrix are in tests/bad_input_cases.py (the table in docs/bad_input.md).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from mixup_any import MixedTarget, MixParams, MixUp, attach, mixed_loss
from mixup_any.exceptions import MixupError
from mixup_any.functional import mix
from mixup_any.sampling import PAIRINGS
from mixup_any.targets import mix_target

sys.path.insert(0, os.path.dirname(__file__))
from bad_input_cases import _TinyText  # noqa: E402  (the same tiny text model as the named cases)

OURS = (MixupError, TypeError)
# the fuzz feeds mismatched shapes on purpose; torch's broadcasting warnings are expected noise
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
# MIXUP_ANY_FUZZ_EXAMPLES=1000 for a longer local hunt (the suite runs 60 per entry point)
N = int(os.environ.get("MIXUP_ANY_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int32, torch.uint8,
          torch.bool, torch.complex64]
FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
SPECIAL = [math.nan, math.inf, -math.inf, 1e38, -1e38, 0.0]


@st.composite
def tensors(draw, dtypes=DTYPES, min_dims=0, max_dims=4, batch=None, rest=None, low=-3, high=3):
    """A tensor of random shape and dtype; float ones may hold NaN/inf/huge values; occasionally a large batch."""
    dtype = draw(st.sampled_from(dtypes))
    if rest is None:
        dims = draw(st.integers(min_dims, max_dims))
        rest = tuple(draw(st.lists(st.integers(0, 4), min_size=max(dims - 1, 0), max_size=max(dims - 1, 0))))
        if dims == 0:
            batch, rest = None, ()
    if batch is None and (rest or min_dims > 0 or draw(st.booleans())):
        batch = draw(st.one_of(st.integers(0, 6), st.just(2**12)))  # empty, small, or a large batch (label_distance pairing is O(B²))
    shape = ((batch,) if batch is not None else ()) + tuple(rest)
    if math.prod(shape) > 2**16:
        shape = shape[:1] + (1,) * (len(shape) - 1)
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    t = torch.randint(low, high, shape, generator=g) if not dtype.is_floating_point else torch.randn(shape, generator=g)
    t = t.to(dtype) if dtype != torch.bool else t > 0
    if dtype.is_floating_point and t.numel() and draw(st.booleans()):
        t.view(-1)[draw(st.integers(0, t.numel() - 1))] = draw(st.sampled_from(SPECIAL))
    return t


mixer_kwargs = st.fixed_dictionaries({}, optional={
    "alpha": st.sampled_from([0.0, 0.2, 1.0, 1e-9, 1e300, -1.0, math.nan, math.inf]),
    "lam": st.sampled_from([None, 0.3, 1.0, (0.2, 0.6), 1.5, math.nan]),
    "per_sample": st.booleans(),
    "p": st.sampled_from([0.0, 0.5, 1.0, math.nan, 2.0]),
    "pairing": st.sampled_from([*PAIRINGS, "bad"]),
    "num_classes": st.sampled_from([None, 1, 3, 0]),
    "exclude_classes": st.sampled_from([None, [0], []]),
    "label_smoothing": st.sampled_from([0.0, 0.1, 1.0]),
    "target": st.sampled_from(["auto", "index", "soft", "multilabel", "regression", "bad"]),
})


def _expect_ours(fn):
    """Run ``fn``; a failure must be one of our error types with a non-empty message."""
    try:
        return True, fn()
    except OURS as err:
        assert str(err).strip(), f"{type(err).__name__} without a message"
        return False, err


def _no_hooks(*models):
    for model in models:
        for name, m in model.named_modules():
            assert not m._forward_hooks and not m._forward_pre_hooks, f"hook left on {name or '<root>'}"


# ------------------------------------------------------------------------------------------------ core

def _make_mixer(kind, seed, kwargs, cut):
    from mixup_any import CutMix, RandomChoice

    if kind == "mixup":
        return MixUp(seed=seed, **kwargs)
    if kind == "cutmix":
        return CutMix(seed=seed, **cut, **kwargs)
    return RandomChoice([MixUp(**kwargs), CutMix(**cut, **kwargs)], seed=seed)


@FUZZ
@given(x=tensors(), y=st.one_of(st.none(), tensors(max_dims=3)), kwargs=mixer_kwargs, seed=st.integers(0, 99),
       kind=st.sampled_from(["mixup", "cutmix", "choice"]), cut=st.fixed_dictionaries({}, optional={
           "axis": st.sampled_from([-1, (-2, -1), 0, 5, (1, 1), "x"]), "min_area": st.sampled_from([0.0, 0.5, 2.0])}))
def test_fuzz_mixer_call(x, y, kwargs, seed, kind, cut):
    ok, mixer = _expect_ours(lambda: _make_mixer(kind, seed, kwargs, cut))
    if not ok:
        return
    ok, out = _expect_ours(lambda: mixer(x, y))
    if not ok:
        return
    xm, target = (out, None) if y is None else out
    assert xm.shape == x.shape and xm.dtype == x.dtype
    if target is not None:
        assert target.lam_rows().shape == (x.shape[0],)
        ok, dense = _expect_ours(target.dense)
        if ok:
            assert dense.shape[0] == x.shape[0]


@FUZZ
@given(x=tensors(), lam=tensors(max_dims=2), index=tensors(max_dims=2, low=-8, high=8),
       inplace=st.booleans())
def test_fuzz_kernel_mix(x, lam, index, inplace):
    x0 = x.clone()
    ok, out = _expect_ours(lambda: mix(x, lam, index, inplace=inplace))
    if ok:
        assert out.shape == x.shape and out.dtype == x.dtype
    elif not inplace:
        assert torch.equal(x, x0) or (x.is_floating_point() and torch.isnan(x).any())


@FUZZ
@given(y=tensors(max_dims=3), output=tensors(max_dims=3), kind=st.sampled_from(["auto", "index", "soft", "regression"]),
       num_classes=st.sampled_from([None, 1, 3, 5, 0, -1]), b=st.integers(0, 6),
       criterion=st.sampled_from(["ce", "ce_module", "bce", "mse", "reduced", "nll_weighted"]))
def test_fuzz_targets_and_losses(y, output, kind, num_classes, b, criterion):
    crit = {"ce": F.cross_entropy, "ce_module": nn.CrossEntropyLoss(), "bce": nn.BCEWithLogitsLoss(),
            "mse": nn.MSELoss(), "reduced": lambda o, t: F.mse_loss(o, t),
            "nll_weighted": nn.NLLLoss(weight=torch.ones(3))}[criterion]
    params = MixUp(alpha=1.0, seed=0).sample((max(b, 1),))
    ok, target = _expect_ours(lambda: mix_target(y, params, kind=kind, num_classes=num_classes))
    if ok:
        _expect_ours(lambda: target.soft(num_classes=num_classes))
    t = target if ok else y
    _expect_ours(lambda: mixed_loss(crit, output, t))
    _expect_ours(lambda: mixed_loss(crit, output, t, reduction="none"))


@FUZZ
@given(samples=st.lists(st.tuples(tensors(max_dims=3), tensors(max_dims=1, low=0, high=3)), max_size=5),
       to_float=st.booleans())
def test_fuzz_collate(samples, to_float):
    from mixup_any import MixupCollate

    ok, collate = _expect_ours(lambda: MixupCollate(MixUp(alpha=1.0, num_classes=3, seed=0), to_float=to_float))
    if ok:
        _expect_ours(lambda: collate(samples))


# ------------------------------------------------------------------------------------------------ hooks

SITES = ["input", "0", "1", "2", "1.weight", "*", "re:^[12]$", "re:((", nn.ReLU, nn.Conv2d, 7, ["0", "2"], []]


@FUZZ
@given(site=st.sampled_from(SITES), choose=st.sampled_from(["one", "all", "two"]),
       repeat=st.sampled_from(["raise", "first", "all", "x"]), dtype=st.sampled_from([torch.float32, torch.float64,
                                                                                      torch.bfloat16]),
       b=st.sampled_from([0, 1, 3, 4]), lb=st.sampled_from([None, 0, 3, 4]), pb=st.sampled_from([None, 2, 4]),
       special=st.sampled_from([None, *SPECIAL]), train=st.booleans(), forward=st.sampled_from(["model", "part",
                                                                                              "none", "twice"]))
def test_fuzz_hooks(site, choose, repeat, dtype, b, lb, pb, special, train, forward):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).to(dtype).train(train)
    x = torch.randn(b, 3, dtype=dtype)
    if special is not None and b:
        x[0, 0] = special
    labels = None if lb is None else torch.arange(lb) % 2
    params = None if pb is None else MixUp(alpha=1.0, seed=1).sample((pb,))

    def run():
        with attach(MixUp(alpha=1.0, num_classes=2, seed=0), model, at=site, choose=choose, repeat=repeat) as h:
            h.arm(labels, params=params)
            if forward == "model":
                out = model(x)
                assert out.shape == (b, 2) and out.dtype == dtype
            elif forward == "part":
                model[0](x)
            elif forward == "twice":
                model(x)
                model(x)
            target = h.target(torch.arange(b) % 2)
            assert target.lam_rows().shape == (b,)

    _expect_ours(run)
    _no_hooks(model)


# ------------------------------------------------------------------------------------------------ tabular

@FUZZ
@given(mixing=st.sampled_from(["embedding", "onehot", "swap", "bad"]), x_cont=st.one_of(st.none(), tensors(
    dtypes=FLOATS + [torch.int64], min_dims=2, max_dims=2)), x_cat=st.one_of(st.none(), tensors(
    dtypes=[torch.int64, torch.int32, torch.float32], min_dims=2, max_dims=2, low=-1, high=5)),
    y=tensors(max_dims=2, low=0, high=3), forward=st.booleans())
def test_fuzz_tabular(mixing, x_cont, x_cat, y, forward):
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    from mixup_any.tabular import TabularMixer, TabularMLP

    k = x_cat.shape[1] if x_cat is not None and x_cat.ndim == 2 else 2
    d = x_cont.shape[1] if x_cont is not None and x_cont.ndim == 2 else 0
    cards = [4] * k
    ok, model = _expect_ours(lambda: TabularMLP(d, cards, out_features=3, hidden_sizes=(8,)))
    if not ok:
        return

    def run():
        tm = TabularMixer(MixUp(alpha=1.0, seed=0), categorical_mixing=mixing, cardinalities=cards)
        with attach(tm, model, at="embedded" if mixing == "embedding" else None) as h:
            h.arm(y)
            if forward:
                # the model's weights are float32: feed it float32 (a dtype mismatch is torch's own error)
                model(x_cont.float() if x_cont is not None and x_cont.is_floating_point() else x_cont, x_cat)
            h.target(y)

    _expect_ours(run)
    _no_hooks(model)


# ------------------------------------------------------------------------------------------------ text



@FUZZ
@given(ids=tensors(dtypes=[torch.int64, torch.int32, torch.float32], max_dims=3, low=0, high=10),
       mask=st.one_of(st.none(), tensors(dtypes=[torch.int64, torch.bool, torch.float32], max_dims=3, low=0, high=2)),
       labels=st.one_of(st.none(), tensors(max_dims=2, low=0, high=2)), at=st.sampled_from(["tokens", "pooled", "emb",
                                                                                            "nope"]),
       rule=st.sampled_from([None, "union", "own", "intersection", "bad"]), train=st.booleans())
def test_fuzz_text(ids, mask, labels, at, rule, train):
    from mixup_any.text import TextMixer

    model = _TinyText().train(train)
    batch = {"input_ids": ids} if mask is None else {"input_ids": ids, "attention_mask": mask}

    def run():
        with attach(TextMixer(MixUp(alpha=1.0, seed=0), mask=rule), model, at=at) as mix:
            mix.arm(labels)
            if ids.is_floating_point() or ids.ndim > 2:
                return  # the model itself would reject these ids; the handle's checks are what is fuzzed
            model(**batch)
            mix.target(labels)

    _expect_ours(run)
    _no_hooks(model)


# ------------------------------------------------------------------------------------------------ CLI

@settings(max_examples=max(N // 2, 25), deadline=None)
@given(argv=st.lists(st.sampled_from(["compare", "--target", "y", "nope", "--folds", "0", "1", "-3", "abc",
                                      "--alpha", "-1", "nan", "--epochs", "--task", "regression", "--pairing",
                                      "--categorical-mixing", "bad", "--drop", "--seed", "--repeats", "--frobnicate", "<csv>",
                                      "<missing>"]), max_size=8))
def test_fuzz_cli_argv(argv, tmp_path_factory):
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    from mixup_any.cli import main

    tmp = tmp_path_factory.mktemp("cli")
    csv = tmp / "d.csv"
    csv.write_text("a,y\n1,0\n2,1\n")
    # no fuzzed run may train (too slow here): a missing CSV makes every otherwise-valid command fail early
    argv = [str(csv) if a == "<csv>" else str(tmp / "missing.csv") if a == "<missing>" else a for a in argv]
    if "compare" in argv and not any(a.endswith(".csv") for a in argv):
        argv.append(str(tmp / "missing.csv"))
    argv = [a if a != str(csv) else str(tmp / "missing.csv") for a in argv]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except SystemExit as exc:  # argparse's --help would exit 0; errors must come back as status 2
        code = exc.code
    assert code == 2, (argv, code, err.getvalue())
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("mixup-any: error:"), err.getvalue()


def test_fuzz_helpers_are_not_vacuous():
    """The fuzz harness itself rejects a foreign error (so the tests above can fail)."""
    with pytest.raises(IndexError):
        _expect_ours(lambda: torch.arange(3)[5])
    model = nn.Linear(2, 2)
    model.register_forward_hook(lambda *a: None)
    with pytest.raises(AssertionError, match="hook left"):
        _no_hooks(model)
    assert MixedTarget and MixParams  # imported names used by the named cases
