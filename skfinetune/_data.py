"""Input data: the kinds of ``X`` accepted, their checks, decoding and resizing.

Every kind of ``X`` becomes an :class:`ImageData`: ``n`` images that load, by index,
as a ``(batch, C, S, S)`` tensor with ``C`` in {1, 3} and ``S`` the stored size (the
weights' resize size).  uint8 pixels stay uint8 (0-255); everything else is float32 in
[0, 1].  Files and PIL images follow the weights' own preprocessing (shorter side
resized to ``S``, centre square); arrays of images too; 2-D rows are stretched to
``S x S`` so that every feature is kept.
"""

import contextlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


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


def _resize_pil(image, size):
    """Centre square of ``image`` resized to ``size x size``, as a (3, S, S) tensor."""
    image = _to_rgb(image)
    box = _square_box(*image.size)
    image = image.resize((size, size), Image.BILINEAR, box=box)
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


def decode_file(path, size):
    return _resize_pil(open_image(path), size)


def check_file_header(path):
    """Cheap check that ``path`` exists and has an image header PIL recognises."""
    with _reading(path), Image.open(path):
        pass


# ----------------------------------------------------------------------- image data
class ImageData:
    """``n`` images that load, by index, as ``(b, C, S, S)`` tensors."""

    channels = 3
    dtype = torch.uint8

    def __init__(self, n, size):
        self.n = n
        self.size = size

    def __len__(self):
        return self.n

    def nbytes(self):
        itemsize = torch.empty((), dtype=self.dtype).element_size()
        return self.n * self.channels * self.size * self.size * itemsize

    def load(self, indices):
        raise NotImplementedError

    def load_batch(self, indices, indices_on_device):
        """``load``, given the indices both as numpy and on the training device."""
        return self.load(indices)

    def iter_batches(self, indices, batch_size, prefetch=False):
        """Batches of ``indices`` in order.  With ``prefetch``, a thread loads (and
        pins, for a fast copy to the GPU) the next batch while this one computes."""
        starts = range(0, len(indices), batch_size)
        if not prefetch:
            for start in starts:
                yield self.load(indices[start : start + batch_size])
            return

        def load_pinned(start):
            batch = self.load(indices[start : start + batch_size])
            if batch.device.type == "cpu" and torch.cuda.is_available():
                batch = batch.pin_memory()
            return batch

        with ThreadPoolExecutor(1) as pool:
            pending = None
            for start in starts:
                future = pool.submit(load_pinned, start)
                if pending is not None:
                    yield pending.result()
                pending = future
            if pending is not None:
                yield pending.result()


class TensorImages(ImageData):
    """Images already decoded into one tensor (the in-memory cache)."""

    def __init__(self, tensor):
        super().__init__(tensor.shape[0], tensor.shape[-1])
        self.tensor = tensor
        self.channels = tensor.shape[1]
        self.dtype = tensor.dtype

    def load(self, indices):
        indices = np.asarray(indices)
        if (
            len(indices)
            and indices[-1] - indices[0] + 1 == len(indices)
            and (len(indices) == 1 or (np.diff(indices) == 1).all())
        ):  # a run of images (inference): a view, no index copy to the device
            return self.tensor[int(indices[0]) : int(indices[-1]) + 1]
        index = torch.as_tensor(indices, dtype=torch.long).to(self.tensor.device)
        return self.tensor[index]

    def load_batch(self, indices, indices_on_device):
        if indices_on_device.device == self.tensor.device:
            return self.tensor[indices_on_device]
        return self.load(indices)

    def to_device(self, device, budget_bytes):
        """This cache on ``device`` if it fits ``budget_bytes`` there; else itself
        (batches are then pinned and copied one at a time)."""
        if self.tensor.device == device or self.nbytes() > budget_bytes:
            return self
        try:
            return TensorImages(self.tensor.to(device))
        except torch.OutOfMemoryError:
            return self


class PathImages(ImageData):
    """Image files, decoded (in threads) when loaded."""

    def __init__(self, paths, size):
        super().__init__(len(paths), size)
        self.paths = paths

    def load(self, indices):
        paths = [self.paths[i] for i in indices]
        if len(paths) == 1:
            return decode_file(paths[0], self.size)[None]
        with ThreadPoolExecutor(_n_threads()) as pool:
            out = list(pool.map(lambda p: decode_file(p, self.size), paths))
        return torch.stack(out)


class PILImages(ImageData):
    def __init__(self, images, size):
        super().__init__(len(images), size)
        self.images = images

    def load(self, indices):
        return torch.stack([_resize_pil(self.images[i], self.size) for i in indices])


class ArrayImages(ImageData):
    """``(n, h, w, c)`` arrays: centre square, resized (antialiased bilinear)."""

    def __init__(self, array, size):
        super().__init__(array.shape[0], size)
        self.array = array
        self.channels = 1 if array.shape[-1] == 1 else 3
        self.dtype = torch.uint8 if array.dtype == np.uint8 else torch.float32

    def load(self, indices):
        chunk = np.asarray(self.array[np.asarray(indices, dtype=np.intp)])
        x = torch.from_numpy(np.ascontiguousarray(chunk[..., : self.channels]))
        x = x.permute(0, 3, 1, 2)
        h, w = x.shape[-2:]
        left, top, right, bottom = _square_box(w, h)
        x = x[..., top:bottom, left:right]
        if x.shape[-1] == self.size:  # already the stored size: no resampling
            return x.contiguous() if self.dtype == torch.uint8 else x.float()
        x = F.interpolate(
            x.float(),
            size=(self.size, self.size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        if self.dtype == torch.uint8:
            return x.round_().clamp_(0, 255).to(torch.uint8)
        return x.clamp_(0, 1)


class RowImages(ImageData):
    """2-D rows: each row is a flattened image, stretched to ``S x S``."""

    dtype = torch.float32

    def __init__(self, rows, shape, value_range, size):
        super().__init__(rows.shape[0], size)
        self.rows = rows
        self.shape = shape
        self.channels = shape[2]
        low, high = value_range
        self.low = low
        self.scale = 1.0 / (high - low) if high > low else 1.0

    def load(self, indices):
        chunk = self.rows[np.asarray(indices, dtype=np.intp)]
        x = torch.as_tensor((chunk - self.low) * self.scale, dtype=torch.float32)
        x = x.reshape(-1, *self.shape).permute(0, 3, 1, 2)
        return F.interpolate(
            x, size=(self.size, self.size), mode="bilinear", align_corners=False
        )


def materialize(data, budget_bytes, batch_size=64):
    """Decode everything once into memory if it fits ``budget_bytes``."""
    if isinstance(data, TensorImages) or data.nbytes() > budget_bytes:
        return data
    indices = np.arange(len(data))
    parts = list(data.iter_batches(indices, max(batch_size, 64)))
    return TensorImages(torch.cat(parts))


# ------------------------------------------------------------------------- X checks
def _is_pathlike(x):
    return isinstance(x, (str, os.PathLike))


def kind_of(X):
    """'paths', 'pil' or 'array' (anything numpy can read)."""
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(
            "X must be a sequence of image paths, not a single path; to load a folder "
            "of class sub-folders use skfinetune.load_image_folder(path)."
        )
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            "Sparse input is not supported: X must be dense (images or rows of pixels)."
        )
    if isinstance(X, (list, tuple)) or (
        isinstance(X, np.ndarray) and X.dtype.kind in "OUS" and X.ndim == 1
    ):
        items = list(X)
        if items and all(isinstance(x, Image.Image) for x in items):
            return "pil"
        if items and all(_is_pathlike(x) for x in items):
            return "paths"
        if items and any(isinstance(x, Image.Image) or _is_pathlike(x) for x in items):
            raise TypeError(
                "X mixes image paths or PIL images with other objects; every element "
                "must be of one kind."
            )
    return "array"


def check_image_array(X):
    """Validate a 3-D ``(n, h, w)`` or 4-D ``(n, h, w, c)`` array of images."""
    if X.ndim == 3:
        X = X[..., None]
    n, h, w, c = X.shape
    if n == 0:
        raise ValueError(
            "Found array with 0 sample(s) while a minimum of 1 is required."
        )
    if h == 0 or w == 0:
        raise ValueError(f"Images must have at least 1x1 pixels; got {h}x{w}.")
    if c not in (1, 3, 4):
        hint = ""
        if X.shape[1] in (1, 3, 4):
            hint = (
                " It looks channels-first; pass X.transpose(0, 2, 3, 1) for (n, height,"
                " width, channels)."
            )
        raise ValueError(
            "4-D image arrays must be (n_images, height, width, channels) with 1 "
            f"(gray), 3 (RGB) or 4 (RGBA) channels; got shape {X.shape}.{hint}"
        )
    kind = X.dtype.kind
    if kind == "b":
        X = X.astype(np.float32)
        kind = "f"
    if kind == "c" or kind not in "uif":
        raise ValueError(f"Image arrays must be real numbers; got dtype {X.dtype}.")
    if kind == "f":
        if not np.isfinite(X).all():
            raise ValueError("Input X contains NaN or infinity pixel values.")
        low, high = float(X.min()), float(X.max())
        if low < 0 or high > 1:
            raise ValueError(
                "Float image arrays must hold values in [0, 1]; got values in "
                f"[{low:g}, {high:g}]. Pass uint8 arrays for 0-255 pixels or divide "
                "by the maximum."
            )
        if X.dtype != np.float32:
            X = X.astype(np.float32)
    elif X.dtype != np.uint8:
        low, high = int(X.min()), int(X.max())
        if low < 0 or high > 255:
            raise ValueError(
                "Integer image arrays must hold values in [0, 255]; got values in "
                f"[{low}, {high}]. Scale 16-bit images to 8 bits or pass floats in "
                "[0, 1]."
            )
        X = X.astype(np.uint8)
    return X


def row_image_shape(image_shape, n_features):
    """The ``(h, w, c)`` of one row: ``image_shape`` or the documented default."""
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side == n_features:
            return (side, side, 1)
        return (1, n_features, 1)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = shape + (1,)
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)} holds {math.prod(shape)} values but X "
            f"has {n_features} features per row."
        )
    return shape


def check_paths(items):
    """Paths as strings, each checked to exist and to have an image header."""
    paths = [os.fspath(p) for p in items]
    with ThreadPoolExecutor(_n_threads()) as pool:
        list(pool.map(check_file_header, paths))
    return paths


def path_signature(paths):
    """(path, size, mtime) of each file: a cache key that notices edited files."""
    out = []
    for p in paths:
        stat = Path(p).stat()
        out.append((p, stat.st_size, stat.st_mtime_ns))
    return tuple(out)
