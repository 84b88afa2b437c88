"""``memory``: decoded images and pretrained-backbone features cached across fits.

Features are cached **per image**, keyed by what the pretrained backbone's output
depends on (backbone, weights, input sizes, precision, device kind; the seed too for
random initialisation) and by the image: a file's path, size and modification time,
or a hash of an in-memory image's pixels.  Cross-validation folds overlap, so after
the first fit of a search most images of every later fit — training and test
fold alike — are found, and an image found needs neither decoding nor a backbone
pass.
"""

import joblib
import numpy as np
import torch

from ._data import TensorImages, path_signature


def _image_features(model_key, image_key, compute):
    """The cached function; ``compute`` is not part of the key."""
    return compute()


class _Missing(Exception):
    """Raised instead of computing one image's features: they are done in batches."""


def _raise_missing():
    raise _Missing


def _decoded_images(signature, size, decode):
    return decode()


def image_keys(data, paths):
    """One cache key per image, or ``None`` when they would cost a full pass."""
    if paths is not None:
        return list(path_signature(paths))
    if isinstance(data, TensorImages) and data.tensor.device.type == "cpu":
        return [joblib.hash(image.numpy()) for image in data.tensor]
    return None


class FeatureCache:
    """Per-image backbone features in a ``joblib.Memory``."""

    def __init__(self, memory, model_key):
        self.cached = memory.cache(_image_features, ignore=["compute"])
        self.model_key = model_key

    def features(self, keys, compute_missing):
        """Features for ``keys``; ``compute_missing(indices)`` computes the rest.

        Returns a float32 array of shape ``(len(keys), n_features)``.
        """
        found = []
        for key in keys:  # one look-up per image; misses raise, nothing is stored
            try:
                found.append(self.cached(self.model_key, key, _raise_missing))
            except _Missing:
                found.append(None)
        missing = np.array([i for i, f in enumerate(found) if f is None], dtype=int)
        if len(missing):
            computed = compute_missing(missing)
            for i, feature in zip(missing, computed, strict=True):
                self.cached(self.model_key, keys[i], lambda f=feature: f)
                found[i] = feature
        return np.stack(found).astype(np.float32, copy=False)


def decode_through(memory, paths, data, materialize_fn):
    """Decoded images of ``paths`` through ``memory`` (one entry per data set)."""
    decode = memory.cache(_decoded_images, ignore=["decode"])
    pixels = decode(path_signature(paths), data.size, lambda: materialize_fn().numpy())
    return TensorImages(torch.from_numpy(pixels))
