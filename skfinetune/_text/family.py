"""The text family: what texts give the engine (``skfinetune._family``).

Networks are Hugging Face ``transformers`` encoders (``encoders``); ``X`` is
read by :class:`~.inputs.TextInput` into tokenised :class:`~.inputs.TextData`;
batches are cut to their longest text on the device by
:class:`~.inputs.TextPreparer`; exported graphs take token ids and an attention
mask (the tokenizer stays outside the graph).
"""

from numbers import Integral

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._export import TextExportInput
from .._family import Family
from .._validation import check_int
from .encoders import POOLINGS, TransformersBackbone
from .inputs import TextInput, TextPreparer

#: Bounds on a saved encoder configuration (what a file may ask to build).
_CONFIG_BOUNDS = {
    "num_hidden_layers": 1_000,
    "hidden_size": 65_536,
    "intermediate_size": 1_048_576,
    "num_attention_heads": 4_096,
    "vocab_size": 10_000_000,
    "max_position_embeddings": 1_048_576,
}


class TextFamily(Family):
    """Texts: sequences of ``str``, a pandas Series or a one-column DataFrame."""

    name = "texts"
    size_parameter = "max_length"
    size_attribute = "max_length_"
    size_check = staticmethod(check_int(2, 1_048_576))
    strings = True
    units = ("texts", "texts")
    parameter_constraints = {
        "tokenizer": "no_validation",  # None, a name, or an object: the source's
        "pooling": [StrOptions({"auto", *POOLINGS})],
        "max_length": [Interval(Integral, 2, None, closed="left"), None],
    }

    def backbone(self, estimator):
        return TransformersBackbone(
            estimator.backbone,
            estimator.weights,
            estimator.tokenizer,
            estimator.pooling,
        )

    def loaded_backbone(self, estimator, reader):
        """The encoder of a saved model: built from the configuration the file
        holds, never from the folder or hub name its ``backbone`` says."""
        return TransformersBackbone(
            estimator.backbone, None, pooling=reader.pooling, config=reader.config
        )

    def input_size(self, estimator, preprocessing):
        limit = preprocessing.model_max_length
        if estimator.max_length is None:
            return limit
        if estimator.max_length > limit:
            raise ValueError(
                f"max_length={estimator.max_length} is longer than backbone "
                f"{estimator.backbone!r} reads ({limit} tokens); use at most "
                f"{limit}, or None for that limit."
            )
        return estimator.max_length

    def new_input(self, estimator, preprocessing):
        return TextInput(
            preprocessing.tokenizer,
            self.input_size(estimator, preprocessing),
            preprocessing.pad_id,
            preprocessing.config,
            preprocessing.pooling,
        )

    def input_from_dict(self, values, size=None):
        reason = _input_problem(values, size)
        if reason:
            raise ValueError(f"The file's fitted attribute '_input' {reason}.")
        try:
            return TextInput.from_dict(values)
        except Exception as exc:  # the tokenizer's own parser: any error
            first = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise ValueError(
                "The file's fitted attribute '_input' holds a tokenizer that "
                f"tokenizers cannot read: {first}"
            ) from None

    def check_untrusted(self, estimator):
        """A file names its encoder by a string only (never read by ``load``:
        the encoder is rebuilt from the configuration and tensors in the file),
        and weights ``"DEFAULT"`` or ``None``."""
        if not isinstance(estimator.backbone, str):
            raise ValueError(
                f"The file's parameter backbone={estimator.backbone!r} is not a string."
            )
        if estimator.tokenizer is not None and not isinstance(estimator.tokenizer, str):
            raise ValueError("The file's parameter tokenizer is not a string.")
        if estimator.weights not in (None, "DEFAULT"):
            raise ValueError(
                f"The file's parameter weights={estimator.weights!r} is neither "
                "'DEFAULT' nor None."
            )

    def example_input(self, size, device):
        x = torch.zeros(1, 2, min(size, 8), dtype=torch.long, device=device)
        x[:, 1] = 1
        return x

    def check_augmentation(self, estimator):
        """Texts are not augmented (no parameter)."""

    def augmentation(self, estimator, data):
        return None

    def flip_at_predict(self, estimator, data):
        return False

    def train_batchnorm(self, estimator):
        return False

    def preparer(self, reader, size, device, augmentation=None):
        return TextPreparer(device)

    def export_input(self, reader, size):
        return TextExportInput(
            max_length=reader.max_length,
            pad_id=reader.pad_id,
            tokenizer=reader.tokenizer.to_str(),
        )


def _input_problem(values, size):
    """Why ``values`` cannot be a ``TextInput`` read from a file, or ``None``."""
    keys = {"tokenizer", "max_length", "pad_id", "config", "pooling"}
    if not isinstance(values, dict) or set(values) != keys:
        return f"must be a dict with keys {sorted(keys)}"
    if not isinstance(values["tokenizer"], str):
        return "must hold the tokenizer as JSON text"
    length = values["max_length"]
    if not _int(length, 2, 1_048_576) or (size is not None and length != size):
        return f"has max_length={length!r}, not max_length_={size!r}"
    if not _int(values["pad_id"], 0, 10_000_000):
        return "must have a non-negative integer pad_id"
    if values["pooling"] not in POOLINGS:
        return f"has pooling {values['pooling']!r}, not one of {list(POOLINGS)}"
    config = values["config"]
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        return "must hold the encoder's configuration with its model_type"
    for key, high in _CONFIG_BOUNDS.items():
        if key in config and not _int(config[key], 1, high):
            return f"has an encoder configuration with {key}={config[key]!r}"
    return None


def _int(value, low, high):
    return check_int(low, high)(value) is None


#: The one instance the text estimators share.
TEXTS = TextFamily()
