"""_vision.images and _vision.decoding: decoding, resizing, the kinds of image
data and what each owns (loading, cache keys)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from skfinetune._feeding import HeldData
from skfinetune._vision.decoding import decode_file
from skfinetune._vision.images import ArrayImages, PathImages, PILImages, RowImages
from skfinetune._vision.inputs import check_image_array


def test_decode_matches_torchvision_resize_and_crop(tmp_path):
    """Stored centre square + centre crop == torchvision's Resize(256)+CenterCrop."""
    yy, xx = np.mgrid[0:300, 0:400]
    smooth = np.stack([xx * 0.6, yy * 0.8, 127 + 100 * np.sin(xx / 25.0)], axis=-1)
    image = Image.fromarray(smooth.astype(np.uint8))  # photo-like: no pixel noise
    image.save(tmp_path / "x.png")
    stored = decode_file(tmp_path / "x.png", 256)
    ours = stored[:, 16:240, 16:240].float()
    reference = v2.Compose([v2.PILToTensor(), v2.Resize(256), v2.CenterCrop(224)])
    theirs = reference(image).float()
    # the same pixels, up to rounding and a sub-pixel offset of the crop
    assert (ours - theirs).abs().mean() < 1.5


def test_array_images_centre_square_and_dtype():
    X = check_image_array(np.zeros((2, 10, 30, 3), dtype=np.uint8))
    X[:, :, 10:20] = 255
    data = ArrayImages(X, 10)
    out = data.load([0, 1])
    assert out.shape == (2, 3, 10, 10) and out.dtype == torch.uint8
    assert out.min() == 255  # the centre square is the bright part
    floats = ArrayImages(check_image_array(np.full((1, 4, 4), 0.5)), 8).load([0])
    assert floats.dtype == torch.float32 and floats.shape == (1, 1, 8, 8)


def test_row_images_keep_every_feature():
    rows = np.array([[0.0, 10.0], [10.0, 0.0]])
    data = RowImages(rows, (1, 2, 1), (0.0, 10.0), 4)
    out = data.load([0, 1])
    assert out.shape == (2, 1, 4, 4)
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 0, -1] == 1  # both ends kept
    torch.testing.assert_close(out[1], out[0].flip(-1))


def test_each_kind_gives_one_cache_key_per_image(tmp_path):
    X = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    X[1] = 7
    keys = ArrayImages(X, 4).cache_keys()
    assert len(keys) == 3 and keys[0] == keys[2] != keys[1]
    pil = PILImages([Image.fromarray(x) for x in X], 4).cache_keys()
    assert pil[0] == pil[2] != pil[1]
    rows = RowImages(X.reshape(3, -1).astype(float), (4, 4, 3), (0.0, 7.0), 4)
    other_range = RowImages(rows.rows, (4, 4, 3), (0.0, 9.0), 4)
    assert rows.cache_keys()[0] != other_range.cache_keys()[0]  # scaling counts
    tensor = HeldData(torch.from_numpy(X).permute(0, 3, 1, 2))
    assert tensor.cache_keys()[0] == tensor.cache_keys()[2]
    Image.new("RGB", (2, 2)).save(tmp_path / "a.png")
    (key,) = PathImages([str(tmp_path / "a.png")], 4).cache_keys()
    assert key[0] == str(tmp_path / "a.png")  # path, size, modification time


def test_pil_images_any_mode():
    images = [Image.new(mode, (5, 3)) for mode in ("RGB", "L", "RGBA", "P", "CMYK")]
    out = PILImages(images, 4).load(range(5))
    assert out.shape == (5, 3, 4, 4)


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, bool])
def test_other_integer_arrays(dtype):
    out = check_image_array(np.ones((1, 2, 2, 3), dtype=dtype))
    assert out.dtype in (np.uint8, np.float32)
