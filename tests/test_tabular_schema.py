"""Schema inference and scikit-learn preprocessing of DataFrames (mixup_any.tabular)."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder, StandardScaler  # noqa: E402

from mixup_any.exceptions import MixupError  # noqa: E402
from mixup_any.tabular import TabularPreprocessor  # noqa: E402
from mixup_any.tabular.schema import infer_schema  # noqa: E402


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [30, 41, 25, 60],
        "income": [1.5, np.nan, 3.0, 2.0],
        "home": pd.Series(["rent", "own", None, "rent"], dtype="object"),
        "job": pd.Categorical(["a", "b", "a", "c"]),
        "flag": [True, False, True, True],
        "city": pd.Series(["x", "y", "x", None], dtype="string"),
        "zip": [1000, 2000, 1000, 3000],
    })


def test_dtypes_decide_roles():
    s = infer_schema(_frame())
    assert s.continuous == ("age", "income", "zip")
    assert s.categorical == ("home", "job", "flag", "city")
    assert s.columns == s.continuous + s.categorical


def test_overrides_and_drop():
    s = infer_schema(_frame(), categorical=["zip"], drop=["age"])
    assert s.continuous == ("income",)
    assert s.categorical == ("home", "job", "flag", "city", "zip")


def test_numeric_strings_may_be_forced_continuous():
    df = pd.DataFrame({"n": ["1", "2.5", None], "c": ["a", "b", "c"]})
    assert infer_schema(df, continuous=["n"]).continuous == ("n",)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"continuous": ["home"]}, r"'home' is forced to be continuous but holds non-numeric values \(e.g. 'rent'"),
        ({"categorical": ["nope"]}, r"categorical= names columns that are not in the table: \['nope'\]"),
        ({"categorical": ["age"], "continuous": ["age"]}, "both categorical and continuous"),
        ({"drop": list(_frame().columns)}, "no feature columns"),
    ],
)
def test_bad_overrides_raise(kwargs, match):
    with pytest.raises(MixupError, match=match):
        infer_schema(_frame(), **kwargs)


def test_infer_schema_needs_a_dataframe():
    with pytest.raises(MixupError, match="needs a pandas DataFrame, got ndarray"):
        infer_schema(np.zeros((2, 2)))


def test_preprocessor_is_built_from_sklearn_transformers():
    pre = TabularPreprocessor().fit(_frame())
    ct = pre.column_transformer_
    assert isinstance(ct, ColumnTransformer)
    steps = {type(s).__name__ for _, p, _ in ct.transformers_ if hasattr(p, "named_steps") for s in p.named_steps.values()}
    assert {OrdinalEncoder.__name__, SimpleImputer.__name__, StandardScaler.__name__} <= steps


def test_codes_reserve_missing_and_unknown():
    df = _frame()
    pre = TabularPreprocessor().fit(df)
    new = df.iloc[:3].copy()
    new["home"] = ["own", "castle", None]  # known, unseen, missing
    new["job"] = pd.Categorical(["c", "zzz", "a"])
    _, x_cat = pre.transform_tensors(new)
    home = list(pre.schema_.categorical).index("home")
    job = list(pre.schema_.categorical).index("job")
    known_home = sorted({"rent", "own"})  # the encoder's categories: sorted, missing excluded
    # the documented codes: 0 missing, 1 unseen at fit, 2.. the categories seen in fit
    assert x_cat[:, home].tolist() == [2 + known_home.index("own"), 1, 0]
    assert x_cat[:, job].tolist() == [2 + ["a", "b", "c"].index("c"), 1, 2]
    assert pre.cardinalities_[home] == len(known_home) + 2
    assert x_cat.dtype.is_floating_point is False


def test_continuous_imputed_scaled_with_indicator():
    df = _frame()
    pre = TabularPreprocessor().fit(df)
    x_cont, _ = pre.transform_tensors(df)
    # reference: standardisation on the observed values (population std), then median imputation of the
    # scaled column, then the 0/1 indicator column
    inc = df["income"].to_numpy(float)
    scaled = (inc - np.nanmean(inc)) / np.nanstd(inc)
    ref = np.where(np.isnan(scaled), np.nanmedian(scaled), scaled)
    cont = list(pre.schema_.continuous)
    np.testing.assert_allclose(x_cont[:, cont.index("income")].numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(x_cont[:, -1].numpy(), np.isnan(inc).astype(np.float32))
    assert pre.n_continuous_out_ == len(cont) + 1
    assert x_cont.dtype.is_floating_point


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (pd.DataFrame({"age": [1.0]}), r"lacks columns seen during fit: \['income'"),
        (np.zeros((2, 7)), "needs a pandas DataFrame, got ndarray"),
    ],
)
def test_transform_bad_input(bad, match):
    pre = TabularPreprocessor().fit(_frame())
    with pytest.raises(MixupError, match=match):
        pre.transform(bad)


def test_empty_frame_raises():
    with pytest.raises(MixupError, match="empty"):
        TabularPreprocessor().fit(_frame().iloc[:0])


@pytest.mark.parametrize("bad", [np.inf, 1e39])
def test_preprocessor_rejects_values_beyond_float32_by_column(bad):
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": ["x", "y", "x", "y"]})
    pre = TabularPreprocessor().fit(df)
    with pytest.raises(MixupError, match=r"Column 'a' holds .* \(row 1\); expected finite numbers within float32"):
        pre.transform_tensors(df.assign(a=[1.0, bad, 3.0, 4.0]))
    with pytest.raises(MixupError, match=r"Column 'a' holds"):
        TabularPreprocessor().fit(df.assign(a=[1.0, bad, 3.0, 4.0]))
