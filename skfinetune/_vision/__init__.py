"""The image family: decoding and kinds of ``X``, transforms, torchvision backbones,
BatchNorm folding, ``load_image_folder``.

The estimators' core (``_base``, ``_training``, ``_inference``) reaches images only
through what this package returns: :class:`inputs.ImageInput` (``X`` -> data whose
kind owns decoding, cache keys and placement), :func:`backbones.build_network` (a
``FineTuneNet`` and its blocks) and :class:`transforms.BatchPreparer` (raw batch ->
network input).  Another family of backbones (text, say) would sit beside it.
"""
