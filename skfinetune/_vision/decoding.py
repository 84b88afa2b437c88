"""Decoding image files and PIL images into ``(C, S, S)`` uint8 tensors: the
weights' own preprocessing (shorter side resized to ``S``, centre square), with
PIL in a pool of threads.  Errors name the file.

Files are decoded on the CPU also when a fit runs on a GPU, in the thread that
loads the next batch while the GPU computes: the pixels are PIL's everywhere, so
a model predicts the same on any device, and no GPU decoder shares memory with
the training stream.
"""

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
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
