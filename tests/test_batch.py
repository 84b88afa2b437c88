"""_batch: predict_files — many files, chunk by chunk, bad ones skipped and
reported where asked."""

import numpy as np
import pytest
from PIL import Image

from skfinetune import FineTuneClassifier, FineTuneRegressor, predict_files

from _tiny import TINY, make_brightness, make_images


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    X, y = make_images(6, 24)
    paths = []
    for i, image in enumerate(X):
        paths.append(str(folder / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    (folder / "bad.jpg").write_bytes(b"not an image")
    truncated = folder / "truncated.png"
    truncated.write_bytes((folder / "0.png").read_bytes()[:60])
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(paths, y)
    return clf, paths, [str(folder / "bad.jpg"), str(truncated)]


def test_every_file_in_order_in_chunks(files):
    clf, paths, _ = files
    results = list(predict_files(clf, paths))  # one chunk: predict's batches
    np.testing.assert_array_equal([r.prediction for r in results], clf.predict(paths))
    chunked = list(predict_files(clf, paths, chunk_size=5))
    assert [r.path for r in chunked] == paths
    assert [r.error for r in chunked] == [None] * len(paths)
    np.testing.assert_allclose(  # other batches: float sums in another order
        np.stack([r.probabilities for r in chunked]),
        clf.predict_proba(paths),
        atol=1e-6,
    )


def test_bad_files_raise_or_are_skipped_and_reported(files):
    clf, paths, bad = files
    mixed = [paths[0], bad[0], paths[1], bad[1], paths[2], str(bad[0]) + ".missing"]
    with pytest.raises(ValueError, match="bad.jpg"):
        list(predict_files(clf, mixed))
    results = list(predict_files(clf, mixed, on_error="skip", chunk_size=4))
    assert [r.path for r in results] == mixed
    errors = [r.error for r in results]
    assert [e is None for e in errors] == [True, False, True, False, True, False]
    assert "bad.jpg" in errors[1] and "does not exist" in errors[5]
    good = np.stack([r.probabilities for r in results if r.error is None])
    expected = clf.predict_proba([paths[0], paths[1], paths[2]])
    np.testing.assert_allclose(good, expected, atol=1e-6)
    assert all(r.prediction is None for r in results if r.error is not None)


def test_regressor_values_and_bad_arguments(files, tmp_path):
    _, paths, _ = files
    X, target = make_brightness(12, 24)
    reg = FineTuneRegressor(**dict(TINY, unfrozen_epochs=0)).fit(X, target)
    results = list(predict_files(reg, paths))
    np.testing.assert_allclose([r.prediction for r in results], reg.predict(paths))
    assert all(r.probabilities is None for r in results)
    with pytest.raises(ValueError, match="on_error"):
        list(predict_files(reg, paths, on_error="ignore"))
    with pytest.raises(ValueError, match="chunk_size"):
        list(predict_files(reg, paths, chunk_size=0))


def test_a_transformer_is_refused_by_name(files):
    from skfinetune import PretrainedFeatures

    from _tiny import TINY_BACKBONE

    _, paths, _ = files
    features = PretrainedFeatures(**TINY_BACKBONE).fit(paths)
    with pytest.raises(TypeError, match="PretrainedFeatures does not predict"):
        list(predict_files(features, paths))
