"""The image family: what images give the engine (``skfinetune._family``).

Networks come from torchvision, timm or a user's module (``_backbones``); ``X``
is read by :class:`~.inputs.ImageInput` into a kind of image data
(``images``); batches are prepared on the device by
:class:`~.transforms.BatchPreparer` (scaling, augmentation, centre crop,
normalisation); exported graphs take uint8 NHWC images.
"""

import math
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval

from .._backbones import make_backbone
from .._export import ExportInput
from .._family import Family
from .inputs import ImageInput
from .transforms import BatchPreparer, augmentation_options


class ImageFamily(Family):
    """Images: files, PIL images, arrays of images, or 2-D rows of pixels."""

    name = "images"
    size_parameter = "image_size"
    parameter_constraints = {
        "head": [str, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), None],
        "image_shape": ["array-like", None],
        "mean": ["array-like", None],
        "std": ["array-like", None],
    }
    memory_format = torch.channels_last  # faster convolutions

    def backbone(self, estimator):
        return make_backbone(estimator.backbone, estimator.weights, estimator.head)

    def check_params(self, estimator):
        for name in ("mean", "std"):
            value = getattr(estimator, name)
            if value is None:
                continue
            if isinstance(value, str) or not (
                len(value) == 3
                and all(isinstance(v, Real) and math.isfinite(v) for v in value)
                and (name == "mean" or all(v > 0 for v in value))
            ):
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

    def input_from_dict(self, values):
        return ImageInput.from_dict(values)

    def example_input(self, size, device):
        return torch.zeros(1, 3, size, size, device=device)

    def check_augmentation(self, augment):
        augmentation_options(augment)  # raises on bad options

    def augmentation(self, augment, data):
        return augmentation_options(augment, images=data.augment_by_default)

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
            reader.store_size, size, reader.mean, reader.std, reader.channels or 3
        )


#: The one instance the image estimators share.
IMAGES = ImageFamily()
