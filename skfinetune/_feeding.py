"""Feeding: getting batches of data onto the device, in one place.

A *kind of data* (``_vision.images.ImageData`` for images: files, PIL images,
arrays, rows) says only how to list, key and load its items: ``len``,
``load(indices)`` (a CPU tensor batch), ``cache_keys``, ``nbytes``,
``augment_by_default``, ``in_memory`` (whether its items are in memory already:
files are not) and ``decode_key`` (the whole decoded set, for ``memory``).  A
:class:`Feeder` owns all the rest: holding data decoded in memory, placing it on
a device, prefetching, pinning, and the lock that lets several fits share one
GPU.

The order of operations is the feeder's, written here once:

1. **Hold** (``hold``): decode everything once into one tensor (:class:`HeldData`)
   if it fits ``budget_bytes``, through ``memory`` for kinds with a
   ``decode_key`` (files), so that later fits on the same files skip decoding.
   Decoding is always on the CPU: holding never reads pixels back from a device.
2. **Place** (``place``): on a CUDA GPU, held data moves there if it fits a
   quarter of the free memory (checked and copied under one lock, across the
   threads and processes of one user); anything else stays on the CPU.
3. **Feed** (``batches``, ``loaded``): batch by batch; on a GPU a thread loads
   the next batch while this one computes — decoding with PIL's threads on the
   CPU, then pinning it on CUDA, in a thread that has set the fit's GPU as its
   device.  The batch preparer then copies it with ``non_blocking`` on the
   compute stream: the loader never touches a GPU stream, so no stream can use
   memory another has freed before its work is done.  Indices of held data on
   the device go there once per pass, not once per batch.

A fit holds its images when it needs them (``for_training``): not when the
feature cache has every feature and phase 2 may not run.  Inference
(``for_inference``) streams on the CPU; on a GPU, files stream (decoded while
the GPU computes) and in-memory kinds are held and placed.
"""

import contextlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import torch

from ._cache import decoded
from ._device import OutOfMemoryError


class HeldData:
    """Items decoded once into one tensor (on the CPU or a device)."""

    def __init__(self, tensor, augment_by_default=True, lengths=None):
        self.tensor = tensor
        self.augment_by_default = augment_by_default
        #: Each item's length, for kinds whose batches group by it (texts).
        self.lengths = lengths

    def __len__(self):
        return self.tensor.shape[0]

    def nbytes(self):
        return self.tensor.numel() * self.tensor.element_size()

    def load(self, indices):
        indices = np.asarray(indices)
        if (
            len(indices)
            and indices[-1] - indices[0] + 1 == len(indices)
            and (len(indices) == 1 or (np.diff(indices) == 1).all())
        ):  # a run of items (inference): a view, no index copy to the device
            return self.tensor[int(indices[0]) : int(indices[-1]) + 1]
        index = torch.as_tensor(indices, dtype=torch.long).to(self.tensor.device)
        return self.tensor[index]

    def load_on_device(self, indices, indices_on_device):
        """``load``, with the indices also given on the training device (or
        ``None``): indexing there needs no copy."""
        if (
            indices_on_device is not None
            and indices_on_device.device == self.tensor.device
        ):
            return self.tensor[indices_on_device]
        return self.load(indices)

    def cache_keys(self):
        if self.tensor.device.type != "cpu":
            return None
        return [joblib.hash(item.numpy()) for item in self.tensor]

    in_memory = True


def _to_device(tensor, device):
    return tensor.to(device)


class Feeder:
    """Gets one kind of data's batches onto ``device`` (see the module docstring).

    Parameters
    ----------
    device : torch.device
    budget_bytes : int
        The most that ``hold`` decodes into memory (``cache_size``).
    batch_size : int
    memory : path or None
        The folder where decoded files are kept between fits (``_cache``).
    """

    def __init__(self, device, budget_bytes, batch_size, memory=None):
        self.device = device
        self.budget_bytes = budget_bytes
        self.batch_size = batch_size
        self.memory = memory
        # overlap loading with a GPU's work
        self.prefetch = device.type in ("cuda", "mps")

    # ---------------------------------------------------------------- steps
    def hold(self, data):
        """``data`` decoded once into memory if it fits the budget, else as is
        (streamed batch by batch)."""
        if isinstance(data, HeldData):
            return data
        if data.nbytes() > self.budget_bytes:
            return data
        key = data.decode_key() if self.memory is not None else None
        lengths = getattr(data, "lengths", None)
        if key is None:
            return HeldData(self._decode_all(data), data.augment_by_default, lengths)
        pixels = decoded(
            self.memory, key, lambda: self._decode_all(data).numpy(), len(data)
        )
        return HeldData(torch.from_numpy(pixels), data.augment_by_default, lengths)

    def _decode_all(self, data):
        indices = np.arange(len(data))
        size = max(self.batch_size, 64)
        batches = ((indices[i : i + size], None) for i in range(0, len(data), size))
        return torch.cat(list(self._load_each(data, batches)))

    def place(self, data):
        """``data`` where it computes fastest on the device (step 2)."""
        if self.device.type != "cuda" or not isinstance(data, HeldData):
            return data
        return self._move(data)

    def _move(self, held):
        if held.tensor.device == self.device:
            return held
        # the check and the copy under one lock, so that fits placing data at
        # once (n_jobs threads or processes) each see what the others took
        with _placement_lock(self.device):
            free, _ = torch.cuda.mem_get_info(self.device)
            if held.nbytes() > free // 4:
                return held
            try:
                moved = _to_device(held.tensor, self.device)
            except OutOfMemoryError:
                return held
            return HeldData(moved, held.augment_by_default, held.lengths)

    def for_training(self, data, images_needed=True):
        """Data for a fit: held when its images are needed, then placed."""
        return self.place(self.hold(data) if images_needed else data)

    def for_inference(self, data):
        """Data for one pass of inference: streamed on the CPU; on a GPU, files
        stream (decoded while it computes) and other kinds are held and placed."""
        if self.device.type == "cpu" or not data.in_memory:
            return data
        return self.place(self.hold(data))

    # -------------------------------------------------------------- batches
    def batches(self, data, indices, batch_size=None):
        """The loaded batches of ``indices`` in order (inference)."""
        size = batch_size or self.batch_size
        on_device = None
        if isinstance(data, HeldData) and data.tensor.device.type != "cpu":
            # the indices go to the device once, not once per batch
            on_device = torch.as_tensor(indices, dtype=torch.long).to(self.device)
        order = (
            (
                indices[i : i + size],
                None if on_device is None else on_device[i : i + size],
            )
            for i in range(0, len(indices), size)
        )
        return self.loaded(data, order)

    def loaded(self, data, batches):
        """The loaded batch of each ``(indices, indices_on_device)`` of
        ``batches`` (``None``: not on the device).  On a GPU, a thread loads the
        next batch (and pins it, on CUDA) while this one computes: in training as
        in inference."""
        if not self.prefetch:
            yield from self._load_each(data, batches)
            return
        pin = self.device.type == "cuda"

        def load_pinned(indices, on_device):
            batch = _load(data, indices, on_device)
            if pin and batch.device.type == "cpu":
                batch = batch.pin_memory()
            return batch

        with ThreadPoolExecutor(
            1, initializer=_use_device, initargs=(self.device,)
        ) as pool:
            pending = None
            for indices, on_device in batches:
                future = pool.submit(load_pinned, indices, on_device)
                if pending is not None:
                    yield pending.result()
                pending = future
            if pending is not None:
                yield pending.result()

    @staticmethod
    def _load_each(data, batches):
        for indices, on_device in batches:
            yield _load(data, indices, on_device)


def _use_device(device):
    """The loader thread's own CUDA device is the fit's (else pinning would make
    a context on the current GPU, GPU 0 for a fit on ``cuda:1``)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def _load(data, indices, on_device):
    if isinstance(data, HeldData):
        return data.load_on_device(indices, on_device)
    return data.load(indices)


_PLACEMENT = threading.Lock()


@contextlib.contextmanager
def _placement_lock(device):
    """Held while one fit decides whether its data fit on ``device`` and copies
    them there: by the threads of this process, and by other processes through a
    lock file (where ``fcntl`` exists)."""
    with _PLACEMENT:
        try:
            import fcntl
        except ImportError:  # Windows: threads only
            yield
            return
        index = 0 if device.index is None else device.index
        path = _lock_path(index)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _lock_path(index):
    """The lock file of GPU ``index``: one per user (another user's file, which
    this one may not open, is never in the way)."""
    user = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return Path(tempfile.gettempdir()) / f"skfinetune-{user}-cuda{index}.lock"
