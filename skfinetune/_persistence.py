"""Saving and loading estimators without pickle: tensors in safetensors, the rest
in JSON.

One file, a valid safetensors file: the network's tensors, and in the header's
metadata a JSON document with the estimator's class, its parameters, every fitted
attribute (classes, targets' scale, history, preprocessing) and the versions it
was saved with.  Loading reads tensors and JSON only — no pickle, no import of a
name taken from the file: the class must be one of the package's estimators and
the network is rebuilt from its torchvision or timm name.  A SHA-256 digest of the
JSON and the tensor bytes detects a file changed or cut after saving.

JSON has no tuples, arrays or non-string keys, so values are written with a few
tagged forms (``{"__tuple__": [...]}``, ``{"__ndarray__": ..., "dtype": ...}``,
...); :func:`_encode` refuses anything else by naming the attribute.
"""

import hashlib
import json
import os
import tempfile
import warnings
from numbers import Integral, Real

import numpy as np
import sklearn
import torch
from joblib import Memory

from ._backbones import weights_from_json, weights_to_json

FORMAT = "skfinetune-safetensors"
FORMAT_VERSION = 1
_METADATA_KEY = "skfinetune"
_DIGEST_KEY = "sha256"


def _estimator_classes():
    from ._classifier import FineTuneClassifier
    from ._features import PretrainedFeatures
    from ._regressor import FineTuneRegressor

    return {
        cls.__name__: cls
        for cls in (FineTuneClassifier, FineTuneRegressor, PretrainedFeatures)
    }


class _Unsupported(TypeError):
    pass


# ------------------------------------------------------------------ JSON values
def _encode(value, name):
    """``value`` as JSON-ready data; an unsupported type raises ``_Unsupported``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return {"__npscalar__": value.item(), "dtype": value.dtype.str}
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, name) for v in value]}
    if isinstance(value, list):
        return [_encode(v, name) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, name) for k, v in value.items()}
        return {
            "__dict__": [[_encode(k, name), _encode(v, name)] for k, v in value.items()]
        }
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise _Unsupported(f"{name} (an array of dtype {value.dtype})")
        items = value.tolist() if value.dtype.kind != "O" else value.ravel().tolist()
        return {
            "__ndarray__": _encode(items, name),
            "dtype": "object" if value.dtype.kind == "O" else value.dtype.str,
            "shape": list(value.shape),
        }
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, np.random.RandomState):
        return {"__random_state__": _encode(value.get_state(), name)}
    if isinstance(value, Memory):
        return {"__memory__": None if value.location is None else str(value.location)}
    weights = weights_to_json(value)  # a torchvision weights enum member
    if weights is not None:
        return {"__weights__": weights}
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    raise _Unsupported(f"{name} ({text})")


def _decode(data):
    if isinstance(data, list):
        return [_decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tuple__" in data:
        return tuple(_decode(v) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_decode(k): _decode(v) for k, v in data["__dict__"]}
    if "__npscalar__" in data:
        return np.dtype(data["dtype"]).type(data["__npscalar__"])
    if "__ndarray__" in data:
        items = _decode(data["__ndarray__"])
        if data["dtype"] == "object":
            array = np.empty(len(items), dtype=object)
            array[:] = items
            return array.reshape(data["shape"])
        return np.array(items, dtype=np.dtype(data["dtype"])).reshape(data["shape"])
    if "__device__" in data:
        return torch.device(data["__device__"])
    if "__random_state__" in data:
        random_state = np.random.RandomState()
        random_state.set_state(_decode(data["__random_state__"]))
        return random_state
    if "__memory__" in data:
        return Memory(data["__memory__"], verbose=0)
    if "__weights__" in data:
        return weights_from_json(data["__weights__"])
    return {k: _decode(v) for k, v in data.items()}


# ----------------------------------------------------------------------- saving
def _digest(document, tensors):
    sha = hashlib.sha256(document.encode())
    for name in sorted(tensors):
        sha.update(name.encode())
        sha.update(tensors[name].reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


def save(estimator, path):
    """Save an estimator to one file without pickle (safetensors + JSON).

    The network's tensors are stored in safetensors format; the estimator's class,
    parameters, fitted attributes (classes, preprocessing, training history, ...)
    and the versions of skfinetune, torch, torchvision and scikit-learn are stored
    as JSON in the file's header.  :func:`load` rebuilds the estimator without
    running any code from the file.  Tensors are written from the CPU, so a model
    fitted on a GPU loads on a machine without one.

    Parameters
    ----------
    estimator : FineTuneClassifier, FineTuneRegressor or PretrainedFeatures
        Fitted or not.  Its backbone must be a torchvision or timm model name
        (timm models need timm to load); a custom ``nn.Module`` cannot be
        rebuilt from JSON (a ``TypeError`` says what to do).
    path : str or path-like
        File to write (``.safetensors`` is the usual suffix).  Written to a
        temporary file first and renamed, so an existing file is never left half
        written.

    Returns
    -------
    path : str
        The path written.

    See Also
    --------
    load : Read a file written by ``save``.
    joblib.dump : Pickle-based saving; loads any Python object, so only load files
        you trust.

    Examples
    --------
    >>> import numpy as np
    >>> from skfinetune import PretrainedFeatures, save, load
    >>> X = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    >>> features = PretrainedFeatures(
    ...     "squeezenet1_1", weights=None, image_size=32, random_state=0
    ... ).fit(X)
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "features.safetensors")
    >>> loaded = load(save(features, path))
    >>> np.allclose(loaded.transform(X), features.transform(X))
    True
    """
    from safetensors.torch import save_file

    classes = _estimator_classes()
    name = type(estimator).__name__
    if classes.get(name) is not type(estimator):
        raise TypeError(
            f"save() stores skfinetune's estimators ({', '.join(sorted(classes))}); "
            f"got {type(estimator).__module__}.{type(estimator).__qualname__}. Use "
            "joblib.dump for other objects (pickle: only load files you trust)."
        )
    description = estimator.__skfinetune_export__()
    try:
        description.check_saveable()
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None
    try:
        params = {
            key: _encode(value, f"parameter {key}")
            for key, value in description.params.items()
        }
        fitted = {
            key: _encode(value, f"fitted attribute {key}")
            for key, value in description.fitted.items()
        }
    except _Unsupported as exc:
        raise TypeError(
            f"save() cannot store {exc} as JSON: parameters must be plain values "
            "(numbers, strings, tuples, lists, dicts, arrays) — e.g. a named "
            "optimizer instead of a callable. joblib.dump stores anything (pickle: "
            "only load files you trust)."
        ) from None
    tensors = description.tensors()
    document = json.dumps(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "class": name,
            "params": params,
            "fitted": fitted,
            "versions": _versions(),
        },
        allow_nan=True,
    )
    metadata = {_METADATA_KEY: document, _DIGEST_KEY: _digest(document, tensors)}
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".skfinetune-", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp: 0600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    versions = {
        "skfinetune": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
    }
    for library in ("torchvision", "timm"):
        try:
            versions[library] = version(library)
        except PackageNotFoundError:
            pass
    return versions


def _library_versions():
    return ", ".join(
        f"{k} {v}" for k, v in _versions().items() if k in ("torchvision", "timm")
    )


# ---------------------------------------------------------------------- loading
def _read(path, device):
    """``(document, tensors)`` of a file, checked complete and unchanged."""
    from safetensors import SafetensorError, safe_open

    not_a_model = (
        f"{os.fspath(path)!r} is not a complete skfinetune model file (written by "
        "skfinetune.save)"
    )
    try:
        with safe_open(os.fspath(path), framework="pt", device=str(device)) as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{not_a_model}: it is truncated or corrupted ({exc})."
        ) from None
    document = metadata.get(_METADATA_KEY)
    if document is None:
        raise ValueError(f"{not_a_model}: its header has no skfinetune metadata.")
    cpu = {key: value.to("cpu") for key, value in tensors.items()}
    if metadata.get(_DIGEST_KEY) != _digest(document, cpu):
        raise ValueError(
            f"{not_a_model}: its content does not match the SHA-256 digest written "
            "when it was saved — the file was modified or damaged after saving."
        )
    try:
        document = json.loads(document)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{not_a_model}: invalid JSON metadata ({exc}).") from None
    return document, tensors


def _umask():
    """The process's umask (read by setting it, then setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path, *, device="auto"):
    """Load an estimator written by :func:`save`, without pickle.

    Parameters
    ----------
    path : str or path-like
        The file written by :func:`save`.
    device : str, default="auto"
        Where the network's tensors go: ``"auto"`` as for ``fit`` (the current
        CUDA GPU, else an Apple GPU, else the CPU, so that a model fitted on a
        GPU loads anywhere), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.
        The estimator's ``device`` parameter is kept as saved; with ``"auto"``
        (the default) ``predict`` runs where ``load`` put the network.

    Returns
    -------
    estimator : FineTuneClassifier, FineTuneRegressor or PretrainedFeatures
        The estimator as saved: same parameters, fitted attributes and
        predictions.

    Raises
    ------
    ValueError
        If the file is not a complete skfinetune model file: truncated, changed
        after saving (SHA-256 digest), or written by a newer format version.

    See Also
    --------
    save : Write an estimator to a file.

    Examples
    --------
    See :func:`save`.
    """
    from ._device import resolve_device

    device = resolve_device(device)
    document, tensors = _read(path, device)
    if document.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a skfinetune model file.")
    if document.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} was written by a newer skfinetune (format version "
            f"{document['format_version']}; this one reads up to {FORMAT_VERSION}): "
            "upgrade skfinetune to load it."
        )
    classes = _estimator_classes()
    name = document.get("class")
    if name not in classes:
        raise ValueError(
            f"{os.fspath(path)!r} names estimator class {name!r}; expected one of "
            f"{sorted(classes)}."
        )
    _warn_versions(document.get("versions", {}), path)
    cls = classes[name]
    try:
        return cls.__skfinetune_load__(
            _decode(document["params"]), _decode(document["fitted"]), tensors, device
        )
    except RuntimeError as exc:
        backbone = cls(**_decode(document["params"])).__skfinetune_export__().backbone
        raise ValueError(
            f"{os.fspath(path)!r}: its tensors do not fit the network "
            f"{backbone} builds with the installed libraries "
            f"({_library_versions()}): {str(exc).splitlines()[0]}"
        ) from None


def _warn_versions(saved, path):
    current = _versions()
    differ = [
        f"{lib} {saved[lib]} (now {current[lib]})"
        for lib in ("skfinetune", "torch", "torchvision", "timm")
        if lib in saved and saved[lib] != current[lib]
    ]
    if differ:
        warnings.warn(
            f"{os.fspath(path)!r} was saved with {', '.join(differ)}; predictions "
            "may differ slightly. Check them on a few known images.",
            UserWarning,
            stacklevel=3,
        )
