"""_folder: load_image_folder."""

import numpy as np
import pytest
from PIL import Image

from skfinetune import load_image_folder


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
