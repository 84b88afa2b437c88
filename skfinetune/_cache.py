"""``memory``: what fits keep between them — per-image backbone features and
decoded images — in a folder, read back without unpickling.

Features are cached **per image**, keyed by what the pretrained backbone's output
depends on (backbone, weights, input sizes, the precision used, device kind; the
seed too for random initialisation) and by the image's own key, which its kind
of data provides (``cache_keys``: a file's path, size and modification time, or a
hash of an in-memory image).  Cross-validation folds overlap, so after the first
fit of a search most images of every later fit — training and test fold alike —
are found, and an image found needs neither decoding nor a backbone pass.  Every
estimator that takes ``memory`` (fine-tuning ones and ``PretrainedFeatures``)
shares these entries.

Each entry is one ``.npy`` file under ``<memory>/skfinetune/``, named by the
SHA-256 of its keys (computed here, never read from anywhere), written to a
temporary file and renamed, and read with ``numpy.load(allow_pickle=False)``: a
cache folder that someone else can write to can make an entry miss or give wrong
numbers, never run code.  An entry that is not a plain array of the expected
kind counts as missing and is computed again.
"""

import hashlib
import os
import tempfile
from pathlib import Path

import joblib
import numpy as np

#: The folder under ``memory`` that holds the package's entries.
FOLDER = "skfinetune"


def location(memory):
    """The folder of ``memory`` (a ``joblib.Memory`` or a path), or ``None``
    where it has none (``Memory(None)``: no caching)."""
    if memory is None:
        return None
    if isinstance(memory, (str, os.PathLike)):
        return Path(memory)
    where = getattr(memory, "location", None)
    return None if where is None else Path(where)


def digest(key):
    """A file name for ``key`` (any value ``joblib.hash`` takes)."""
    return hashlib.sha256(joblib.hash(key).encode()).hexdigest()[:40]


class ArrayStore:
    """Arrays under one key in a folder: ``get`` (``None`` when missing or not
    a plain array) and ``put`` (atomic)."""

    def __init__(self, root, key):
        self.folder = Path(root) / FOLDER / digest(key)

    def path(self, item):
        return self.folder / f"{digest(item)}.npy"

    def has(self, item):
        return self.path(item).is_file()

    def get(self, item, ndim=None, dtype=None):
        try:
            array = np.load(self.path(item), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            return None
        if (ndim is not None and array.ndim != ndim) or (
            dtype is not None and array.dtype != dtype
        ):
            return None
        return array

    def put(self, item, array):
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(array), allow_pickle=False)
            os.replace(tmp, self.path(item))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


class FeatureCache:
    """Per-image backbone features under ``model_key`` in ``memory``'s folder."""

    def __init__(self, root, model_key):
        self.store = ArrayStore(root, ("features", model_key))

    def has_all(self, keys):
        """Whether every image of ``keys`` has its features stored."""
        return all(self.store.has(key) for key in keys)

    def features(self, keys, compute_missing):
        """Features for ``keys``; ``compute_missing(indices)`` computes the rest
        (an array of their features, in order).

        Returns a float32 array of shape ``(len(keys), n_features)``.
        """
        found = [self.store.get(key, ndim=1, dtype=np.float32) for key in keys]
        missing = np.array([i for i, f in enumerate(found) if f is None], dtype=int)
        if len(missing):
            computed = np.asarray(compute_missing(missing), dtype=np.float32)
            for i, feature in zip(missing, computed, strict=True):
                self.store.put(keys[i], feature)
                found[i] = feature
        if len({len(f) for f in found}) > 1:  # entries of another size: not
            everything = np.arange(len(keys))  # trusted, all computed again
            computed = np.asarray(compute_missing(everything), dtype=np.float32)
            for key, feature in zip(keys, computed, strict=True):
                self.store.put(key, feature)
            return computed
        return np.stack(found).astype(np.float32, copy=False)


def decoded(root, key, decode, n):
    """The ``n`` images ``decode()`` returns (one array), kept under ``key`` in
    ``root``: the decoded images of a set of files, for later fits."""
    store = ArrayStore(root, ("decoded", key))
    array = store.get("pixels", ndim=4)
    if array is None or array.shape[0] != n:
        array = decode()
        store.put("pixels", array)
    return array
