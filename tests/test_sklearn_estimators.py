"""scikit-learn compatibility of MixupTabularClassifier / MixupTabularRegressor."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mixup_any import MixParams, MixUp  # noqa: E402
from mixup_any.exceptions import MixupError  # noqa: E402
from mixup_any.tabular import MixupTabularClassifier, MixupTabularRegressor  # noqa: E402

FAST = dict(max_epochs=40, batch_size=64, hidden_sizes=(32,), lr=1e-2, dropout=0.0, n_iter_no_change=5)


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny MLPs: one intra-op thread is faster, and far faster on a loaded 2-core machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@parametrize_with_checks(
    [MixupTabularClassifier(random_state=0, **FAST), MixupTabularRegressor(random_state=0, **FAST)]
)
def test_sklearn_compatible(estimator, check):
    torch.set_num_threads(1)
    check(estimator)


def _table(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    df = pd.DataFrame({
        "x": x,
        "noise": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "color": pd.Series(color, dtype="object").where(rng.random(n) > 0.05, None),
        "flag": rng.random(n) < 0.5,
    })
    y = np.where(x + (color == "red") > 0.3, "good", "bad")
    return df, y


def test_dataframe_with_strings_missing_and_unseen_categories():
    X, y = _table()
    clf = MixupTabularClassifier(random_state=0, **FAST).fit(X, y)
    assert list(clf.classes_) == ["bad", "good"]
    assert clf.n_features_in_ == 4 and list(clf.feature_names_in_) == list(X.columns)
    assert clf.preprocessor_.schema_.categorical == ("color", "flag")
    new = X.head(5).copy()
    new.loc[new.index[0], "color"] = "purple"  # unseen at fit
    new.loc[new.index[1], ["color", "x"]] = [None, np.nan]
    proba = clf.predict_proba(new)
    assert proba.shape == (5, 2) and np.allclose(proba.sum(1), 1)
    assert set(clf.predict(new)) <= {"bad", "good"}
    assert clf.score(X, y) > 0.8


def test_multiclass_and_multilabel():
    X, y = _table(150)
    y3 = np.where(X["x"] > 0.5, "hi", np.where(X["x"] < -0.5, "lo", "mid"))
    clf = MixupTabularClassifier(random_state=0, **FAST).fit(X, y3)
    assert clf.predict_proba(X).shape == (150, 3)
    Y = np.stack([(X["x"] > 0).to_numpy(), (X["color"] == "red").to_numpy()], 1).astype(int)
    ml = MixupTabularClassifier(random_state=0, **FAST).fit(X, Y)
    assert ml.predict(X).shape == (150, 2) and set(np.unique(ml.predict(X))) <= {0, 1}
    assert ((ml.predict_proba(X) >= 0) & (ml.predict_proba(X) <= 1)).all()


@pytest.mark.parametrize("policy", ["embedding", "onehot", "swap"])
def test_categorical_policies_train(policy):
    X, y = _table()
    clf = MixupTabularClassifier(categorical_mixing=policy, alpha=1.0, random_state=0, **FAST).fit(X, y)
    assert clf.score(X, y) > 0.75


def test_regressor_cmixup_and_multioutput():
    X, _ = _table()
    t = 2 * X["x"].to_numpy() + 1
    reg = MixupTabularRegressor(pairing="label_distance", bandwidth=0.5, random_state=0, **FAST).fit(X, t)
    assert reg.predict(X).shape == (120,) and reg.score(X, t) > 0.8
    T = np.stack([t, -t], 1)
    assert MixupTabularRegressor(random_state=0, **FAST).fit(X, T).predict(X).shape == (120, 2)


def test_same_seed_same_model_and_global_rng_untouched():
    X, y = _table()
    state = torch.get_rng_state()
    a = MixupTabularClassifier(random_state=3, **FAST).fit(X, y).predict_proba(X)
    assert torch.equal(torch.get_rng_state(), state)  # fit runs in a forked RNG
    b = MixupTabularClassifier(random_state=3, **FAST).fit(X, y).predict_proba(X)
    c = MixupTabularClassifier(random_state=4, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_alpha_zero_is_erm_and_changes_training():
    X, y = _table()
    erm = MixupTabularClassifier(alpha=0.0, random_state=0, **FAST).fit(X, y)
    mix = MixupTabularClassifier(alpha=1.0, random_state=0, **FAST).fit(X, y)
    assert erm.mixer_.active() is False
    assert not np.allclose(erm.predict_proba(X), mix.predict_proba(X))


def test_pickle_and_joblib_round_trip(tmp_path):
    import joblib

    X, y = _table()
    clf = MixupTabularClassifier(random_state=0, **FAST).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    joblib.dump(clf, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X), clf.predict(X))


def test_clone_pipeline_cross_val_and_grid_search():
    X, y = _table()
    clf = MixupTabularClassifier(random_state=0, **FAST)
    assert clone(clf).get_params() == clf.get_params()
    pipe = make_pipeline(FunctionTransformer(lambda d: d.assign(x2=d["x"] ** 2)), clf)
    scores = cross_val_score(pipe, X, y, cv=2)
    assert scores.shape == (2,) and (scores > 0.6).all()
    grid = GridSearchCV(clf, {"alpha": [0.0, 0.4]}, cv=2).fit(X, y)
    assert grid.best_params_["alpha"] in (0.0, 0.4)
    routed = MixupTabularClassifier(mixer=MixUp(alpha=0.2), random_state=0, **FAST)
    grid = GridSearchCV(routed, {"mixer__alpha": [0.1, 1.0]}, cv=2).fit(X, y)
    assert grid.best_estimator_.mixer_.alpha in (0.1, 1.0)
    assert routed.mixer.alpha == 0.2 and routed.mixer.num_classes is None  # the caller's mixer is untouched


def test_early_stopping_and_temperature_scaling():
    X, y = _table(200)
    y = np.where(np.random.default_rng(1).random(200) < 0.2, np.where(y == "good", "bad", "good"), y)  # label noise:
    kw = {**FAST, "max_epochs": 200, "n_iter_no_change": 3}  # misclassified validation rows identify a temperature
    clf = MixupTabularClassifier(random_state=0, temperature_scaling=True, validation_fraction=0.2, **kw).fit(X, y)
    assert clf.n_epochs_ < 200 and "val_loss" in clf.history_[0]
    assert clf.best_epoch_ == min(range(clf.n_epochs_), key=lambda e: clf.history_[e]["val_loss"])
    assert clf.temperature_ > 0 and clf.temperature_ != 1.0
    raw = clf._proba_from_logits(clf.predict_logits(X), 1.0)
    np.testing.assert_allclose(clf.predict_proba(X), clf._proba_from_logits(clf.predict_logits(X), clf.temperature_))
    np.testing.assert_array_equal(raw.argmax(1), clf.predict_proba(X).argmax(1))  # T > 0 keeps the ranking
    # the temperature is the one of the held-out rows (the same stratified split, redrawn from the seed)
    from mixup_any.tabular.estimators import _fit_temperature, _seed_from
    y_enc = torch.as_tensor(np.searchsorted(clf.classes_, y))
    train, val = clf._split(y_enc, True, torch.Generator().manual_seed(_seed_from(0)))
    logits = torch.as_tensor(clf.predict_logits(X), dtype=torch.float32)
    assert clf.temperature_ == pytest.approx(_fit_temperature(logits[val], y_enc[val], F.cross_entropy), rel=5e-3)
    assert clf.temperature_ != pytest.approx(_fit_temperature(logits[train], y_enc[train], F.cross_entropy), rel=5e-2)
    no_val = MixupTabularClassifier(random_state=0, early_stopping=False, validation_fraction=0.0, **FAST)
    with pytest.warns(UserWarning, match="temperature_scaling needs a validation split"):
        no_val.set_params(temperature_scaling=True).fit(X, y)
    assert no_val.n_epochs_ == FAST["max_epochs"]


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    X, y = _table()
    MixupTabularClassifier(random_state=0, verbose=True, **{**FAST, "max_epochs": 2}).fit(X, y)
    assert "MixupTabularClassifier mixup alpha=0.4" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda X, y: (X, np.array(["a"] * len(X))), r"only one class \('a'\)"),
        (lambda X, y: (X.iloc[:0], y[:0]), "empty"),
        (lambda X, y: (X, y[:-1]), "X has 120 rows but y has 119"),
    ],
)
def test_bad_fit_input(make, match):
    X, y = _table()
    with pytest.raises(ValueError, match=match):
        MixupTabularClassifier(**FAST).fit(*make(X, y))


def test_forced_continuous_non_numeric_column():
    X, y = _table()
    with pytest.raises(MixupError, match="'color' is forced to be continuous but holds non-numeric"):
        MixupTabularClassifier(continuous=["color"], **FAST).fit(X, y)


def test_predict_columns_must_match_fit():
    X, y = _table()
    clf = MixupTabularClassifier(random_state=0, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="Feature names"):
        clf.predict(X.rename(columns={"x": "renamed"}))
    with pytest.raises(ValueError, match="yet now missing:\n- flag"):
        clf.predict(X.drop(columns=["flag"]))


def test_arrays_with_categorical_positions():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=100), rng.integers(0, 4, size=100)])
    y = (X[:, 1] >= 2).astype(int)
    clf = MixupTabularClassifier(categorical=[1], random_state=0, **FAST).fit(X, y)
    assert clf.preprocessor_.schema_.categorical == ("x1",)
    assert not hasattr(clf, "feature_names_in_")
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("mode", ["mixup", "inputs_only", "regmixup"])
def test_mode_losses_follow_the_papers(mode):
    """Each mode's training loss against its formula: soft-target CE (mixup), CE on the dominant input's
    label (inputs only), clean CE + eta x soft-target CE (RegMixup)."""
    import torch.nn.functional as F

    from mixup_any.targets import MixedTarget

    clf = MixupTabularClassifier(mode=mode, eta=0.7)
    clf._multilabel = False
    g = torch.Generator().manual_seed(0)
    out, clean = torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g)
    y_a, y_b = torch.randint(0, 3, (16,), generator=g), torch.randint(0, 3, (16,), generator=g)
    lam = torch.rand(16, generator=g)
    t = MixedTarget(y_a, y_b, lam, "index", 3)
    soft = torch.zeros(16, 3)
    for i in range(16):
        soft[i, y_a[i]] += lam[i]
        soft[i, y_b[i]] += 1 - lam[i]
    if mode == "mixup":
        want = F.cross_entropy(out, soft)
    elif mode == "inputs_only":
        want = F.cross_entropy(out, torch.tensor([int(y_a[i] if lam[i] > 0.5 else y_b[i]) for i in range(16)]))
    else:
        want = F.cross_entropy(clean, y_a) + 0.7 * F.cross_entropy(out, soft)
    torch.testing.assert_close(clf._mode_loss(out, t, clean), want)


@pytest.mark.parametrize("mode", ["erm", "regmixup", "inputs_only"])
def test_modes_train_and_differ(mode):
    X, y = _table()
    clf = MixupTabularClassifier(mode=mode, random_state=0, **FAST).fit(X, y)
    assert clf.mixer_.active() is (mode != "erm")
    assert clf.score(X, y) > 0.8
    mix = MixupTabularClassifier(mode="mixup", random_state=0, **FAST).fit(X, y)
    assert not np.allclose(clf.predict_proba(X), mix.predict_proba(X))


def test_mode_and_eta_bad_input():
    X, y = _table(40)
    with pytest.raises(MixupError, match="Unknown mode 'cutmix'"):
        MixupTabularClassifier(mode="cutmix", **FAST).fit(X, y)
    with pytest.raises(MixupError, match="eta"):
        MixupTabularClassifier(mode="regmixup", eta=-1.0, **FAST).fit(X, y)
    with pytest.raises(MixupError, match="numeric"):
        MixupTabularClassifier(numeric="log", **FAST).fit(X, y)
    with pytest.raises(MixupError, match="alpha must be"):
        MixupTabularClassifier(alpha=-0.5, **FAST).fit(X, y)


def test_mixer_with_alpha_is_an_error_and_alpha_flows_into_the_mixer():
    X, y = _table(60)
    with pytest.raises(MixupError, match="mixer= replaces alpha"):
        MixupTabularClassifier(mixer=MixUp(alpha=0.2), alpha=0.5, **FAST).fit(X, y)
    with pytest.raises(MixupError, match="pairing='same_class'"):
        MixupTabularClassifier(mixer=MixUp(alpha=0.2), pairing="same_class", **FAST).fit(X, y)
    # a grid over alpha with a mixer set was a silent no-op; now every fit says why
    grid = GridSearchCV(MixupTabularClassifier(mixer=MixUp(alpha=0.2), **FAST), {"alpha": [0.1, 1.0]}, cv=2,
                        error_score="raise")
    with pytest.raises(MixupError, match="mixer__alpha"):
        grid.fit(X, y)
    for a in (0.1, 1.0):
        assert MixupTabularClassifier(alpha=a, random_state=0, **FAST).fit(X, y).mixer_.alpha == a
    assert MixupTabularClassifier(random_state=0, **FAST).fit(X, y).mixer_.alpha == 0.4  # the default
    assert MixupTabularClassifier(alpha=1.0, mode="erm", random_state=0, **FAST).fit(X, y).mixer_.alpha == 0.0


@pytest.mark.parametrize("numeric", ["standard", "quantile", "power", "robust"])
def test_numeric_preprocessing_matches_sklearn(numeric):
    from sklearn.preprocessing import PowerTransformer, QuantileTransformer, RobustScaler, StandardScaler

    from mixup_any.tabular import TabularPreprocessor

    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 2, 300)
    x[::10] = np.nan
    df = pd.DataFrame({"x": x})
    got = TabularPreprocessor(numeric=numeric).fit(df).transform(df)
    ref = {"standard": StandardScaler(), "power": PowerTransformer(),
           "quantile": QuantileTransformer(output_distribution="normal", n_quantiles=300, random_state=0),
           "robust": RobustScaler()}[numeric].fit_transform(x[:, None])[:, 0]
    if numeric == "robust":
        ref = np.clip(ref, -5, 5)
    ref = np.where(np.isnan(ref), np.nanmedian(ref), ref)
    np.testing.assert_allclose(got[:, 0], ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(got[:, 1], np.isnan(x).astype(float))  # the indicator stays 0/1


def test_cmixup_partners_come_from_the_whole_training_set_with_the_kernel():
    from mixup_any.tabular.estimators import label_distance_partners

    y_train = torch.tensor([[0.0], [0.5], [1.0], [3.0]])
    rows = torch.tensor([10, 11, 12, 13])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([label_distance_partners(y_train[:1], y_train, rows[:1], rows, 0.8, g) for _ in range(4000)])
    freq = np.array([(draws == r).float().mean().item() for r in rows.tolist()])
    w = np.exp(-(np.array([0.0, 0.5, 1.0, 3.0]) ** 2) / (2 * 0.8**2))
    w[0] = 0.0  # never itself
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.03)


def test_cmixup_regressor_mixes_batch_rows_with_whole_set_partners():
    from mixup_any.tabular.estimators import _AppendedPartners

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=120)
    reg = MixupTabularRegressor(pairing="label_distance", bandwidth=0.5, random_state=0, **FAST).fit(X, y)
    assert isinstance(reg.mixer_.pairing, _AppendedPartners)
    assert reg.score(X, y) > 0.8
    # the appended plan: row i mixes with row B + i, partners pair with themselves (unmixed)
    idx = _AppendedPartners()(6)
    assert idx.tolist() == [3, 4, 5, 3, 4, 5]
    x = torch.randn(6, 2)
    lam = torch.tensor([0.3, 0.6, 0.9, 0.1, 0.2, 0.5])
    mixed = MixUp().mix(x, MixParams(lam=lam, index=idx))
    torch.testing.assert_close(mixed[:3], lam[:3, None] * x[:3] + (1 - lam[:3, None]) * x[3:])
    torch.testing.assert_close(mixed[3:], x[3:])
    # classifiers and custom mixers keep in-batch pairing
    assert not MixupTabularRegressor(pairing="permute")._whole_set_pairing()


def test_temperature_is_fitted_only_when_the_validation_split_identifies_it():
    from scipy.optimize import minimize_scalar

    from mixup_any.tabular.estimators import _fit_temperature

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 3, generator=g) * 3
    y = logits.argmax(1)                                  # every row right: the loss falls forever as T -> 0
    assert _fit_temperature(logits, y, F.cross_entropy) is None
    y1 = y.clone()
    y1[0] = (y[0] + 1) % 3                                # one wrong row still decides T alone
    assert _fit_temperature(logits, y1, F.cross_entropy) is None
    y4 = y.clone()
    y4[:4] = (y[:4] + 1) % 3                              # identified: T is the minimiser of the validation NLL
    ref = minimize_scalar(lambda t: float(F.cross_entropy(logits / t, y4)), bounds=(0.05, 50), method="bounded", options={"xatol": 1e-6}).x
    assert _fit_temperature(logits, y4, F.cross_entropy) == pytest.approx(ref, rel=5e-3)  # float32 NLL
    # multilabel: label decisions on the wrong side of 0 count
    ml = (logits > 0).float()
    assert _fit_temperature(logits, ml, F.binary_cross_entropy_with_logits) is None
    ml[:3, 0] = 1 - ml[:3, 0]
    assert _fit_temperature(logits, ml, F.binary_cross_entropy_with_logits) is not None
    # a separable table: the estimator keeps T = 1 and says why when temperature scaling was asked for
    X = np.r_[np.zeros((40, 1)), np.ones((40, 1))] + np.linspace(0, 0.01, 80)[:, None]
    yy = np.r_[np.zeros(40), np.ones(40)].astype(int)
    with pytest.warns(UserWarning, match="cannot identify a temperature"):
        clf = MixupTabularClassifier(mode="erm", temperature_scaling=True, validation_fraction=0.25, random_state=0,
                                     **FAST).fit(X, yy)
    assert clf.temperature_ == 1.0


@pytest.mark.parametrize("bad", [np.inf, -np.inf, 1e300, -4e38])
@pytest.mark.parametrize("est", [MixupTabularClassifier, MixupTabularRegressor])
def test_values_that_are_not_finite_float32_name_the_column(bad, est):
    X, y = _table()
    y = y if est is MixupTabularClassifier else X["x"].to_numpy()
    X_bad = X.copy()
    X_bad.loc[3, "noise"] = bad
    with pytest.raises(MixupError, match=r"Column 'noise' holds .* \(row 3\); expected finite numbers"):
        est(**FAST).fit(X_bad, y)
    with pytest.raises(MixupError, match=r"Column 'x1' holds .*expected finite numbers"):
        est(**FAST).fit(X_bad[["x", "noise"]].to_numpy(), y)
    fitted = est(random_state=0, **FAST).fit(X, y)
    with pytest.raises(MixupError, match=r"Column 'noise' holds .* \(row 3\)"):
        fitted.predict(X_bad)  # never NaN probabilities, never a silent classes_[0]
    X_ok = X.copy()
    X_ok.loc[3, "noise"] = 3e38  # within float32, but Yeo-Johnson scales it past float32: named too
    with pytest.raises(MixupError, match="Column 'noise' holds a value that numeric='power' scales beyond float32"):
        fitted.predict(X_ok)


def test_temperature_fit_of_non_finite_logits_keeps_t_at_one():
    from mixup_any.tabular.estimators import _fit_temperature

    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [float("inf"), 0.0], [0.0, 2.0]])
    assert _fit_temperature(logits, torch.tensor([1, 0, 1, 0]), F.cross_entropy) is None


@pytest.mark.parametrize(("cols", "match"), [
    (["flag", "color", "noise", "x"], "must be in the same order as they were in fit"),
    (["x", "noise", "color"], "yet now missing:\n- flag\n"),
    (["x", "noise", "color", "flag", "extra"], "unseen at fit time:\n- extra\n"),
])
def test_predict_columns_reordered_missing_or_extra_raise_mixup_error(cols, match):
    # scikit-learn's rule for a fitted estimator with feature_names_in_ (its check_dataframe_column_names_consistency):
    # the columns of fit, in the same order; the message lists what X has and what was expected
    X, y = _table()
    clf = MixupTabularClassifier(random_state=0, **FAST).fit(X, y)
    with pytest.raises(MixupError, match=match) as err:
        clf.predict(X.assign(extra=1.0)[cols])
    assert f"expected {list(X.columns)}, in that order" in str(err.value).splitlines()[0]
