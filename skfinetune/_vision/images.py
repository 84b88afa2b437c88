"""The kinds of image data behind ``X``: what each one is, how it loads and how
its images are keyed.

Every kind of ``X`` becomes an :class:`ImageData`: ``n`` images that load, by index,
as a ``(batch, C, S, S)`` CPU tensor with ``C`` in {1, 3} and ``S`` the stored size
(the weights' resize size).  uint8 pixels stay uint8 (0-255); everything else is
float32 in [0, 1].  Files and PIL images follow the weights' own preprocessing
(shorter side resized to ``S``, centre square); arrays of images too; 2-D rows are
stretched to ``S x S`` so that every feature is kept.

A kind says how to list, key and load its images — ``len``, ``load``,
``cache_keys``, ``nbytes``, ``augment_by_default``, ``in_memory``, and for files
``decode_key`` (the whole decoded set, for ``memory``) — and nothing about
memory, devices or threads: holding data in memory, placing it on a device,
prefetching and pinning are the business of ``skfinetune._feeding.Feeder``.
"""

import joblib
import numpy as np
import torch
import torch.nn.functional as F

from .decoding import (
    _SMOOTH,
    _decode_pool,
    _resize_pil,
    _square_box,
    decode_file,
    path_signature,
)


class ImageData:
    """``n`` images that load, by index, as ``(b, C, S, S)`` tensors."""

    channels = 3
    dtype = torch.uint8
    #: Whether ``augment="auto"`` augments this kind (pixels that may rotate/flip).
    augment_by_default = True
    #: Whether the images are in memory already (files are decoded as they load).
    in_memory = True

    def __init__(self, n, size, interpolation="bilinear"):
        self.n = n
        self.size = size
        self.interpolation = interpolation

    def __len__(self):
        return self.n

    def nbytes(self):
        itemsize = torch.empty((), dtype=self.dtype).element_size()
        return self.n * self.channels * self.size * self.size * itemsize

    def load(self, indices):
        raise NotImplementedError

    def cache_keys(self):
        """One key per image for the feature cache (what its pixels depend on), or
        ``None`` where computing them would cost as much as decoding."""
        return None

    def decode_key(self):
        """A key of the whole set as decoded, for holding it through ``memory``
        (``None``: not worth it, the kind is in memory already)."""
        return None


class PathImages(ImageData):
    """Image files, decoded by PIL in a pool of threads when loaded."""

    in_memory = False

    def __init__(self, paths, size, interpolation="bilinear"):
        super().__init__(len(paths), size, interpolation)
        self.paths = paths

    def load(self, indices):
        paths = [self.paths[i] for i in indices]
        if len(paths) == 1:
            return decode_file(paths[0], self.size, self.interpolation)[None]
        return torch.stack(
            list(
                _decode_pool().map(
                    lambda p: decode_file(p, self.size, self.interpolation), paths
                )
            )
        )

    def cache_keys(self):
        return list(path_signature(self.paths))

    def decode_key(self):
        return (path_signature(self.paths), (self.size, self.interpolation))


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
