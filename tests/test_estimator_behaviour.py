"""What the tabular estimators promise, each checked directly: the weights kept by early stopping, the
probabilities against the logits, preprocessing fitted on the training rows only, the column order of
``predict_proba``, ``eval_set`` (and its routing through Pipeline / GridSearchCV), identifier-like columns,
and clear errors for missing targets and empty columns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

import sklearn  # noqa: E402
from scipy.special import softmax  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from mixup_any.exceptions import MixupError  # noqa: E402
from mixup_any.tabular import MixupTabularClassifier, MixupTabularRegressor  # noqa: E402
from mixup_any.tabular.schema import identifier_columns  # noqa: E402

FAST = dict(max_epochs=40, batch_size=64, hidden_sizes=(32,), lr=1e-2, dropout=0.0, n_iter_no_change=5)




def _noisy(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Two informative columns, 25% of the labels flipped: a wide MLP overfits it within a few epochs."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] + X["b"] > 0).to_numpy().astype(int)
    return X, np.where(rng.random(n) < 0.25, 1 - y, y)


def test_early_stopping_keeps_the_best_epochs_weights_not_the_last():
    X, y = _noisy(200, 0)
    X_val, y_val = _noisy(200, 1)
    clf = MixupTabularClassifier(mode="erm", hidden_sizes=(256, 256), lr=3e-2, batch_size=32, dropout=0.0,
                                 n_iter_no_change=6, max_epochs=100, random_state=0)
    clf.fit(X, y, eval_set=(X_val, y_val))
    val = [e["val_loss"] for e in clf.history_]
    assert clf.best_epoch_ == int(np.argmin(val)) and clf.best_epoch_ < clf.n_epochs_ - 1
    assert val[-1] > min(val) + 0.01  # the last epoch's weights are measurably worse on these rows
    # the model kept scores the validation rows as the best epoch did, not as the last one
    assert log_loss(y_val, clf.predict_proba(X_val)) == pytest.approx(min(val), rel=1e-4)


def test_predict_proba_is_the_softmax_of_predict_logits_and_the_temperature_only_when_asked():
    X, y = _noisy(300, 2)
    clf = MixupTabularClassifier(mode="erm", random_state=0, **FAST).fit(X, y)
    assert clf.temperature_ != 1.0  # fitted on the validation split, not applied
    logits = clf.predict_logits(X)
    np.testing.assert_allclose(clf.predict_proba(X), softmax(logits, axis=1), rtol=1e-12, atol=1e-15)
    clf.temperature_scaling = True
    np.testing.assert_allclose(clf.predict_proba(X), softmax(logits / clf.temperature_, axis=1), rtol=1e-12,
                               atol=1e-15)


def test_preprocessing_is_fitted_on_the_training_rows_only():
    n = 100
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=n), "code": [f"c{i}" for i in range(n)]})  # a distinct category per row
    y = np.tile([0, 1], n // 2)
    clf = MixupTabularClassifier(numeric="standard", keep_ids=True, random_state=0,
                                 **{**FAST, "max_epochs": 1}).fit(X, y)
    # the stratified 20% split holds out 10 rows of each class: 80 categories seen, plus the two reserved codes
    assert clf.preprocessor_.cardinalities_ == [80 + 2]
    # with eval_set, the validation rows are never seen by the preprocessing
    X_val = pd.DataFrame({"x": rng.normal(loc=100.0, size=20), "code": ["new"] * 20})
    clf.fit(X, y, eval_set=(X_val, np.tile([0, 1], 10)))
    scaler = clf.preprocessor_.column_transformer_.named_transformers_["continuous"].named_steps["scale"]
    assert clf.preprocessor_.cardinalities_ == [n + 2]
    assert scaler.mean_[0] == pytest.approx(X["x"].mean())


def test_predict_proba_columns_follow_classes_order():
    rng = np.random.default_rng(0)
    labels = np.array(["zebra", "ant", "mouse"])  # first-seen order differs from the sorted classes_
    k = np.tile([0, 1, 2], 60)
    X = pd.DataFrame({"a": k * 3.0 + rng.normal(scale=0.1, size=k.size), "b": rng.normal(size=k.size)})
    clf = MixupTabularClassifier(mode="erm", random_state=0, **{**FAST, "max_epochs": 80}).fit(X, labels[k])
    assert clf.classes_.tolist() == ["ant", "mouse", "zebra"]
    probe = pd.DataFrame({"a": [0.0, 3.0, 6.0], "b": [0.0, 0.0, 0.0]})  # one clear row of zebra, ant, mouse
    proba = clf.predict_proba(probe)
    want = [clf.classes_.tolist().index(c) for c in ("zebra", "ant", "mouse")]
    assert proba.argmax(1).tolist() == want and (proba.max(1) > 0.9).all()
    assert clf.predict(probe).tolist() == ["zebra", "ant", "mouse"]


def test_eval_set_replaces_the_split_in_every_spelling():
    X, y = _noisy(160, 3)
    X_val, y_val = _noisy(40, 4)
    kw = dict(mode="erm", random_state=0, **FAST)
    a = MixupTabularClassifier(**kw).fit(X, y, eval_set=(X_val, y_val))
    b = MixupTabularClassifier(**kw).fit(X, y, eval_set=[(X_val, y_val)])  # LightGBM's / XGBoost's list
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    split = MixupTabularClassifier(**kw).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), split.predict_proba(X))
    # every history entry's validation loss is the loss on X_val: the last one is reproducible from the log
    assert len(a.history_) == a.n_epochs_ and "val_loss" in a.history_[-1]
    # string labels are encoded as in y
    ys, yvs = np.where(y == 1, "yes", "no"), np.where(y_val == 1, "yes", "no")
    s = MixupTabularClassifier(**kw).fit(X, ys, eval_set=(X_val, yvs))
    np.testing.assert_allclose(s.predict_proba(X), a.predict_proba(X))
    with pytest.raises(MixupError, match=r"labels not in y: \['maybe'\]"):
        MixupTabularClassifier(**kw).fit(X, ys, eval_set=(X_val, np.where(y_val == 1, "yes", "maybe")))
    with pytest.raises(MixupError, match="X_val has 40 rows but y_val has 39"):
        MixupTabularClassifier(**kw).fit(X, y, eval_set=(X_val, y_val[:-1]))
    with pytest.raises(MixupError, match=r"eval_set must be a pair"):
        MixupTabularClassifier(**kw).fit(X, y, eval_set=(X_val, y_val, y_val))
    # the regressor: standardised with the training targets' mean and scale
    r = MixupTabularRegressor(**kw).fit(X, X["a"].to_numpy() * 10, eval_set=(X_val, X_val["a"].to_numpy() * 10))
    assert r.history_[0]["val_loss"] > 0 and r.predict(X_val).shape == (40,)
    with pytest.raises(MixupError, match="eval_set's y_val is missing"):
        MixupTabularRegressor(**kw).fit(X, X["a"].to_numpy(), eval_set=(X_val, np.r_[np.nan, X_val["a"][1:]]))


def test_eval_set_routes_through_pipeline_and_grid_search():
    X, y = _noisy(120, 5)
    X_val, y_val = _noisy(40, 6)
    kw = dict(mode="erm", random_state=0, **{**FAST, "max_epochs": 5})
    direct = MixupTabularClassifier(**kw).fit(X, y, eval_set=(X_val, y_val))
    pipe = make_pipeline(MixupTabularClassifier(**kw)).fit(X, y, mixuptabularclassifier__eval_set=(X_val, y_val))
    np.testing.assert_array_equal(pipe.predict_proba(X), direct.predict_proba(X))
    grid = GridSearchCV(MixupTabularClassifier(**kw), {"alpha": [0.0]}, cv=2, refit=True)
    grid.fit(X, y, eval_set=(X_val, y_val))
    np.testing.assert_array_equal(grid.best_estimator_.predict_proba(X), direct.predict_proba(X))
    with sklearn.config_context(enable_metadata_routing=True):  # scikit-learn's metadata routing
        routed = MixupTabularClassifier(**kw).set_fit_request(eval_set=True)
        grid = GridSearchCV(routed, {"alpha": [0.0]}, cv=2).fit(X, y, eval_set=(X_val, y_val))
        np.testing.assert_array_equal(grid.best_estimator_.predict_proba(X), direct.predict_proba(X))


def test_identifier_like_columns_are_left_out_with_a_warning_unless_kept():
    X, y = _noisy(60, 7)
    X = X.assign(row=np.arange(60) + 1000, name=[f"p{i}" for i in range(60)])
    assert identifier_columns(X) == ["row", "name"]
    with pytest.warns(UserWarning, match=r"columns \['row', 'name'\] look like identifiers.*keep_ids=True"):
        clf = MixupTabularClassifier(random_state=0, **{**FAST, "max_epochs": 2}).fit(X, y)
    assert clf.dropped_columns_ == ["row", "name"] and clf.preprocessor_.schema_.columns == ("a", "b")
    assert clf.predict(X).shape == (60,)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        kept = MixupTabularClassifier(keep_ids=True, random_state=0, **{**FAST, "max_epochs": 2}).fit(X, y)
        forced = MixupTabularClassifier(categorical=["name"], continuous=["row"], random_state=0,
                                        **{**FAST, "max_epochs": 2}).fit(X, y)  # named by the caller: kept
    assert kept.dropped_columns_ == [] and set(kept.preprocessor_.schema_.columns) == {"a", "b", "row", "name"}
    assert forced.dropped_columns_ == [] and set(forced.preprocessor_.schema_.columns) == set(X.columns)
    # numbers that are not a run, booleans, repeated text and tables under 10 rows are not identifiers
    other = pd.DataFrame({"f": np.linspace(0, 1, 12) ** 2, "i": np.arange(12) * 2, "t": ["a", "b"] * 6})
    assert identifier_columns(other) == [] and identifier_columns(X.head(9)) == []


@pytest.mark.parametrize("y", [["a", None, "b", "a"] * 5, [0.0, np.nan, 1.0, 0.0] * 5,
                               pd.Series(["a", pd.NA, "b", "a"] * 5, dtype="string")])
def test_missing_class_labels_are_a_mixup_error(y):
    X = pd.DataFrame({"x": np.arange(20.0)})
    with pytest.raises(MixupError, match=r"y is missing \(NaN or None\) in 5 of 20 rows \(positions 1, 5, 9"):
        MixupTabularClassifier(**FAST).fit(X, y)


def test_missing_regression_targets_and_empty_columns_are_mixup_errors():
    X = pd.DataFrame({"x": np.arange(20.0)})
    with pytest.raises(MixupError, match=r"y is missing \(NaN or None\) in 1 of 20 rows \(positions 3\)"):
        MixupTabularRegressor(**FAST).fit(X, np.r_[0, 1, 2, np.nan, np.arange(16.0)])
    with pytest.raises(MixupError, match=r"y holds infinity"):
        MixupTabularRegressor(**FAST).fit(X, np.r_[0, 1, 2, np.inf, np.arange(16.0)])
    with pytest.raises(MixupError, match=r"Regression targets must be numbers; y has dtype"):
        MixupTabularRegressor(**FAST).fit(X, ["a"] * 20)
    for empty in (np.full(20, np.nan), [None] * 20):
        with pytest.raises(MixupError, match=r"^Column 'e' has no value in any of the \d+ rows"):
            MixupTabularClassifier(**FAST).fit(X.assign(e=empty), [0, 1] * 10)
    msg = ""
    try:
        MixupTabularClassifier(**FAST).fit(X.assign(e=np.nan), [0, 1] * 10)
    except MixupError as err:
        msg = str(err)
    assert "\n" not in msg  # one line, as the command line prints it


def test_compare_fits_each_model_with_the_same_stratified_validation_rows():
    from mixup_any._cli_fit import validation_rows

    y = np.r_[np.zeros(80, int), np.ones(20, int)]
    tr = np.arange(0, 100, 1)[::-1]
    fit, val = validation_rows(tr, y, 0.2, seed=3)
    assert sorted(np.r_[fit, val].tolist()) == list(range(100)) and len(val) == 20
    assert (y[val] == 1).sum() == 4  # stratified: 20% of each class
    again, val2 = validation_rows(tr, y, 0.2, seed=3)
    np.testing.assert_array_equal(val, val2)
    assert validation_rows(tr, y, 0.0, seed=3)[1] is None
    assert validation_rows(np.arange(3), np.array([0, 1, 1]), 0.2, seed=3)[1] is None  # a class of one row


@pytest.mark.parametrize("argv", [["tabular_regression.py", "--data", "diabetes", "--seeds", "2"],
                                  ["tabular_baseline.py", "--data", "wine", "--part", "validation", "--seeds", "2"]])
def test_measurement_scripts_run(argv, monkeypatch, capsys):
    """The commands docs/tabular.md quotes for its tables run (two seeds; the docs give five)."""
    import runpy

    pytest.importorskip("scipy")
    monkeypatch.setattr("sys.argv", argv)
    runpy.run_path(str(__import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / argv[0]),
                   run_name="__main__")
    out = capsys.readouterr().out
    assert "paired" in out or "minus ERM" in out
