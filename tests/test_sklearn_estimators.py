"""scikit-learn compatibility of MixupTabularClassifier / MixupTabularRegressor."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from scipy.special import softmax  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mixup_any import MixParams, MixUp  # noqa: E402
from mixup_any.exceptions import MixupError  # noqa: E402
from mixup_any.sampling import label_distance_partners  # noqa: E402
from mixup_any.tabular import MixupTabularClassifier, MixupTabularRegressor  # noqa: E402
from mixup_any.tabular.temperature import fit_temperature  # noqa: E402

FAST = dict(max_epochs=40, batch_size=64, hidden_sizes=(32,), lr=1e-2, dropout=0.0, n_iter_no_change=5)




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


@pytest.mark.parametrize("categorical_mixing", ["embedding", "onehot", "swap"])
def test_each_categorical_mixing_trains(categorical_mixing):
    X, y = _table()
    clf = MixupTabularClassifier(categorical_mixing=categorical_mixing, alpha=1.0, random_state=0, **FAST).fit(X, y)
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
    logits = clf.predict_logits(X)
    np.testing.assert_allclose(clf.predict_proba(X), softmax(logits / clf.temperature_, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(logits.argmax(1), clf.predict_proba(X).argmax(1))  # T > 0 keeps the ranking
    no_val = MixupTabularClassifier(random_state=0, early_stopping=False, validation_fraction=0.0, **FAST)
    with pytest.warns(UserWarning, match="temperature_scaling needs a validation split"):
        no_val.set_params(temperature_scaling=True).fit(X, y)
    assert no_val.n_epochs_ == FAST["max_epochs"]


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    X, y = _table()
    MixupTabularClassifier(random_state=0, verbose=True, **{**FAST, "max_epochs": 2}).fit(X, y)
    assert "MixupTabularClassifier inputs_only alpha=0.4" in capsys.readouterr().err


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


def test_regmixup_trains_on_the_clean_rows_plus_eta_times_the_mixed_rows():
    """RegMixup's loss is CE(clean outputs, y) + eta x the mixup loss: with eta = 0 only the clean term is left, so
    full-batch training is ERM's (up to the float rounding of a loss over rows drawn in another order); a loop
    that swapped the clean and mixed outputs, or dropped eta, would train something else."""
    X, y = _table()
    kw = {**FAST, "batch_size": 1000, "early_stopping": False, "validation_fraction": 0.0, "random_state": 0}
    erm = MixupTabularClassifier(mode="erm", **kw).fit(X, y).predict_proba(X)
    reg0 = MixupTabularClassifier(mode="regmixup", eta=0.0, alpha=1.0, **kw).fit(X, y).predict_proba(X)
    reg1 = MixupTabularClassifier(mode="regmixup", eta=1.0, alpha=1.0, **kw).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(reg0, erm, atol=1e-4)
    assert np.abs(reg1 - erm).max() > 1e-2


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
    bad = r"Unknown categorical_mixing 'average'; expected one of \('embedding', 'onehot', 'swap'\)"
    with pytest.raises(MixupError, match=bad):
        MixupTabularClassifier(categorical_mixing="average", **FAST).fit(X, y)
    with pytest.raises(MixupError, match=bad):  # checked with the parameters, before y or the table
        MixupTabularRegressor(categorical_mixing="average", **FAST).fit(X, None)


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


@pytest.mark.parametrize("bandwidth", [0.5, 2.0])  # not 1: sigma and sigma^2 must not be confused
def test_cmixup_partners_come_from_the_whole_training_set_with_the_kernel(bandwidth):
    y_train = torch.tensor([[0.0], [0.5], [1.0], [3.0]])
    rows = torch.tensor([10, 11, 12, 13])
    n = 20000  # the first row, drawn for n times in one batch
    draws = rows[label_distance_partners(y_train[:1].expand(n, 1), bandwidth, torch.Generator().manual_seed(0),
                                         pool=y_train, same=(rows[:1, None] == rows[None, :]).expand(n, 4))]
    freq = np.array([(draws == r).double().mean().item() for r in rows.tolist()])
    w = np.exp(-(np.array([0.0, 0.5, 1.0, 3.0]) ** 2) / (2 * bandwidth**2))
    w[0] = 0.0  # never itself
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.015)  # 3.5 standard errors at most


def test_cmixup_regressor_mixes_batch_rows_with_whole_set_partners():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=120)
    reg = MixupTabularRegressor(pairing="label_distance", bandwidth=0.5, random_state=0, **FAST).fit(X, y)
    assert reg.score(X, y) > 0.8
    # the fitted mixer pairs a batch with its appended partners: row i mixes with row B + i, and the partners
    # pair with themselves (unmixed)
    assert "whole training set" in repr(reg.mixer_.pairing)
    idx = reg.mixer_.pairing(6)
    assert idx.tolist() == [3, 4, 5, 3, 4, 5]
    x = torch.randn(6, 2)
    lam = torch.tensor([0.3, 0.6, 0.9, 0.1, 0.2, 0.5])
    mixed = MixUp().mix(x, MixParams(lam=lam, index=idx))
    torch.testing.assert_close(mixed[:3], lam[:3, None] * x[:3] + (1 - lam[:3, None]) * x[3:])
    torch.testing.assert_close(mixed[3:], x[3:])
    # other pairings and custom mixers keep in-batch pairing
    one = {**FAST, "max_epochs": 1}
    for est in (MixupTabularRegressor(pairing="permute", random_state=0, **one),
                MixupTabularRegressor(mixer=MixUp(pairing="label_distance"), random_state=0, **one)):
        assert "whole training set" not in repr(est.fit(X, y).mixer_.pairing)


def test_temperature_is_fitted_only_when_the_validation_split_identifies_it():
    from scipy.optimize import minimize_scalar

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 3, generator=g) * 3
    y = logits.argmax(1)                                  # every row right: the loss falls forever as T -> 0
    assert fit_temperature(logits, y, F.cross_entropy) is None
    y1 = y.clone()
    y1[0] = (y[0] + 1) % 3                                # one wrong row still decides T alone
    assert fit_temperature(logits, y1, F.cross_entropy) is None
    y4 = y.clone()
    y4[:4] = (y[:4] + 1) % 3                              # identified: T is the minimiser of the validation NLL
    ref = minimize_scalar(lambda t: float(F.cross_entropy(logits / t, y4)), bounds=(0.05, 50), method="bounded", options={"xatol": 1e-6}).x
    assert fit_temperature(logits, y4, F.cross_entropy) == pytest.approx(ref, rel=5e-3)  # float32 NLL
    # multilabel: label decisions on the wrong side of 0 count
    ml = (logits > 0).float()
    assert fit_temperature(logits, ml, F.binary_cross_entropy_with_logits) is None
    ml[:3, 0] = 1 - ml[:3, 0]
    assert fit_temperature(logits, ml, F.binary_cross_entropy_with_logits) is not None
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
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [float("inf"), 0.0], [0.0, 2.0]])
    assert fit_temperature(logits, torch.tensor([1, 0, 1, 0]), F.cross_entropy) is None


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


def _noisy_table(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, np.where(rng.random(n) < 0.2, 1 - y, y)  # 20% of the labels flipped


def test_temperature_is_fitted_on_the_held_out_rows_not_the_training_rows():
    """A wide MLP trained long enough memorises its training rows, noisy labels included: no training row is
    misclassified, so a temperature fitted there cannot be identified (T = 1, with a warning). On the held-out
    rows the same model is overconfident, and the temperature fitted there is far above 1 and close to the one
    that fits fresh rows of the same distribution."""
    X, y = _noisy_table(200, 0)
    X_new, y_new = _noisy_table(2000, 1)
    clf = MixupTabularClassifier(mode="erm", hidden_sizes=(128, 128), lr=1e-2, dropout=0.0, batch_size=50,
                                 max_epochs=200, early_stopping=False, temperature_scaling=True,
                                 validation_fraction=0.3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "cannot identify a temperature" would fail here
        clf.fit(X, y)
    assert (clf.predict(X) != y).sum() >= 0.05 * len(y)  # the held-out rows hold misclassified ones
    fresh = fit_temperature(torch.as_tensor(clf.predict_logits(X_new)), torch.as_tensor(y_new), F.cross_entropy)
    assert clf.temperature_ > 5 and fresh is not None and fresh / 3 < clf.temperature_ < 3 * fresh


class _RecordingMixUp(MixUp):
    """MixUp that records the shape of every tensor it mixes (the estimator trains a deep copy: ``mixer_``)."""

    def mix(self, x, params):
        self.__dict__.setdefault("mixed_shapes", []).append(tuple(x.shape))
        return super().mix(x, params)


@pytest.mark.parametrize("columns", [["x", "noise", "color", "flag"], ["x", "noise"]])
def test_embedding_mixing_mixes_the_joined_input_in_one_call(columns):
    """categorical_mixing="embedding" mixes the continuous columns and every variable's embedding side by side, with one
    kernel call per batch on the MLP's input (also for tables without categorical columns)."""
    X, y = _table()
    kw = {**FAST, "max_epochs": 2, "batch_size": 50, "early_stopping": False, "validation_fraction": 0.0}
    clf = MixupTabularClassifier(mixer=_RecordingMixUp(alpha=1.0), random_state=0, **kw).fit(X[columns], y)
    shapes = clf.mixer_.mixed_shapes
    assert len(shapes) == 2 * 3  # 120 rows in batches of 50: 3 batches per epoch, one call each
    assert {s[1] for s in shapes} == {clf.model_.mlp[0].in_features}  # continuous + every embedding
    assert sorted({s[0] for s in shapes}) == [20, 50]


def test_auto_mode_is_inputs_only_for_the_classifier_and_mixup_for_the_regressor():
    """mode="auto" trains exactly as the measured default it names (same seed, same fit)."""
    X, y = _table()
    auto = MixupTabularClassifier(random_state=0, **FAST)
    assert auto.get_params()["mode"] == "auto"
    p_auto = auto.fit(X, y).predict_proba(X)
    p_io = MixupTabularClassifier(mode="inputs_only", random_state=0, **FAST).fit(X, y).predict_proba(X)
    p_mix = MixupTabularClassifier(mode="mixup", random_state=0, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p_auto, p_io)
    assert not np.array_equal(p_auto, p_mix)
    yr = np.linspace(0.0, 1.0, len(X))
    r_auto = MixupTabularRegressor(random_state=0, **FAST).fit(X, yr).predict(X)
    r_mix = MixupTabularRegressor(mode="mixup", random_state=0, **FAST).fit(X, yr).predict(X)
    np.testing.assert_array_equal(r_auto, r_mix)
