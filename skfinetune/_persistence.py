"""Saving and loading estimators without pickle: tensors in safetensors, the rest
in JSON.

One file, a valid safetensors file: the network's tensors, and in the header's
metadata a JSON document with the estimator's class, its parameters, every fitted
attribute (classes, targets' scale, history, preprocessing) and the versions it
was saved with.  Loading reads tensors and JSON only — no pickle, no import of a
name taken from the file: the class must be one of the package's estimators and
the network is rebuilt from its torchvision or timm name.  A SHA-256 digest of the
JSON and the tensor bytes detects a file changed or cut after saving (damage,
not tampering: it has no key).

Values are written as JSON by ``_codec``; loading validates everything the file
says through the estimator's ``__skfinetune_load__`` (``_state``) before building
anything, and never takes a ``memory`` folder from the file.
"""

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import warnings

import sklearn
import torch

from ._codec import Unsupported, decode, encode

FORMAT = "skfinetune-safetensors"
FORMAT_VERSION = 1
_METADATA_KEY = "skfinetune"
_DIGEST_KEY = "sha256"


def _estimator_classes():
    from ._classifier import FineTuneClassifier
    from ._features import PretrainedFeatures
    from ._regressor import FineTuneRegressor
    from ._text_classifier import FineTuneTextClassifier
    from ._text_features import PretrainedTextFeatures
    from ._text_regressor import FineTuneTextRegressor

    return {
        cls.__name__: cls
        for cls in (
            FineTuneClassifier,
            FineTuneRegressor,
            PretrainedFeatures,
            FineTuneTextClassifier,
            FineTuneTextRegressor,
            PretrainedTextFeatures,
        )
    }


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
            key: encode(value, f"parameter {key}")
            for key, value in description.params.items()
        }
        fitted = {
            key: encode(value, f"fitted attribute {key}")
            for key, value in description.fitted.items()
        }
    except Unsupported as exc:
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
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"Cannot save to {path!r}: folder {directory!r} does not exist; create "
            "it first (os.makedirs)."
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to {path!r}: it is a folder.")
    with replacing(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path


@contextlib.contextmanager
def replacing(path):
    """A temporary path beside ``path`` to write to, renamed over ``path`` only
    when the block succeeds (an existing ``path`` is never half written; the
    file gets the mode ``open`` would give it under the umask).  Leftovers of
    writes killed before their rename are removed first."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    _remove_leftovers(directory)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix=".tmp"
    )
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


#: Temporary files of ``replacing``: ``.skfinetune-<pid>-<random>.tmp``.
_TMP_PREFIX = ".skfinetune-"


def _remove_leftovers(directory):
    """Remove the temporary files that saves killed before their rename left
    in ``directory`` (those of processes that no longer run)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(_TMP_PREFIX) and name.endswith(".tmp")):
            continue
        pid = name[len(_TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass


def _running(pid):
    if pid == os.getpid() or os.name != "posix":  # elsewhere: no safe probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's: leave it
    return True


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
    except RecursionError:
        raise ValueError(f"{not_a_model}: its JSON is nested too deep.") from None
    return document, tensors


def _umask():
    """The process's umask (read by setting it, then setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path, *, device="auto", memory=None):
    """Load an estimator written by :func:`save`, without pickle.

    Only the file is read, and only as tensors and JSON: no pickle, no import
    of a name taken from the file, no network, nothing written.  Every
    parameter and fitted value is checked (the constraints ``fit`` checks, and
    bounds that keep what is built proportional to the tensors in the file)
    before anything is built; a hostile value is a ``ValueError`` or
    ``TypeError`` naming the field.  The user guide's "Loading files you did not
    make" says what this does and does not guarantee.

    Parameters
    ----------
    path : str or path-like
        The file written by :func:`save` (a regular file).
    device : str, default="auto"
        Where the network's tensors go: ``"auto"`` as for ``fit`` (the current
        CUDA GPU, else an Apple GPU, else the CPU, so that a model fitted on a
        GPU loads anywhere), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.
        The estimator's ``device`` parameter is kept as saved; with ``"auto"``
        (the default) ``predict`` runs where ``load`` put the network.
    memory : str, joblib.Memory or None, default=None
        The loaded estimator's ``memory`` (its feature cache).  The ``memory``
        saved in the file is never used: a cache folder is the caller's
        choice.

    Returns
    -------
    estimator : FineTuneClassifier, FineTuneRegressor or PretrainedFeatures
        The estimator as saved: same parameters (``memory`` as given here),
        fitted attributes and predictions.

    Raises
    ------
    ValueError
        If the file is not a complete skfinetune model file (truncated, changed
        after saving — SHA-256 digest —, written by a newer format version, not
        a regular file), or holds a value the estimator does not accept.

    See Also
    --------
    save : Write an estimator to a file.

    Examples
    --------
    See :func:`save`.
    """
    from ._device import resolve_device

    device = resolve_device(device)
    _check_regular_file(path)
    document, tensors = _read(path, device)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a skfinetune model file.")
    version = document.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} was written by a newer skfinetune (format version "
            f"{version!r}; this one reads up to {FORMAT_VERSION}): upgrade "
            "skfinetune to load it."
        )
    classes = _estimator_classes()
    name = document.get("class")
    if not isinstance(name, str) or name not in classes:
        raise ValueError(
            f"{os.fspath(path)!r} names estimator class {name!r}; expected one of "
            f"{sorted(classes)}."
        )
    versions = document.get("versions", {})
    _warn_versions(versions if isinstance(versions, dict) else {}, path)
    cls = classes[name]
    params, fitted = (_section(document, key, decode) for key in ("params", "fitted"))
    params["memory"] = memory
    try:
        return cls.__skfinetune_load__(params, fitted, tensors, device)
    except RuntimeError as exc:
        raise ValueError(
            f"{os.fspath(path)!r}: its tensors do not fit the network "
            f"{params.get('backbone')!r} builds with the installed libraries "
            f"({_library_versions()}): {str(exc).splitlines()[0]}"
        ) from None


def _section(document, key, decode):
    """One section of the document (``params``, ``fitted``), decoded."""
    data = document.get(key)
    if not isinstance(data, dict):
        raise ValueError(f"the file's {key} are not a JSON object.")
    return {
        str(k): decode(v, f"{key[:-1] if key == 'params' else key} {k}")
        for k, v in data.items()
    }


def _check_regular_file(path):
    """A regular file, or a ``ValueError`` at once (a FIFO or a device would
    block or never end); a missing file is ``FileNotFoundError``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{os.fspath(path)!r} does not exist.") from None
    if not stat.S_ISREG(mode):
        raise ValueError(
            f"{os.fspath(path)!r} is not a regular file (a folder, a pipe or a "
            "device); pass the model file written by skfinetune.save."
        )


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
