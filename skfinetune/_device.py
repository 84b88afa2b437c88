"""The device in one object: where a fit or a prediction computes, at which
precision, and what it holds while it does.

:class:`Compute` is resolved once per call from the estimator's ``device`` and
``precision`` parameters and carries everything the engine decides about them:
the resolved device (a GPU with its index), the autocast dtype actually used
(which the feature cache keys by: the precision *used*, not the one asked for),
the head's dtype, and the scopes a call holds (CPU threads and heap from
``_runtime``, cuDNN's algorithm search, the random number generators forked for
the device).  Nothing else in the package reads ``device`` or ``precision``.
"""

import contextlib
import threading
from dataclasses import dataclass

import torch

from ._runtime import cpu_threads, retained_heap

#: What torch raises when a device runs out of memory (``torch.OutOfMemoryError``
#: from torch 2.5; the same class under ``torch.cuda`` before).
OutOfMemoryError = getattr(torch, "OutOfMemoryError", None) or getattr(
    torch.cuda, "OutOfMemoryError", RuntimeError
)

#: What cuDNN and cuBLAS say when they cannot allocate their workspace (torch
#: passes these on as ``RuntimeError``).
_ALLOCATION_FAILURES = ("out of memory", "ALLOC_FAILED", "CUBLAS_STATUS_ALLOC")


def is_out_of_memory(exc):
    """Whether ``exc`` reports a device out of memory, under whichever name."""
    if isinstance(exc, OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(
        text in str(exc) for text in _ALLOCATION_FAILURES
    )


def mps_available():
    """Whether an Apple GPU (Metal Performance Shaders) is available."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def best_device():
    """What ``"auto"`` means, the same for ``fit``, ``predict``, a loaded model
    and the command line: a CUDA GPU (the current one) if there is one, else an
    Apple GPU, else the CPU."""
    if torch.cuda.is_available():
        return "cuda"
    if mps_available():
        return "mps"
    return "cpu"


def resolve_device(device):
    """``"auto"`` -> :func:`best_device`; a device this machine lacks is a
    ValueError that names the fix.

    A GPU comes back with its index (``"cuda"`` -> ``cuda:0``, the current
    device), so that it compares equal to the device of the tensors placed on it.
    """
    if device == "auto":
        device = best_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a device torch knows ('auto', 'cpu', 'cuda', "
            "'cuda:0', 'mps', ...)."
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but no CUDA GPU is available; use device='auto' "
                "or 'cpu'."
            )
        if resolved.index is None:
            resolved = torch.device("cuda", torch.cuda.current_device())
        if resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but only {torch.cuda.device_count()} GPU(s) "
                "exist; use device='auto' (the current GPU) or 'cuda:0'."
            )
    elif resolved.type == "mps":
        if not mps_available():
            raise ValueError(
                f"device={device!r} but no Apple GPU (MPS) is available; use "
                "device='auto' or 'cpu'."
            )
        resolved = torch.device("mps")
    elif resolved.type != "cpu":
        raise ValueError(
            f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'."
        )
    return resolved


def native_bfloat16(device):
    """Whether ``device`` computes bfloat16 natively: the CPU, or a GPU of compute
    capability 8.0 or higher (Ampere and later).  ``torch.cuda.is_bf16_supported``
    also counts emulation on older GPUs (where cuDNN has no bfloat16
    convolutions) and reads the current device rather than ``device``."""
    if device.type != "cuda":
        return True
    return torch.cuda.get_device_capability(device) >= (8, 0)


def autocast_dtype(precision, device):
    """The autocast dtype for ``precision`` on ``device``, or ``None`` (float32).

    ``"auto"``: bfloat16 on CUDA GPUs that compute it natively, float32
    elsewhere (the CPU, Apple GPUs, and older CUDA GPUs, where float16 would need
    loss scaling).  ``"bfloat16"`` on a GPU without it is a ValueError naming the
    alternatives.
    """
    if precision == "float32":
        return None
    if device.type == "mps":  # float32 only: what every Apple GPU computes
        if precision == "bfloat16":
            raise ValueError(
                "precision='bfloat16' is not supported on Apple GPUs (MPS); use "
                "precision='auto' or 'float32' (both compute in float32 there)."
            )
        return None
    if precision == "bfloat16":
        if not native_bfloat16(device):
            major, minor = torch.cuda.get_device_capability(device)
            raise ValueError(
                f"precision='bfloat16' but {device} (compute capability "
                f"{major}.{minor}) has no native bfloat16; use precision='auto' or "
                "'float32'."
            )
        return torch.bfloat16
    if device.type == "cuda" and native_bfloat16(device):
        return torch.bfloat16
    return None


def autocast(device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass(frozen=True)
class Compute:
    """Where and how one call computes (see the module docstring).

    Parameters
    ----------
    device : torch.device
        Resolved: ``cpu``, ``cuda:N`` or ``mps``.
    amp_dtype : torch.dtype or None
        The autocast dtype used for the network, ``None`` for float32.
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None

    @classmethod
    def resolve(cls, device, precision):
        """From the estimator's parameters; a device this machine lacks, or a
        precision it cannot compute, is a ``ValueError`` naming the fix."""
        resolved = resolve_device(device)
        return cls(resolved, autocast_dtype(precision, resolved))

    @property
    def precision(self):
        """The precision used, by name (``"float32"`` or ``"bfloat16"``)."""
        return "float32" if self.amp_dtype is None else "bfloat16"

    @property
    def head_dtype(self):
        """The autocast dtype of the head, through the feature cache or not:
        ``None``, float32 — the probe is fitted in float32, and is served so; the
        backbone's features are cast to float32 before it."""
        return None

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_accelerator(self):
        """A GPU (CUDA or Apple): loading overlaps with its work."""
        return self.device.type in ("cuda", "mps")

    @property
    def deterministic(self):
        """Whether the same fit gives the same bits twice: on the CPU.  On a GPU,
        cuDNN's algorithm search and atomic additions may differ from run to
        run."""
        return self.device.type == "cpu"

    def autocast(self):
        """Autocast to the network's precision on this device."""
        return autocast(self.device, self.amp_dtype)

    def head_autocast(self):
        """Autocast to the head's precision (``head_dtype``)."""
        return autocast(self.device, self.head_dtype)

    def scope(self, retain_memory):
        """What a call holds while it computes here (``compute_scope``)."""
        return compute_scope(self.device, retain_memory)

    def fork_rng(self):
        """torch's generators forked for the block: the CPU's and this GPU's."""
        devices = [self.device.index] if self.is_cuda else []
        return torch.random.fork_rng(devices=devices)

    def empty_cache(self):
        if self.is_cuda:
            torch.cuda.empty_cache()
        elif self.device.type == "mps":
            torch.mps.empty_cache()


@contextlib.contextmanager
def compute_scope(device, retain_memory):
    """What a ``fit`` or inference call holds while it computes on ``device``: on
    the CPU, the threads chosen from the free CPUs and (``retain_memory``) the
    retained heap; on a GPU, cuDNN's choice of the fastest convolution algorithms
    for the batch shapes met (``cudnn.benchmark``)."""
    cpu = device.type == "cpu"
    with (
        cpu_threads(cpu),
        retained_heap(retain_memory and cpu),
        cudnn_benchmark(device.type == "cuda"),
    ):
        yield


_cudnn_lock = threading.Lock()
_cudnn_users = 0
_cudnn_before = False


@contextlib.contextmanager
def cudnn_benchmark(enabled=True):
    """``torch.backends.cudnn.benchmark`` on while any call is inside (calls in
    several threads may overlap), then back to the user's own setting."""
    global _cudnn_users, _cudnn_before
    if not enabled:
        yield
        return
    with _cudnn_lock:
        if _cudnn_users == 0:
            _cudnn_before = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True
        _cudnn_users += 1
    try:
        yield
    finally:
        with _cudnn_lock:
            _cudnn_users -= 1
            if _cudnn_users == 0:
                torch.backends.cudnn.benchmark = _cudnn_before
