"""The image family: decoding and kinds of ``X``, transforms, BatchNorm folding,
``load_image_folder``.

The estimators' core (``_base``, ``_training``, ``_inference``) reaches images only
through what this package returns: :class:`inputs.ImageInput` (``X`` -> data whose
kind owns decoding, cache keys and placement) and
:class:`transforms.BatchPreparer` (raw batch -> network input).  Networks come
from the sources behind ``skfinetune._backbones``.
"""
