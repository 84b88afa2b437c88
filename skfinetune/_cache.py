"""``memory``: pretrained-backbone features cached per image across fits.

Features are cached **per image**, keyed by what the pretrained backbone's output
depends on (backbone, weights, input sizes, precision, device kind; the seed too for
random initialisation) and by the image's own key, which its kind of data provides
(``ImageData.cache_keys``: a file's path, size and modification time, or a hash of
an in-memory image).  Cross-validation folds overlap, so after the first fit of a
search most images of every later fit — training and test fold alike — are found,
and an image found needs neither decoding nor a backbone pass.  Every estimator
that takes ``memory`` (fine-tuning ones and ``PretrainedFeatures``) shares these
entries.
"""

import numpy as np


def _image_features(model_key, image_key, compute):
    """The cached function; ``compute`` is not part of the key."""
    return compute()


class _Missing(Exception):
    """Raised instead of computing one image's features: they are done in batches."""


def _raise_missing():
    raise _Missing


class FeatureCache:
    """Per-image backbone features in a ``joblib.Memory``."""

    def __init__(self, memory, model_key):
        self.cached = memory.cache(_image_features, ignore=["compute"])
        self.model_key = model_key

    def has_all(self, keys):
        """Whether every image of ``keys`` has its features stored."""
        return all(
            self.cached.check_call_in_cache(self.model_key, key, None) for key in keys
        )

    def features(self, keys, compute_missing):
        """Features for ``keys``; ``compute_missing(indices)`` computes the rest
        (an array of their features, in order).

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
