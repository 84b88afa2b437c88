"""Process-level settings scoped to a ``fit``/``predict``: device, precision, heap.

``retained_heap`` is the one place where skfinetune touches the process: on Linux
with glibc, while the estimator computes on the CPU, freed memory stays in the
process (``mallopt(M_MMAP_MAX, 0)`` and a high ``M_TRIM_THRESHOLD``) instead of being
unmapped after every step and faulted in again.  On leaving the outermost scope the
glibc defaults are set back and ``malloc_trim(0)`` returns the memory to the system.
It is switched by the estimator's ``retain_memory`` parameter.  glibc offers no way
to switch its dynamic mmap threshold back on once ``mallopt`` has been called, so
that one effect outlasts the scope (documented in the user guide, with its measured
cost: none visible).
"""

import contextlib
import ctypes
import ctypes.util
import sys
import threading

import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_MMAP_MAX = 65536
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_RETAINED_TRIM_THRESHOLD = 1 << 30

_lock = threading.Lock()
_depth = 0
_libc = None


def _glibc():
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                libc.mallopt  # noqa: B018
                libc.malloc_trim  # noqa: B018
                libc.gnu_get_libc_version  # noqa: B018  (glibc only)
                _libc = libc
            except (OSError, AttributeError):
                _libc = False
    return _libc or None


@contextlib.contextmanager
def retained_heap(enabled=True):
    """Keep freed heap memory in the process for the duration of the block."""
    global _depth
    libc = _glibc() if enabled else None
    if libc is None:
        yield
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _RETAINED_TRIM_THRESHOLD)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)


def resolve_device(device):
    """``"auto"`` -> CUDA when available, else CPU; a missing GPU is a ValueError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a device torch knows ('auto', 'cpu', 'cuda', "
            "'cuda:0', ...)."
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but no CUDA GPU is available; use device='auto' "
                "or 'cpu'."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but only {torch.cuda.device_count()} GPU(s) exist."
            )
    elif resolved.type != "cpu":
        raise ValueError(f"device={device!r} is not supported; use 'cpu' or 'cuda'.")
    return resolved


def autocast_dtype(precision, device):
    """The autocast dtype for ``precision`` on ``device``, or ``None`` (float32)."""
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    # "auto": bf16 on GPUs that support it, float32 on the CPU
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
