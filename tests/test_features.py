"""PretrainedFeatures: the pretrained backbone as a transformer."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfinetune import FineTuneClassifier, PretrainedFeatures, load_image_folder

from _tiny import TINY, TINY_BACKBONE


def test_transform_gives_pooled_float32_features(image_arrays):
    X, _ = image_arrays
    features = PretrainedFeatures(**TINY_BACKBONE).fit(X)
    out = features.transform(X)
    assert out.shape == (len(X), 512) and out.dtype == np.float32
    assert features.n_features_out_ == 512
    assert features.n_backbone_blocks_ == 9
    names = features.get_feature_names_out()
    assert names[0] == "pretrainedfeatures0" and len(names) == 512
    np.testing.assert_allclose(features.fit_transform(X), out, rtol=1e-6)


def test_batches_agree(image_arrays):
    X, _ = image_arrays
    features = PretrainedFeatures(**dict(TINY_BACKBONE, batch_size=5)).fit(X)
    whole = PretrainedFeatures(**dict(TINY_BACKBONE, batch_size=64)).fit(X)
    np.testing.assert_allclose(features.transform(X), whole.transform(X), atol=1e-5)


def test_linear_probe_in_a_pipeline(image_arrays):
    X, y = image_arrays
    probe = make_pipeline(
        PretrainedFeatures(**TINY_BACKBONE), LogisticRegression(max_iter=1000)
    )
    assert probe.fit(X, y).score(X, y) >= 0.9


def test_set_output_pandas(image_arrays):
    pd = pytest.importorskip("pandas")
    X, _ = image_arrays
    features = PretrainedFeatures(**TINY_BACKBONE).set_output(transform="pandas")
    frame = features.fit_transform(X)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:2]) == ["pretrainedfeatures0", "pretrainedfeatures1"]


def test_memory_is_shared_with_the_fine_tuning_estimators(
    image_folder, tmp_path, feature_passes
):
    X, y = load_image_folder(image_folder)
    memory = str(tmp_path / "cache")
    params = dict(TINY, unfrozen_epochs=0, memory=memory)
    FineTuneClassifier(**params).fit(X, y)  # phase 1 caches every image's features
    feature_passes.clear()
    cached = PretrainedFeatures(**dict(TINY_BACKBONE, memory=memory)).fit(X)
    out = cached.transform(X)
    assert feature_passes == []  # found, not computed
    plain = PretrainedFeatures(**TINY_BACKBONE).fit(X).transform(X)
    np.testing.assert_allclose(out, plain, atol=1e-5)


def test_rows_and_not_fitted():
    from sklearn.datasets import load_digits

    X, _ = load_digits(return_X_y=True)
    features = PretrainedFeatures(**dict(TINY_BACKBONE, image_shape=(8, 8)))
    with pytest.raises(NotFittedError):
        features.transform(X[:3])
    features.fit(X[:50])
    assert features.n_features_in_ == 64
    assert features.transform(X[:3]).shape == (3, 512)
    with pytest.raises(ValueError, match="features"):
        features.transform(X[:3, :10])
