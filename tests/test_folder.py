"""_vision.folder: load_image_folder."""

import os

import numpy as np
import pytest
from PIL import Image

from skfinetune import FineTuneClassifier, load_image_folder

from _tiny import TINY


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(path)


def test_layout(tmp_path):
    for name in ["b/2.png", "b/1.JPG", "a/x.jpeg", "a/sub/y.png"]:
        _image(tmp_path / name)
    X, y = load_image_folder(tmp_path)
    assert [p.rsplit("/", 2)[-2:] for p in X] == [
        ["a", "x.jpeg"],
        ["sub", "y.png"],
        ["b", "1.JPG"],
        ["b", "2.png"],
    ]
    assert list(y) == ["a", "a", "b", "b"]
    assert X.dtype == object and y.dtype == object


def test_non_image_files_warned_by_name(tmp_path):
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "b" / "1.png")
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "a" / ".DS_Store").write_text("")
    (tmp_path / "README").write_text("top-level files are not classes")
    with pytest.warns(UserWarning, match=r"Skipped 1 non-image file.*notes\.txt"):
        X, y = load_image_folder(tmp_path)
    assert len(X) == 2 and set(y) == {"a", "b"}


def test_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="holds no images"):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        load_image_folder(tmp_path)
    file = tmp_path / "file.png"
    file.write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        load_image_folder(file)


def test_paths_feed_the_classifier(image_folder):
    X, y = load_image_folder(image_folder)
    assert len(X) == 24 and np.unique(y).tolist() == ["bottom", "top"]


def test_verify_leaves_out_broken_files_naming_each(tmp_path):
    import io

    for i in range(3):
        _image(tmp_path / "a" / f"{i}.png")
        _image(tmp_path / "b" / f"{i}.png")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 10, 10)).save(buffer, "JPEG")
    (tmp_path / "a" / "truncated.jpg").write_bytes(buffer.getvalue()[:200])
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    (tmp_path / "b" / "text.jpg").write_text("not an image")
    with pytest.warns(UserWarning) as record:
        X, y = load_image_folder(tmp_path, verify=True)
    (warning,) = [w for w in record if "unreadable" in str(w.message)]
    message = str(warning.message)
    assert "Left out 3 unreadable image file(s) of 9" in message
    for name in ("truncated.jpg", "empty.png", "text.jpg"):
        assert name in message
    assert len(X) == 6 and list(y) == ["a"] * 3 + ["b"] * 3
    unchecked, _ = load_image_folder(tmp_path)  # without verify: listed, not read
    assert len(unchecked) == 9


def test_verified_folder_trains(tmp_path, image_folder):
    import shutil

    from skfinetune import FineTuneClassifier

    from _tiny import TINY

    root = tmp_path / "copy"
    shutil.copytree(image_folder, root)
    (root / "top" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    with pytest.warns(UserWarning, match="broken.jpg"):
        X, y = load_image_folder(root, verify=True)
    clf = FineTuneClassifier(**dict(TINY, frozen_epochs=1, unfrozen_epochs=0))
    assert clf.fit(X, y).predict(X).shape == (len(X),)


def test_unlabelled_folder_lists_every_image_for_predict(tmp_path, image_folder):
    for folder in ("deeper", ".hidden"):
        (tmp_path / "new" / folder).mkdir(parents=True)
    for name in ("b.jpg", "a.PNG", "deeper/c.jpeg", "deeper/.d.png", ".hidden/e.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / "new" / name)
    (tmp_path / "new" / "notes.txt").write_text("not an image")
    (tmp_path / "new" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.warns(UserWarning, match="notes.txt"):
        X = load_image_folder(tmp_path / "new", labels=False)
    names = [os.path.relpath(p, tmp_path / "new") for p in X]
    assert names == ["a.PNG", "b.jpg", "broken.jpg", os.path.join("deeper", "c.jpeg")]
    with pytest.warns(UserWarning, match="broken.jpg"):
        X = load_image_folder(tmp_path / "new", labels=False, verify=True)
    assert len(X) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"holds no images \(expected"):
        load_image_folder(empty, labels=False)
    # a labelled folder read without its labels predicts as the labelled one does
    X_train, y_train = load_image_folder(image_folder)
    clf = FineTuneClassifier(**TINY).fit(X_train, y_train)
    unlabelled = load_image_folder(image_folder, labels=False)
    np.testing.assert_array_equal(unlabelled, X_train)
    assert clf.predict(unlabelled).shape == (len(X_train),)
