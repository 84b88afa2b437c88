"""The image family: decoding and kinds of ``X``, transforms,
``load_image_folder``, and :data:`family.IMAGES`, what images give the engine.

The engine (``_base``, ``_fine_tune``, ``_recipe``, ``_feeding``,
``_inference``) reaches images only through the ``skfinetune._family.Family``
interface that :class:`family.ImageFamily` implements: the reader of ``X``
(:class:`inputs.ImageInput`, returning a kind of image data that lists, keys and
loads its images), the batch preparer (:class:`transforms.BatchPreparer`), the
backbone sources (``skfinetune._backbones``) and the export input.
"""
