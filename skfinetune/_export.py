"""The one contract between a fitted estimator and what leaves Python or the
estimator: persistence (``save``/``load``), ONNX, the command line and the
displays.

An estimator of the package implements three methods, in the style of
scikit-learn's ``__sklearn_tags__``, and those modules use nothing else of it
(besides its public parameters and fitted attributes):

``__skfinetune_export__()``
    An :class:`ExportDescription`: the class and backbone names, the parameters,
    the fitted state as plain values, the tensors, the input an exported graph
    takes, a network view of its own, the output function, the classes, and how
    the estimator reads ``X`` (for displays).
``__skfinetune_check__()``
    Validate the parameters as ``fit`` would, before any data is read (the
    command line checks its settings this way before training).
``__skfinetune_load__(params, fitted, tensors, device)`` (a class method)
    The estimator rebuilt from those parts (``load``).

Views never share mutable state with the estimator: ``network()`` returns a
module whose parameters are its own objects (sharing storage), so converting it
(``.to("cpu").float()``) leaves the estimator's network as it is.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExportInput:
    """What an exported graph does before the network, for images: uint8 NHWC
    images at ``store_size``, centre-cropped to ``crop``, normalised."""

    store_size: int
    crop: int
    mean: tuple
    std: tuple
    channels: int = 3
    #: How images are resized to ``store_size`` (their centre square, first).
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class TextExportInput:
    """What an exported graph takes for texts: token ids and an attention mask,
    ``int64`` of shape ``(batch, length)`` with ``length <= max_length``, made
    by the tokenizer (``tokenizer``, its JSON) outside the graph."""

    max_length: int
    pad_id: int
    tokenizer: str


@dataclass(frozen=True)
class ExportDescription:
    """An estimator as the export side sees it (see the module docstring).

    Callables close over the estimator; nothing here is one of its private
    attributes.
    """

    estimator: str
    backbone: str
    params: dict
    fitted: dict
    classes: list | None = None
    input: ExportInput | TextExportInput | None = None
    #: Why ``input`` is ``None`` for a fitted estimator (it cannot be exported).
    input_error: str | None = None
    network: object = None  # () -> an inference-mode view with its own parameters
    outputs: object = None  # (tensor) -> {name: tensor}, traced by ONNX
    tensors: object = None  # () -> {name: CPU tensor}
    read: object = None  # (X) -> the data the estimator reads from X
    check_saveable: object = field(default=None)  # () -> None or TypeError
