"""_vision.inputs: X as a data scientist holds it (pandas, object arrays)."""

import numpy as np
import pytest
from PIL import Image

from skfinetune import FineTuneClassifier, PretrainedFeatures, load_image_folder
from skfinetune._vision.inputs import kind_of

from _tiny import TINY, TINY_BACKBONE


def test_kind_of():
    assert kind_of(["a.jpg", "b.png"]) == "paths"
    assert kind_of(np.array(["a.jpg"], dtype=object)) == "paths"
    assert kind_of([Image.new("RGB", (2, 2))]) == "pil"
    assert kind_of(np.zeros((2, 3))) == "array"
    assert kind_of([[1, 2], [3, 4]]) == "array"


@pytest.fixture(scope="module")
def paths_and_features(image_folder):
    X, y = load_image_folder(image_folder)
    features = PretrainedFeatures(**TINY_BACKBONE).fit(X)
    return X, y, features, features.transform(X)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda pd, X: pd.Series(X, name="path"),
        lambda pd, X: pd.Index(X),
        lambda pd, X: pd.DataFrame({"path": X}),
        lambda pd, X: np.asarray(X, dtype=object)[:, None],
        lambda pd, X: [str(x) for x in X],
    ],
    ids=["Series", "Index", "one-column DataFrame", "(n, 1) array", "list"],
)
def test_columns_of_paths(paths_and_features, wrap):
    pd = pytest.importorskip("pandas")
    X, _, features, expected = paths_and_features
    np.testing.assert_allclose(features.transform(wrap(pd, X)), expected, rtol=1e-6)


def test_dataframe_with_several_columns_names_the_one_to_pass(paths_and_features):
    pd = pytest.importorskip("pandas")
    X, y, _, _ = paths_and_features
    frame = pd.DataFrame({"label": y, "file": X})
    with pytest.raises(ValueError, match=r"2 columns; pass the single column .*X\["):
        FineTuneClassifier(**TINY).fit(frame, y)


def test_numeric_dataframe_stays_rows_of_pixels():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(np.random.default_rng(0).random((6, 4)))
    features = PretrainedFeatures(**TINY_BACKBONE).fit(frame)
    assert features.n_features_in_ == 4


def test_pandas_paths_end_to_end_in_a_pipeline(paths_and_features):
    """A DataFrame of paths and labels, a ColumnTransformer picking the path
    column, a fine-tuned classifier: as a data scientist would write it."""
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    X, y, _, _ = paths_and_features
    df = pd.DataFrame({"path": X, "label": y, "note": "x"})
    pipe = make_pipeline(
        ColumnTransformer([("image", "passthrough", ["path"])]),
        FineTuneClassifier(**TINY),
    )
    pipe.fit(df, df["label"])
    assert pipe.score(df, df["label"]) >= 0.9
    series = FineTuneClassifier(**TINY).fit(df["path"], df["label"])
    np.testing.assert_array_equal(series.predict(df["path"]), pipe.predict(df))
