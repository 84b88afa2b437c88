"""Checks of fitted values read from a file (``skfinetune.load``).

Each ``check_*`` returns a check: a function of a value that returns why the
value is refused (a phrase that follows the field's name) or ``None``.  The
estimators declare theirs in ``_fitted_checks``; ``_state`` runs them before
anything is built.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch

#: The longest training history a file may hold (epochs, all fits together).
MAX_HISTORY = 100_000
#: The most classes, outputs or features a file may declare.
MAX_WIDTH = 10_000_000


def check_int(low=0, high=MAX_WIDTH):
    def check(value):
        if not isinstance(value, Integral) or isinstance(value, bool):
            return f"must be an integer, not {type(value).__name__}"
        if not low <= value <= high:
            return f"must be between {low} and {high}; got {value}"
        return None

    return check


def check_bool(value):
    if not isinstance(value, (bool, np.bool_)):
        return f"must be True or False, not {type(value).__name__}"
    return None


def check_float(low=-math.inf, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if not isinstance(value, Real) or isinstance(value, bool):
            return f"must be a number, not {type(value).__name__}"
        if not (math.isnan(value) or value >= low):
            return f"must be at least {low}; got {value}"
        return None

    return check


def check_array(ndim=1, kinds="biufUO", min_len=0):
    def check(value):
        if not isinstance(value, np.ndarray):
            return f"must be an array, not {type(value).__name__}"
        if value.ndim != ndim or value.dtype.kind not in kinds:
            return f"must be a {ndim}-D array; got shape {value.shape} {value.dtype}"
        if not min_len <= len(value) <= MAX_WIDTH:
            return f"must hold {min_len} to {MAX_WIDTH} values; got {len(value)}"
        return None

    return check


def check_history(value):
    if not isinstance(value, list) or len(value) > MAX_HISTORY:
        return f"must be a list of at most {MAX_HISTORY} epochs"
    for entry in value:
        if not isinstance(entry, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, (str, Real)))
            for k, v in entry.items()
        ):
            return "must hold one dict of names and numbers per epoch"
    return None


def check_device(value):
    if not isinstance(value, torch.device):
        return f"must be a device, not {type(value).__name__}"
    return None


def check_target_scale(value):
    if not (
        isinstance(value, tuple)
        and len(value) == 2
        and all(check_array(kinds="f", min_len=1)(v) is None for v in value)
        and len(value[0]) == len(value[1])
    ):
        return "must be (mean, scale), two 1-D float arrays of one length"
    return None


def anything(value):
    """Values the loader replaces or recomputes (the device, cache keys)."""
    return None
