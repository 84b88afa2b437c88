"""``X`` as a data scientist holds it -> checked :class:`~.images.ImageData`.

Accepted: a sequence of image paths (list, tuple, 1-D or ``(n, 1)`` object array,
pandas ``Series``/``Index``, one-column ``DataFrame``), a list of PIL images, an array
of images ``(n, h, w)`` or ``(n, h, w, c)``, or 2-D rows of flattened images
(ndarray or numeric ``DataFrame``).  :class:`ImageInput` is what ``fit`` learns about
the kind of ``X`` (the stored size, the weights' normalisation, the shape and value
range of rows, the channels of arrays), so that ``predict`` reads ``X`` the same way
and refuses another kind with a clear error.
"""

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image
from sklearn.utils.validation import validate_data

from .decoding import _n_threads, check_file_header
from .images import ArrayImages, PathImages, PILImages, RowImages


def _is_pathlike(x):
    return isinstance(x, (str, os.PathLike))


def _column_of_paths(X):
    """A pandas Series/Index, a one-column DataFrame or an ``(n, 1)`` object array
    of paths as a plain list; anything else unchanged."""
    module = type(X).__module__.split(".")[0]
    if module == "pandas":
        if hasattr(X, "columns"):  # DataFrame
            path_columns = [
                c for c in X.columns if any(_is_pathlike(v) for v in X[c].iloc[:20])
            ]
            if not path_columns:
                return X  # numeric rows of pixels
            if X.shape[1] > 1:
                raise ValueError(
                    f"X is a DataFrame with {X.shape[1]} columns; pass the single "
                    f"column of image paths, e.g. X[{str(path_columns[0])!r}] (or "
                    f"select it with a ColumnTransformer)."
                )
            return list(X.iloc[:, 0])
        values = list(X[:20])  # Series or Index
        if any(_is_pathlike(v) or isinstance(v, Image.Image) for v in values):
            return list(X)
        return X
    if (
        isinstance(X, np.ndarray)
        and X.dtype.kind in "OUS"
        and X.ndim == 2
        and X.shape[1] == 1
    ):
        return list(X[:, 0])
    return X


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


def image_data(X, size, interpolation="bilinear"):
    """Images — paths, PIL images, or an array ``(n, h, w[, c])`` — as the
    kind of image data that loads them at ``size`` (``X`` as returned by
    ``_column_of_paths``)."""
    kind = kind_of(X)
    if kind == "paths":
        return PathImages(check_paths(X), size, interpolation)
    if kind == "pil":
        return PILImages(list(X), size, interpolation)
    array = np.asarray(X)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"An array of images must be (n, height, width) or (n, height, width, "
            f"channels); got shape {array.shape}."
        )
    return ArrayImages(check_image_array(array), size, interpolation)


def _ndim(X):
    ndim = getattr(X, "ndim", None)
    if ndim is not None:
        return ndim
    try:
        return np.asarray(X).ndim
    except (ValueError, TypeError):
        if all(getattr(x, "ndim", 0) >= 2 for x in X):
            raise ValueError(
                "X is a list of image arrays of different shapes; pass them as PIL "
                "images (PIL.Image.fromarray) or file paths, or resize them to one "
                "shape."
            ) from None
        return 2  # ragged rows: validate_data explains what is wrong


class ImageInput:
    """How an estimator reads ``X``: learnt by ``fit``, applied by ``read``.

    Parameters
    ----------
    store_size : int
        Side at which images are decoded and held (the weights' resize size).
    mean, std : tuple of float
        The weights' normalisation.
    image_shape : tuple or None
        The estimator's ``image_shape`` parameter, for 2-D rows.
    interpolation : {"bilinear", "bicubic", "nearest"}, default="bilinear"
        The weights' resampling when images are resized.
    """

    #: files saved before ``interpolation`` existed read as bilinear
    interpolation = "bilinear"

    def __init__(self, store_size, mean, std, image_shape=None, interpolation=None):
        self.store_size = store_size
        self.mean = mean
        self.std = std
        self.image_shape = image_shape
        self.interpolation = interpolation or "bilinear"
        self.rows = None  # (shape, (low, high)) once fitted on 2-D rows
        self.channels = None  # channels of the image arrays fitted on

    def cache_key(self):
        """What the stored pixels depend on, for the feature cache's key."""
        return (self.store_size, self.interpolation)

    def to_dict(self):
        """Plain values (for saving without pickle)."""
        return dict(vars(self))

    @classmethod
    def from_dict(cls, values):
        reader = cls.__new__(cls)
        reader.__dict__.update(values)
        return reader

    def fit(self, estimator, X):
        """Learn the kind of ``X`` and return it as ImageData (the estimator
        forgets what a previous fit learnt of 2-D rows first)."""
        return self._read(estimator, X, reset=True)

    def read(self, estimator, X):
        """``X`` as ImageData, read as the fitted kind; another kind is an error."""
        return self._read(estimator, X, reset=False)

    def _read(self, estimator, X, reset):
        name = type(estimator).__name__
        X = _column_of_paths(X)
        kind = kind_of(X)
        if isinstance(X, (list, tuple)) and len(X) == 0:
            raise ValueError("X is empty: found 0 samples, a minimum of 1 is required.")
        if kind == "array":
            ndim = _ndim(X)
            if ndim <= 2:
                return self._read_rows(estimator, X, reset)
            if ndim > 4:
                raise ValueError(
                    f"X has {ndim} dimensions; expected 2 (rows of pixels), 3 (gray "
                    "images) or 4 (n, height, width, channels)."
                )
        if not reset and self.rows is not None:
            raise ValueError(
                f"{name} was fitted on 2-D rows of pixels; predict on the same kind "
                f"of X (got {kind})."
            )
        data = image_data(X, self.store_size, self.interpolation)
        if isinstance(data, ArrayImages):
            channels = data.array.shape[-1]
            if reset:
                self.channels = channels
            elif self.channels not in (None, channels):
                raise ValueError(
                    f"X has {channels} channel(s), but {name} was fitted on images "
                    f"with {self.channels} channel(s)."
                )
        return data

    def _read_rows(self, estimator, X, reset):
        if not reset and self.rows is None:
            raise ValueError(
                f"{type(estimator).__name__} was fitted on images; 2-D rows need it "
                "to be fitted on rows (with image_shape) too."
            )
        X = validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32])
        if reset:
            shape = row_image_shape(self.image_shape, X.shape[1])
            self.rows = (shape, (float(X.min()), float(X.max())))
        shape, value_range = self.rows
        return RowImages(X, shape, value_range, self.store_size)
