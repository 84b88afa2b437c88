"""ONNX export: an estimator's whole inference as one graph.

The graph takes what a camera or an image library gives — a batch of RGB images,
``uint8``, ``(batch, height, width, channels)`` at the size the estimator stores
images (the weights' resize size, declared in the graph) — and does what
``predict`` does to such an array: scale to [0, 1], centre crop to
``image_size_``, normalise, the network (BatchNorm folded into its convolutions),
then the estimator's output.  ``pip install onnx onnxruntime`` (onnxruntime
to run it).
"""

import inspect
import json
import os
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._export import TextExportInput

#: ONNX operator set of the exported graphs (onnxruntime 1.16 and newer run it).
OPSET = 17

#: The TorchScript-based exporter, named where torch has a choice (2.5 and newer).
_TORCHSCRIPT_EXPORTER = (
    {"dynamo": False}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters
    else {}
)


class _Exported(nn.Module):
    """uint8 NHWC images -> the estimator's outputs, from its export description
    (``skfinetune._export``)."""

    def __init__(self, description):
        super().__init__()
        spec = description.input
        self.outputs = description.outputs
        self.size, self.channels = spec.store_size, spec.channels
        # the centre crop of predict (transforms.center_crop) at the stored size
        self.crop = spec.crop
        self.offset = int(round((spec.store_size - spec.crop) / 2.0))
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        # a view with parameters of its own: converting it leaves the estimator's
        # network where it is, at its precision
        self.net = description.network().to("cpu").float()

    def forward(self, images):
        x = images.permute(0, 3, 1, 2).float() / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        top, crop = self.offset, self.crop
        x = x[:, :, top : top + crop, top : top + crop]
        x = (x - self.mean) / self.std
        return tuple(self.outputs(self.net(x).float()).values())


def _image_graph(description):
    """``(module, {input: example}, output names, metadata)`` for images."""
    module = _Exported(description).eval()
    size, channels = module.size, module.channels
    example = torch.zeros(2, size, size, channels, dtype=torch.uint8)
    with torch.inference_mode():
        out = module.net(torch.zeros(1, 3, module.crop, module.crop))
        names = list(description.outputs(out.float()))
    metadata = {
        "axes": {"images": ["batch"]},
        "input_layout": "NHWC",
        "input_dtype": "uint8",
        "input_shape": json.dumps([size, size, channels]),
        # what onnx_input does: each image's centre square, resized
        "resize": "center square, then resize (antialiased)",
        "interpolation": description.input.interpolation,
    }
    return module, {"images": example}, names, metadata


class _ExportedText(nn.Module):
    """Token ids and attention mask -> the estimator's outputs."""

    def __init__(self, description):
        super().__init__()
        self.outputs = description.outputs
        self.net = description.network().to("cpu").float()

    def forward(self, input_ids, attention_mask):
        x = torch.stack([input_ids, attention_mask], 1)
        return tuple(self.outputs(self.net(x).float()).values())


def _text_graph(description):
    """``(module, {input: example}, output names, metadata)`` for texts: the
    tokenizer stays outside the graph, in the metadata."""
    spec = description.input
    module = _ExportedText(description).eval()
    length = min(8, spec.max_length)
    ids = torch.arange(2 * length, dtype=torch.long).view(2, length) % 5 + 1
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, length // 2 :] = 0  # a padded row: the graph keeps the masking
    ids[1, length // 2 :] = spec.pad_id
    with torch.inference_mode():
        names = list(description.outputs(module.net(torch.stack([ids, mask], 1))))
    metadata = {
        "axes": {n: ["batch", "length"] for n in ("input_ids", "attention_mask")},
        "input_kind": "text",
        "input_dtype": "int64",
        "max_length": str(spec.max_length),
        "pad_id": str(spec.pad_id),
        "tokenizer": spec.tokenizer,
    }
    return module, {"input_ids": ids, "attention_mask": mask}, names, metadata


def to_onnx(estimator, path, *, opset=OPSET):
    """Export a fitted estimator's inference to an ONNX file.

    The graph's input ``"images"`` is a batch of images as ``uint8`` of shape
    ``(batch, size, size, channels)`` (NHWC; ``size`` is
    ``input_shape`` in the file's metadata, the size the estimator stores images
    at before its centre crop, e.g. 256 for a 224-pixel network; ``channels`` is
    3, or 1 for an estimator fitted on grayscale arrays); the batch dimension is
    dynamic.  :func:`onnx_input` prepares it from files, PIL images or arrays
    exactly as ``predict`` reads them: each image's centre square, resized to
    ``size`` (antialiased, with the ``interpolation`` in the metadata) — in that
    order; resizing the shorter side first and cropping after gives other pixels.
    Running it on such images gives what the estimator gives for the same
    images:

    - :class:`FineTuneClassifier`: ``"probabilities"`` (``predict_proba``) and
      ``"label_index"``, the index into ``classes_`` of the predicted class
      (multi-label: ``"labels"``, the 0/1 indicator matrix);
    - :class:`FineTuneRegressor`: ``"predictions"``, in the units of ``y``
      (always 2-D: one column per target);
    - :class:`PretrainedFeatures`: ``"features"`` (``transform``).

    The file's metadata holds ``classes_`` (JSON), the input layout and size, the
    estimator's class and the skfinetune version.  ``test_time_flip`` is not
    exported (the graph predicts on each image once).

    Parameters
    ----------
    estimator : FineTuneClassifier, FineTuneRegressor or PretrainedFeatures
        Fitted on images (not on 2-D rows of pixels).
    path : str or path-like
        The ``.onnx`` file to write.
    opset : int, default=17
        ONNX operator set version.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    ValueError
        If the estimator was fitted on 2-D rows, or its network cannot be
        exported (the message says which operation failed).
    ImportError
        If the ``onnx`` package is missing.

    See Also
    --------
    onnx_input : The graph's input for files, PIL images or arrays.
    save : Keep the estimator itself (for Python), without pickle.

    Examples
    --------
    >>> import json, os, tempfile
    >>> import numpy as np, onnx, onnxruntime
    >>> from skfinetune import PretrainedFeatures, onnx_input, to_onnx
    >>> X = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    >>> features = PretrainedFeatures("squeezenet1_1", weights=None, image_size=32)
    >>> path = to_onnx(features.fit(X), os.path.join(tempfile.mkdtemp(), "f.onnx"))
    >>> metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    >>> json.loads(metadata["input_shape"])  # images of 37 px, cropped to 32
    [37, 37, 3]
    >>> session = onnxruntime.InferenceSession(path)
    >>> out = session.run(None, {"images": onnx_input(X, path)})[0]
    >>> out.shape
    (2, 512)
    >>> bool(np.allclose(out, features.transform(X), atol=1e-4))
    True
    """
    try:
        import onnx
    except ImportError:
        raise ImportError("to_onnx needs onnx: pip install onnx onnxruntime.") from None
    from . import __version__

    check_is_fitted(estimator)
    description = estimator.__skfinetune_export__()
    if description.input is None:
        raise ValueError(description.input_error)
    if isinstance(description.input, TextExportInput):
        module, inputs, names, input_metadata = _text_graph(description)
    else:
        module, inputs, names, input_metadata = _image_graph(description)
    path = os.fspath(path)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                tuple(inputs.values()),
                path,
                input_names=list(inputs),
                output_names=names,
                dynamic_axes={
                    **{n: {0: "batch"} for n in names},
                    **{
                        n: dict(enumerate(axes))
                        for n, axes in input_metadata.pop("axes").items()
                    },
                },
                opset_version=opset,
                **_TORCHSCRIPT_EXPORTER,
            )
    except Exception as exc:
        raise ValueError(
            f"The network of backbone {description.backbone} cannot be "
            f"exported to ONNX (opset {opset}): "
            f"{str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    model = onnx.load(path)
    metadata = {
        "skfinetune_version": __version__,
        "estimator": description.estimator,
        **input_metadata,
        "outputs": json.dumps(names),
    }
    if description.classes is not None:
        metadata["classes"] = json.dumps(description.classes)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)
    return path


def onnx_input(images, path):
    """The ``"images"`` input of an exported model for ``images``.

    Each image's centre square, resized to the size the graph takes
    (``input_shape`` in the file's metadata) with the estimator's interpolation,
    antialiased — what ``predict`` does to the same images, so that the graph
    gives ``predict_proba``'s probabilities (to float rounding).  Float arrays
    in [0, 1] are rounded to ``uint8``, the graph's input type.

    Parameters
    ----------
    images : sequence of str, path-like or PIL images, or array-like
        Image files, PIL images, or an array ``(n, height, width[, channels])``
        of images, as ``predict`` takes them.
    path : str or path-like
        The ``.onnx`` file written by :func:`to_onnx` (its metadata gives the
        size, the channels and the interpolation).

    Returns
    -------
    batch : ndarray of shape (n, size, size, channels), dtype=uint8
        The graph's ``"images"`` input.

    See Also
    --------
    to_onnx : Export a fitted estimator.

    Examples
    --------
    See :func:`to_onnx`.
    """
    from ._vision.inputs import _column_of_paths, image_data

    metadata = _read_metadata(path)
    if metadata.get("input_kind") == "text":
        return _text_input(images, metadata)
    size, _, channels = json.loads(metadata["input_shape"])
    interpolation = metadata.get("interpolation", "bilinear")
    data = image_data(_column_of_paths(images), size, interpolation)
    batch = data.load(np.arange(len(data)))
    if batch.dtype != torch.uint8:
        batch = batch.mul(255).round_().clamp_(0, 255).to(torch.uint8)
    if batch.shape[1] != channels:
        if channels != 3 or batch.shape[1] != 1:
            raise ValueError(
                f"{os.fspath(path)!r} takes images of {channels} channel(s); got "
                f"{batch.shape[1]}."
            )
        batch = batch.expand(-1, 3, -1, -1)
    return batch.permute(0, 2, 3, 1).contiguous().numpy()


def _read_metadata(path):
    """The metadata of an ONNX file: with onnx if installed, else onnxruntime."""
    try:
        import onnx
    except ImportError:
        try:
            import onnxruntime
        except ImportError:
            raise ImportError(
                "onnx_input needs onnx or onnxruntime: pip install onnxruntime."
            ) from None
        session = onnxruntime.InferenceSession(
            os.fspath(path), providers=["CPUExecutionProvider"]
        )
        return dict(session.get_modelmeta().custom_metadata_map)
    model = onnx.load(os.fspath(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def _text_input(texts, metadata):
    """``{"input_ids", "attention_mask"}`` of ``texts``, tokenised by the
    tokenizer in the file's metadata as ``predict`` tokenises them."""
    from tokenizers import Tokenizer

    from ._text.inputs import TextInput, text_column

    reader = TextInput(
        Tokenizer.from_str(metadata["tokenizer"]),
        int(metadata["max_length"]),
        int(metadata["pad_id"]),
        config=None,
        pooling=None,
    )
    tokens = reader.tokenize(text_column(texts)).tokens
    return {
        "input_ids": tokens[:, 0].numpy(),
        "attention_mask": tokens[:, 1].numpy(),
    }
