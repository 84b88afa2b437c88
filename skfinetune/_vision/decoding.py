"""Decoding image files and PIL images into ``(C, S, S)`` uint8 tensors: the
weights' own preprocessing (shorter side resized to ``S``, centre square), on the
CPU with PIL in a pool of threads, or JPEG files on a GPU with torchvision's
decoder.  Errors name the file."""

import contextlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_SMOOTH = {"align_corners": False, "antialias": True}


def _n_threads():
    return max(1, min(8, os.cpu_count() or 1))


# --------------------------------------------------------------------------- decoding
def _to_rgb(image):
    """Convert any PIL mode (palette, RGBA, CMYK, grayscale, 16-bit) to RGB."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            top = 1.0 if np.nanmax(array, initial=0) <= 1.0 else 255.0
        elif image.mode == "I" and np.max(array, initial=0) <= 255:
            top = 255.0
        else:
            top = 65535.0
        array = np.nan_to_num(np.clip(array / top, 0, 1)) * 255.0
        image = Image.fromarray(np.round(array).astype(np.uint8), mode="L")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def _square_box(width, height):
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return (left, top, left + side, top + side)


_PIL_FILTERS = {
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "nearest": Image.NEAREST,
}


def _resize_pil(image, size, interpolation="bilinear"):
    """Centre square of ``image`` resized to ``size x size`` (antialiased, with the
    weights' ``interpolation``), as a (3, S, S) tensor."""
    image = _to_rgb(image)
    box = _square_box(*image.size)
    image = image.resize((size, size), _PIL_FILTERS[interpolation], box=box)
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


@contextlib.contextmanager
def _reading(path):
    """Translate PIL's errors for ``path`` into ones that name the file."""
    try:
        yield
    except FileNotFoundError:
        raise FileNotFoundError(f"Image file {str(path)!r} does not exist.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(
            f"Cannot read image file {str(path)!r}: {exc or type(exc).__name__}"
        ) from None


def open_image(path):
    """Open and fully decode one image file; errors name the file."""
    with _reading(path), Image.open(path) as image:
        image.load()
        return image


def decode_file(path, size, interpolation="bilinear"):
    return _resize_pil(open_image(path), size, interpolation)


_JPEG_MAGIC = b"\xff\xd8\xff"


def decode_files_on(device, paths, size, interpolation="bilinear"):
    """``decode_file`` of each of ``paths``, JPEG files decoded on ``device``
    (``torchvision.io.decode_jpeg``: nvJPEG on a GPU, in one batched call) and
    cropped and resized there; other files through PIL (then copied).  Pixels
    match PIL's to within a few levels (decoders and resamplers differ).

    torchvision 0.29 deprecates its image decoders in favour of TorchCodec (a
    further dependency); its notice is silenced here, where the one call lives.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    raw = []
    for path in paths:
        with _reading(path), open(path, "rb") as f:
            raw.append(f.read())
    jpeg = [i for i, data in enumerate(raw) if data[:3] == _JPEG_MAGIC]
    out = [None] * len(paths)
    if jpeg:
        data = [torch.frombuffer(bytearray(raw[i]), dtype=torch.uint8) for i in jpeg]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # a JPEG variant the decoder refuses: PIL reads it
            jpeg = []
        else:
            for i, image in zip(jpeg, images, strict=True):
                out[i] = _resize_tensor(image, size, interpolation)
    for i, path in enumerate(paths):
        if out[i] is None:
            out[i] = decode_file(path, size, interpolation).to(device)
    return torch.stack(out)


def _resize_tensor(image, size, interpolation):
    """``_resize_pil`` for a decoded (3, H, W) uint8 tensor, where it lies."""
    left, top, right, bottom = _square_box(image.shape[2], image.shape[1])
    square = image[None, :, top:bottom, left:right].float()
    if interpolation == "nearest":
        resized = F.interpolate(square, size=(size, size), mode="nearest")
    else:
        resized = F.interpolate(
            square, size=(size, size), mode=interpolation, **_SMOOTH
        )
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


_POOL = {}


def _decode_pool():
    """The threads that decode image files, made once per process (not per
    batch); a forked child makes its own."""
    pid = os.getpid()
    if pid not in _POOL:
        _POOL.clear()
        _POOL[pid] = ThreadPoolExecutor(_n_threads(), thread_name_prefix="decode")
    return _POOL[pid]


def check_file_header(path):
    """Cheap check that ``path`` exists and has an image header PIL recognises."""
    with _reading(path), Image.open(path):
        pass


def path_signature(paths):
    """(path, size, mtime) of each file: a cache key that notices edited files."""
    out = []
    for p in paths:
        stat = Path(p).stat()
        out.append((p, stat.st_size, stat.st_mtime_ns))
    return tuple(out)
