"""The image family: what images give the engine (``skfinetune._family``).

Networks come from torchvision, timm or a user's module (``_backbones``); ``X``
is read by :class:`~.inputs.ImageInput` into a kind of image data
(``images``); batches are prepared on the device by
:class:`~.transforms.BatchPreparer` (scaling, augmentation, centre crop,
normalisation); exported graphs take uint8 NHWC images.
"""

import math
import re
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torchvision.models._api import WeightsEnum

from .._backbones import make_backbone
from .._export import ExportInput
from .._family import Family
from .._validation import check_int
from .inputs import ImageInput
from .transforms import BatchPreparer, augmentation_options


class ImageFamily(Family):
    """Images: files, PIL images, arrays of images, or 2-D rows of pixels."""

    name = "images"
    size_parameter = "image_size"
    size_attribute = "image_size_"
    size_check = staticmethod(check_int(1, 4096))
    parameter_constraints = {
        "head": [str, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), None],
        "image_shape": ["array-like", None],
        "mean": ["array-like", None],
        "std": ["array-like", None],
    }
    #: Parameters of the fine-tuning estimators only.
    training_constraints = {
        "augment": ["boolean", StrOptions({"auto"}), dict],
        "train_batchnorm": ["boolean", StrOptions({"auto"})],
        "test_time_flip": ["boolean"],
    }
    memory_format = torch.channels_last  # faster convolutions
    two_d_array = True  # rows of pixels

    def backbone(self, estimator):
        return make_backbone(estimator.backbone, estimator.weights, estimator.head)

    def check_params(self, estimator):
        for name in ("mean", "std"):
            value = getattr(estimator, name)
            if value is None:
                continue
            if not _finite(value, 3, positive=name == "std"):
                positive = ", all > 0," if name == "std" else ""
                raise ValueError(
                    f"{name} must be 3 numbers (red, green, blue){positive} on the "
                    f"0-1 scale, or None for the weights' own; got {value!r}."
                )
        if estimator.image_shape is not None:
            shape = tuple(estimator.image_shape)
            if (
                len(shape) not in (2, 3)
                or not all(isinstance(s, Integral) and s > 0 for s in shape)
                or (len(shape) == 3 and shape[2] not in (1, 3))
            ):
                raise ValueError(
                    "image_shape must be (height, width) or (height, width, channels)"
                    f" with 1 or 3 channels; got {estimator.image_shape!r}."
                )

    def input_size(self, estimator, preprocessing):
        return estimator.image_size or preprocessing.crop_size

    def new_input(self, estimator, preprocessing):
        crop = self.input_size(estimator, preprocessing)
        scale = preprocessing.resize_size / preprocessing.crop_size
        store = max(crop, int(round(crop * scale)))
        mean, std = estimator.mean, estimator.std
        return ImageInput(
            store,
            tuple(mean) if mean is not None else preprocessing.mean,
            tuple(std) if std is not None else preprocessing.std,
            estimator.image_shape,
            preprocessing.interpolation,
        )

    def input_from_dict(self, values, size=None):
        reason = _input_problem(values, size)
        if reason:
            raise ValueError(f"The file's fitted attribute '_input' {reason}.")
        return ImageInput.from_dict(values)

    def check_untrusted(self, estimator):
        """A file names plain architecture names only: a torchvision model or a
        timm ``timm/<name>`` (no ``hf-hub:`` or ``local-dir:``, no path), and
        weights ``None``, ``"DEFAULT"`` or a torchvision weights name (never a
        file: the weights are the file's tensors)."""
        backbone, weights = estimator.backbone, estimator.weights
        if not isinstance(backbone, str) or not (
            _PLAIN.fullmatch(backbone) or _TIMM_NAME.fullmatch(backbone)
        ):
            raise ValueError(
                f"The file's parameter backbone={backbone!r} is not a plain "
                "torchvision or timm architecture name (a file may not name a "
                "model hub, a folder or a module path)."
            )
        if not (
            weights is None
            or isinstance(weights, WeightsEnum)
            or (isinstance(weights, str) and _PLAIN.fullmatch(weights))
        ):
            raise ValueError(
                f"The file's parameter weights={weights!r} names neither None, "
                "'DEFAULT' nor a torchvision weights name (a file's weights are "
                "its tensors, never another file)."
            )

    def example_input(self, size, device):
        return torch.zeros(1, 3, size, size, device=device)

    def check_augmentation(self, estimator):
        augmentation_options(estimator.augment)  # raises on bad options

    def augmentation(self, estimator, data):
        return augmentation_options(estimator.augment, images=data.augment_by_default)

    def flip_at_predict(self, estimator, data):
        return estimator.test_time_flip and data.augment_by_default

    def train_batchnorm(self, estimator):
        if estimator.train_batchnorm == "auto":
            return estimator.weights is None  # random weights: learn statistics
        return estimator.train_batchnorm

    def preparer(self, reader, size, device, augmentation=None):
        return BatchPreparer(
            size,
            reader.mean,
            reader.std,
            device,
            augmentation=augmentation,
            channels_last=True,
        )

    def export_input(self, reader, size):
        if reader.rows is not None:
            raise ValueError(
                "was fitted on 2-D rows of pixels; to_onnx exports estimators "
                "fitted on images (arrays, files or PIL images)."
            )
        return ExportInput(
            reader.store_size,
            size,
            reader.mean,
            reader.std,
            reader.channels or 3,
            reader.interpolation,
        )


_PLAIN = re.compile(r"[A-Za-z0-9_]+")
_TIMM_NAME = re.compile(r"timm/[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_INPUT_KEYS = {
    "store_size",
    "mean",
    "std",
    "image_shape",
    "interpolation",
    "rows",
    "channels",
}


def _finite(values, n, positive=False):
    """Whether ``values`` is a sequence of ``n`` finite numbers (all > 0 with
    ``positive``)."""
    return (
        not isinstance(values, (str, bytes))
        and hasattr(values, "__len__")
        and len(values) == n
        and all(
            isinstance(v, Real)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and (v > 0 or not positive)
            for v in values
        )
    )


def _positive_ints(values, lengths, high=100_000):
    return (
        isinstance(values, (tuple, list))
        and len(values) in lengths
        and all(
            isinstance(v, Integral) and not isinstance(v, bool) and 0 < v <= high
            for v in values
        )
    )


def _input_problem(values, size):
    """Why ``values`` cannot be an ``ImageInput`` read from a file, or ``None``."""
    if not isinstance(values, dict) or not set(values) <= _INPUT_KEYS:
        return f"must be a dict with keys among {sorted(_INPUT_KEYS)}"
    store = values.get("store_size")
    if not isinstance(store, Integral) or isinstance(store, bool):
        return "must have an integer store_size"
    if not 1 <= store <= 8192 or (size is not None and not size <= store <= 4 * size):
        return f"has store_size={store}, out of range for image_size_={size}"
    if not (_finite(values.get("mean"), 3) and _finite(values.get("std"), 3, True)):
        return "must have 3 finite numbers as mean and std (std > 0)"
    if values.get("interpolation", "bilinear") not in (
        "bilinear",
        "bicubic",
        "nearest",
    ):
        return "has an unknown interpolation"
    shape = values.get("image_shape")
    if shape is not None and not _positive_ints(shape, (2, 3)):
        return "has an image_shape that is not 2 or 3 positive integers"
    if values.get("channels") not in (None, 1, 3, 4):
        return "has channels other than 1, 3 or 4"
    rows = values.get("rows")
    if rows is not None and not (
        isinstance(rows, (tuple, list))
        and len(rows) == 2
        and _positive_ints(rows[0], (3,))
        and _finite(rows[1], 2)
    ):
        return "has rows that are not (shape, (low, high))"
    return None


#: The one instance the image estimators share.
IMAGES = ImageFamily()
