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
    with pytest.raises(ImportError, match=r"pip install onnx onnxruntime"):
        to_onnx(rows, tmp_path / "m.onnx")


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_onnx_input_of_files_of_any_size_gives_predict_proba(tmp_path, interpolation):
    """Photos of odd sizes and formats, through ``onnx_input`` and the graph:
    ``predict_proba`` on the same files to 1e-4 — whatever their aspect."""
    from PIL import Image

    from skfinetune import onnx_input

    X, y = make_images(8, 24)
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    clf._input.interpolation = interpolation  # as weights that resample so
    path = _export(clf, tmp_path)
    assert _metadata(clf)["interpolation"] == interpolation
    rng = np.random.default_rng(0)
    files = []
    for i, (w, h, suffix) in enumerate(
        [(300, 200, "jpg"), (97, 131, "png"), (37, 37, "png"), (1000, 41, "jpg")]
    ):
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        files.append(str(tmp_path / f"{i}.{suffix}"))
        image.save(files[-1])
    images = onnx_input(files, path)
    assert images.dtype == np.uint8 and images.shape == (4, 37, 37, 3)
    probabilities, _ = _run(path, images)
    np.testing.assert_allclose(probabilities, clf.predict_proba(files), atol=1e-4)
    pil = onnx_input([Image.open(f) for f in files], path)
    np.testing.assert_array_equal(pil, images)


def test_onnx_input_of_arrays_and_grayscale(tmp_path):
    from skfinetune import onnx_input

    X, y = make_images(8, 24)
    gray = X[..., :1]
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(gray, y)
    path = _export(clf, tmp_path)
    images = onnx_input(gray, path)
    assert images.shape == (16, 37, 37, 1)
    probabilities, _ = _run(path, images)
    np.testing.assert_allclose(probabilities, clf.predict_proba(gray), atol=1e-4)
    with pytest.raises(ValueError, match="1 channel"):
        onnx_input(X, path)
    with pytest.raises(ValueError, match="An array of images must be"):
        onnx_input(gray.reshape(len(gray), -1), path)  # rows, not images
