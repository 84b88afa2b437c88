"""_onnx: the exported graph, run by onnxruntime, agrees with the estimator."""

import json
import sys

import numpy as np
import pytest

from skfinetune import (
    FineTuneClassifier,
    FineTuneRegressor,
    PretrainedFeatures,
    to_onnx,
)

from _tiny import TINY, TINY_BACKBONE, TINY_BN, make_brightness, make_images

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")


def _run(path, images):
    return onnxruntime.InferenceSession(str(path)).run(None, {"images": images})


def _images_at_stored_size(estimator, n, channels=3, seed=1):
    """Images at the size of the graph's input (the estimator's stored size)."""
    size = estimator._input.store_size
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def _metadata(estimator):
    return {e.key: e.value for e in onnx.load(estimator._onnx_path).metadata_props}


def _export(estimator, tmp_path):
    estimator._onnx_path = to_onnx(estimator, tmp_path / "model.onnx")
    return estimator._onnx_path


@pytest.mark.parametrize(
    "settings",
    [TINY, TINY_BN, dict(TINY, backbone="mobilenet_v2", image_size=48)],
    ids=["squeezenet", "resnet18", "mobilenet_v2"],
)
def test_classifier_probabilities_and_labels(tmp_path, image_arrays, settings):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(settings, unfrozen_epochs=1)).fit(X, y)
    path = _export(clf, tmp_path)
    for n in (1, 5):  # the batch dimension is dynamic
        images = _images_at_stored_size(clf, n)
        proba, index = _run(path, images)
        np.testing.assert_allclose(proba, clf.predict_proba(images), atol=1e-4)
        np.testing.assert_array_equal(clf.classes_[index], clf.predict(images))
    metadata = _metadata(clf)
    assert json.loads(metadata["classes"]) == ["bottom", "top"]
    assert metadata["input_layout"] == "NHWC" and metadata["input_dtype"] == "uint8"
    graph = onnx.load(path).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == json.loads(metadata["input_shape"])


def test_multilabel_regressor_and_features(tmp_path, image_arrays):
    X, y = image_arrays
    Y = np.stack([y == "top", y == "bottom"], axis=1).astype(int)
    multi = FineTuneClassifier(**dict(TINY, unfrozen_epochs=1)).fit(X, Y)
    images = _images_at_stored_size(multi, 4)
    proba, labels = _run(_export(multi, tmp_path), images)
    np.testing.assert_allclose(proba, multi.predict_proba(images), atol=1e-4)
    np.testing.assert_array_equal(labels, multi.predict(images))

    X_reg, target = make_brightness()
    reg = FineTuneRegressor(**dict(TINY, unfrozen_epochs=1)).fit(X_reg, target)
    (predictions,) = _run(_export(reg, tmp_path), images)
    expected = reg.predict(images)
    np.testing.assert_allclose(predictions[:, 0], expected, rtol=1e-4, atol=1e-4)

    features = PretrainedFeatures(**TINY_BACKBONE).fit(X)
    (out,) = _run(_export(features, tmp_path), images)
    np.testing.assert_allclose(out, features.transform(images), atol=1e-4)


def test_timm_and_grayscale_models(tmp_path):
    pytest.importorskip("timm")
    X, y = make_images()
    clf = FineTuneClassifier(**dict(TINY, backbone="timm/convnext_atto")).fit(X, y)
    images = _images_at_stored_size(clf, 3)
    proba, _ = _run(_export(clf, tmp_path), images)
    np.testing.assert_allclose(proba, clf.predict_proba(images), atol=1e-4)
    gray = FineTuneClassifier(**TINY).fit(X[..., :1], y)
    images = _images_at_stored_size(gray, 3, channels=1)
    proba, _ = _run(_export(gray, tmp_path), images)
    np.testing.assert_allclose(proba, gray.predict_proba(images), atol=1e-4)


def test_what_cannot_be_exported(tmp_path, monkeypatch):
    from sklearn.datasets import load_digits
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        to_onnx(FineTuneClassifier(**TINY), tmp_path / "m.onnx")
    digits = load_digits()
    rows = PretrainedFeatures(**TINY_BACKBONE).fit(digits.data[:10])
    with pytest.raises(ValueError, match="fitted on 2-D rows"):
        to_onnx(rows, tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"skfinetune\[onnx\]"):
        to_onnx(rows, tmp_path / "m.onnx")
