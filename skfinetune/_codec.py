"""Fitted values as JSON and back, for ``save``/``load``: a few tagged forms
(``{"__tuple__": [...]}``, ``{"__ndarray__": ..., "dtype": ..., "shape": ...}``,
...) for what JSON lacks.

Decoding is for files from anyone: it builds plain values only, and refuses
what would cost more than the text it comes from — nesting deeper than
``MAX_DEPTH``, arrays of a dtype other than numbers, bytes or short strings, an
array whose declared shape does not hold its items.  A ``memory`` folder is
never taken from a file (its tag decodes to ``None``).  Errors are
``ValueError``s.
"""

from numbers import Integral, Real

import numpy as np
import torch
from joblib import Memory

from ._backbones import weights_from_json, weights_to_json

#: How deep a value may nest (a tuple in a dict in a list ...).
MAX_DEPTH = 32
#: The widest string or bytes element of an array, in bytes.
MAX_ITEMSIZE = 4096


class Unsupported(TypeError):
    """A value ``encode`` cannot write as JSON."""


def encode(value, name):
    """``value`` as JSON-ready data; an unsupported type raises ``Unsupported``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return {"__npscalar__": value.item(), "dtype": value.dtype.str}
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, name) for v in value]}
    if isinstance(value, list):
        return [encode(v, name) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v, name) for k, v in value.items()}
        return {
            "__dict__": [[encode(k, name), encode(v, name)] for k, v in value.items()]
        }
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise Unsupported(f"{name} (an array of dtype {value.dtype})")
        items = value.tolist() if value.dtype.kind != "O" else value.ravel().tolist()
        return {
            "__ndarray__": encode(items, name),
            "dtype": "object" if value.dtype.kind == "O" else value.dtype.str,
            "shape": list(value.shape),
        }
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, np.random.RandomState):
        return {"__random_state__": encode(value.get_state(), name)}
    if isinstance(value, Memory):
        return {"__memory__": None if value.location is None else str(value.location)}
    weights = weights_to_json(value)  # a torchvision weights enum member
    if weights is not None:
        return {"__weights__": weights}
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    raise Unsupported(f"{name} ({text})")


def decode(data, name, depth=0):
    """Plain values from JSON ``data`` (``name``: the field, for messages)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{name} is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(data, list):
        return [decode(v, name, depth + 1) for v in data]
    if not isinstance(data, dict):
        return data
    try:
        return _decode_tagged(data, name, depth)
    except (KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise ValueError(f"{name} holds a malformed value ({exc!r}).") from None


def _decode_tagged(data, name, depth):
    inner = depth + 1
    if "__tuple__" in data:
        return tuple(decode(v, name, inner) for v in _list(data["__tuple__"], name))
    if "__dict__" in data:
        pairs = _list(data["__dict__"], name)
        return {
            _hashable(decode(k, name, inner), name): decode(v, name, inner)
            for k, v in pairs
        }
    if "__npscalar__" in data:
        return _dtype(data["dtype"], name).type(data["__npscalar__"])
    if "__ndarray__" in data:
        return _array(data, name, inner)
    if "__device__" in data:
        try:
            return torch.device(str(data["__device__"]))
        except (RuntimeError, ValueError):
            raise ValueError(f"{name} names no device torch knows.") from None
    if "__random_state__" in data:
        random_state = np.random.RandomState()
        try:
            random_state.set_state(decode(data["__random_state__"], name, inner))
        except ValueError:
            raise ValueError(f"{name} is not a random state.") from None
        return random_state
    if "__memory__" in data:
        return None  # a cache folder is never taken from a file
    if "__weights__" in data:
        try:
            return weights_from_json(str(data["__weights__"]))
        except (ValueError, KeyError, AttributeError):
            raise ValueError(f"{name} names no torchvision weights.") from None
    return {str(k): decode(v, name, inner) for k, v in data.items()}


def _list(value, name):
    if not isinstance(value, list):
        raise ValueError(f"{name} holds a malformed value (not a list).")
    return value


def _hashable(key, name):
    try:
        hash(key)
    except TypeError:
        raise ValueError(f"{name} holds a dict with an unhashable key.") from None
    return key


def _dtype(text, name):
    if text == "object":
        return np.dtype(object)
    try:
        dtype = np.dtype(str(text))
    except TypeError:
        raise ValueError(f"{name} has an unknown dtype {text!r}.") from None
    if dtype.kind not in "biufSU" or (
        dtype.kind in "SU" and dtype.itemsize > MAX_ITEMSIZE
    ):
        raise ValueError(
            f"{name} has dtype {dtype.str}: numbers, or strings of at most "
            f"{MAX_ITEMSIZE} bytes, are expected."
        )
    return dtype


def _array(data, name, depth):
    dtype = _dtype(data["dtype"], name)
    items = decode(_list(data["__ndarray__"], name), name, depth)
    shape = [int(s) for s in _list(data["shape"], name)]
    if any(s < 0 for s in shape):
        raise ValueError(f"{name} declares a negative shape {shape}.")
    if dtype.kind == "O":
        array = np.empty(len(items), dtype=object)
        array[:] = items
    else:
        array = np.array(items, dtype=dtype)
    if int(np.prod(shape)) != array.size:
        raise ValueError(
            f"{name} declares shape {shape} but holds {array.size} values."
        )
    return array.reshape(shape)
