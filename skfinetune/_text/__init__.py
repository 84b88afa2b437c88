"""The text family: Hugging Face ``transformers`` encoders (``encoders``), ``X``
read and tokenised once (``inputs``), and :data:`family.TEXTS`, what texts give
the engine through the ``skfinetune._family.Family`` interface.

Nothing here is imported by the image family or the engine: the text estimators
name :data:`family.TEXTS` as their family.
"""
