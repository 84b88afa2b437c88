"""Images: decoding, resizing, and the kinds of image data behind ``X``.

Every kind of ``X`` becomes an :class:`ImageData`: ``n`` images that load, by index,
as a ``(batch, C, S, S)`` tensor with ``C`` in {1, 3} and ``S`` the stored size (the
weights' resize size).  uint8 pixels stay uint8 (0-255); everything else is float32 in
[0, 1].  Files and PIL images follow the weights' own preprocessing (shorter side
resized to ``S``, centre square); arrays of images too; 2-D rows are stretched to
``S x S`` so that every feature is kept.

Each kind owns what differs between them: how it decodes, the per-image keys of the
feature cache (``cache_keys``), how it is held in memory once decoded
(``materialize``) and whether it moves to a GPU (``to_device``).  Estimators call
these methods and never ask which kind they hold.
"""

import contextlib
import os
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
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


# ----------------------------------------------------------------------- image data
class ImageData:
    """``n`` images that load, by index, as ``(b, C, S, S)`` tensors."""

    channels = 3
    dtype = torch.uint8

    def __init__(self, n, size, interpolation="bilinear"):
        self.n = n
        self.size = size
        self.interpolation = interpolation

    def __len__(self):
        return self.n

    def nbytes(self):
        itemsize = torch.empty((), dtype=self.dtype).element_size()
        return self.n * self.channels * self.size * self.size * itemsize

    #: Whether ``augment="auto"`` augments this kind (pixels that may rotate/flip).
    augment_by_default = True

    def load(self, indices):
        raise NotImplementedError

    def cache_keys(self):
        """One key per image for the feature cache (what its pixels depend on), or
        ``None`` where computing them would cost as much as decoding."""
        return None

    def materialize(self, budget_bytes, batch_size=64, memory=None):
        """Everything decoded once into memory if it fits ``budget_bytes`` (as
        :class:`TensorImages`); else ``self``, streamed batch by batch."""
        if self.nbytes() > budget_bytes:
            return self
        indices = np.arange(len(self))
        return TensorImages(
            torch.cat(list(self.iter_batches(indices, max(batch_size, 64))))
        )

    def placed(self, device):
        """This data where it computes fastest on ``device``: decoded images move
        onto a GPU if they fit a quarter of its free memory; anything else stays
        (batches are then copied one at a time)."""
        return self

    def for_inference(self, device, budget_bytes, batch_size=64):
        """This data as held for one pass of inference on ``device``: on a GPU,
        in-memory images are decoded once and moved there; files stream."""
        if device.type != "cuda":
            return self
        return self.materialize(budget_bytes, batch_size).placed(device)

    def load_batch(self, indices, indices_on_device):
        """``load``, given the indices both as numpy and (or ``None``) on the
        training device."""
        return self.load(indices)

    def iter_batches(self, indices, batch_size, prefetch=False):
        """Batches of ``indices`` in order (inference)."""
        batches = (
            (indices[start : start + batch_size], None)
            for start in range(0, len(indices), batch_size)
        )
        return self.iter_loaded(batches, prefetch)

    def iter_loaded(self, batches, prefetch=False):
        """``load_batch`` of each ``(indices, indices_on_device)`` of ``batches``
        (``None``: not on the device).  With ``prefetch``, a thread loads (and
        pins, for a copy to the GPU that does not block) the next batch while
        this one computes: in training as in inference."""
        if not prefetch:
            for indices, on_device in batches:
                yield self.load_batch(indices, on_device)
            return

        def load_pinned(indices, on_device):
            batch = self.load_batch(indices, on_device)
            if batch.device.type == "cpu" and torch.cuda.is_available():
                batch = batch.pin_memory()
            return batch

        with ThreadPoolExecutor(1) as pool:
            pending = None
            for indices, on_device in batches:
                future = pool.submit(load_pinned, indices, on_device)
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
        if (
            indices_on_device is not None
            and indices_on_device.device == self.tensor.device
        ):
            return self.tensor[indices_on_device]
        return self.load(indices)

    def cache_keys(self):
        if self.tensor.device.type != "cpu":
            return None
        return [joblib.hash(image.numpy()) for image in self.tensor]

    def materialize(self, budget_bytes, batch_size=64, memory=None):
        return self

    def placed(self, device):
        if device.type != "cuda" or self.tensor.device == device:
            return self
        # the check and the copy under one lock, so that fits placing data at
        # once (n_jobs threads or processes) each see what the others took
        with _placement_lock(device):
            free, _ = torch.cuda.mem_get_info(device)
            if self.nbytes() > free // 4:
                return self
            try:
                return TensorImages(_to_device(self.tensor, device))
            except torch.OutOfMemoryError:
                return self


def _to_device(tensor, device):
    return tensor.to(device)


_PLACEMENT = threading.Lock()


@contextlib.contextmanager
def _placement_lock(device):
    """Held while one fit decides whether its images fit on ``device`` and copies
    them there: by the threads of this process, and by other processes through a
    lock file (where ``fcntl`` exists)."""
    with _PLACEMENT:
        try:
            import fcntl
        except ImportError:  # Windows: threads only
            yield
            return
        index = 0 if device.index is None else device.index
        path = Path(tempfile.gettempdir()) / f"skfinetune-cuda{index}.lock"
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


class PathImages(ImageData):
    """Image files, decoded when loaded: by PIL in threads, or JPEG files on the
    GPU when the data is ``placed`` on one (``decode_jpeg`` on ``decode_device``)."""

    def __init__(self, paths, size, interpolation="bilinear", decode_device=None):
        super().__init__(len(paths), size, interpolation)
        self.paths = paths
        self.decode_device = decode_device

    def load(self, indices):
        paths = [self.paths[i] for i in indices]
        if self.decode_device is not None:
            return decode_files_on(
                self.decode_device, paths, self.size, self.interpolation
            )
        if len(paths) == 1:
            return decode_file(paths[0], self.size, self.interpolation)[None]
        return torch.stack(
            list(
                _decode_pool().map(
                    lambda p: decode_file(p, self.size, self.interpolation), paths
                )
            )
        )

    def placed(self, device):
        """On a GPU, JPEG files decode there (what PIL decodes on the CPU caps
        file-backed training and inference at a few hundred images/s per core)."""
        if device.type != "cuda" or self.decode_device == device:
            return self
        return PathImages(self.paths, self.size, self.interpolation, device)

    def cache_keys(self):
        return list(path_signature(self.paths))

    def for_inference(self, device, budget_bytes, batch_size=64):
        return self.placed(device)  # decoded batch by batch while the network runs

    def materialize(self, budget_bytes, batch_size=64, memory=None):
        """Decoded once; through ``memory`` (one entry per set of files and size)
        when given, so that later fits on the same files skip decoding."""
        if memory is None or self.nbytes() > budget_bytes:
            return super().materialize(budget_bytes, batch_size)
        decode = memory.cache(_decoded_images, ignore=["decode"])
        pixels = decode(
            path_signature(self.paths),
            (self.size, self.interpolation),
            lambda: super(PathImages, self).materialize(budget_bytes).tensor.numpy(),
        )
        return TensorImages(torch.from_numpy(pixels))


def _decoded_images(signature, size, decode):
    """The function ``memory`` caches; ``decode`` is not part of the key."""
    return decode()


class PILImages(ImageData):
    def __init__(self, images, size, interpolation="bilinear"):
        super().__init__(len(images), size, interpolation)
        self.images = images

    def load(self, indices):
        return torch.stack(
            [
                _resize_pil(self.images[i], self.size, self.interpolation)
                for i in indices
            ]
        )

    def cache_keys(self):
        return [
            joblib.hash((image.mode, image.size, image.tobytes()))
            for image in self.images
        ]


class ArrayImages(ImageData):
    """``(n, h, w, c)`` arrays: centre square, resized (antialiased bilinear)."""

    def __init__(self, array, size, interpolation="bilinear"):
        super().__init__(array.shape[0], size, interpolation)
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
            mode=self.interpolation,
            **({} if self.interpolation == "nearest" else _SMOOTH),
        )
        if self.dtype == torch.uint8:
            return x.round_().clamp_(0, 255).to(torch.uint8)
        return x.clamp_(0, 1)

    def cache_keys(self):
        return [joblib.hash(np.asarray(image)) for image in self.array]


class RowImages(ImageData):
    """2-D rows: each row is a flattened image, stretched to ``S x S``."""

    dtype = torch.float32
    augment_by_default = False  # features need not be pixels that rotate or flip

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

    def cache_keys(self):
        scaling = (self.shape, self.low, self.scale)
        return [joblib.hash((scaling, row)) for row in np.asarray(self.rows)]


def path_signature(paths):
    """(path, size, mtime) of each file: a cache key that notices edited files."""
    out = []
    for p in paths:
        stat = Path(p).stat()
        out.append((p, stat.st_size, stat.st_mtime_ns))
    return tuple(out)
