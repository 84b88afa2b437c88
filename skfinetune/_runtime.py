"""Process-level settings scoped to a ``fit``/``predict``: CPU threads and the
heap (the device and precision are ``_device``'s).

``cpu_threads`` sets torch's intra-op threads for the duration of a call to the CPUs
that are actually free — the process's affinity and cgroup quota, less the threads of
other processes that are running right now, and never more than the budget the
process was given (``torch.get_num_threads()``: ``OMP_NUM_THREADS``, joblib's and
Dask's worker limits, or the user's ``torch.set_num_threads``) — and restores it
afterwards; training chooses again at every epoch, so a fit adapts when other work
starts or ends.  ``SKFINETUNE_NUM_THREADS=k`` pins the count.  OpenMP threads
that spin while waiting for a core another process holds are what made a busy
machine many times slower; fewer threads than busy cores avoid it.  (Passive
OpenMP waiting, ``OMP_WAIT_POLICY=PASSIVE``, avoids it too but cost 8-15 % of an
idle 2-core machine's speed (``benchmarks/contention.py``), so it is left to the
user: see the user guide.)

``retained_heap`` is the one place where skfinetune touches the heap: on Linux
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
import math
import os
import sys
import threading
import time

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


# ------------------------------------------------------------------ CPU threads
def _quota_cpus():
    """CPUs allowed by the cgroup's quota (v2 ``cpu.max``, v1 ``cfs_quota_us``)."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def _running_elsewhere():
    """Threads of other processes that are running or runnable now (Linux
    ``/proc``), or 0 where that cannot be read."""
    own = str(os.getpid())
    count = 0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and p != own]
    except OSError:
        return 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # the state follows the command name, which is in parentheses
            if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"R":
                count += 1
    return count


def available_cpus():
    """CPUs this process may use: its affinity, within the cgroup's quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    quota = _quota_cpus()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return n


def free_cpus(samples=3, pause=0.005):
    """CPUs free for this process now: the available ones less the threads other
    processes are running (the fewest seen over a few samples, so that a moment's
    blip is not taken for a busy machine); at least 1."""
    busy = min(_running_elsewhere() for _ in _sleeping(samples, pause))
    return max(1, available_cpus() - busy)


def _sleeping(n, pause):
    for i in range(n):
        if i:
            time.sleep(pause)
        yield i


def choose_threads():
    """The intra-op thread count for one call: ``SKFINETUNE_NUM_THREADS`` if set,
    else the free CPUs within the process's thread budget."""
    pinned = os.environ.get("SKFINETUNE_NUM_THREADS")
    if pinned:
        try:
            return max(1, int(pinned))
        except ValueError:
            raise ValueError(
                f"SKFINETUNE_NUM_THREADS={pinned!r} is not a number of threads."
            ) from None
    now = time.monotonic()
    last = _last_free.get("cpus")
    if last is None or now - last[0] > _FREE_CPUS_TTL:
        last = _last_free["cpus"] = (now, free_cpus())
    return max(1, min(torch.get_num_threads(), last[1]))


#: How long one measurement of the free CPUs serves (a loop of small predict
#: calls measures once a second, not once a call).
_FREE_CPUS_TTL = 1.0
_last_free = {}


@contextlib.contextmanager
def cpu_threads(enabled=True):
    """torch's intra-op threads set by ``choose_threads`` for the block, then
    restored (nested blocks keep the outer choice)."""
    if not enabled or getattr(_thread_state, "active", False):
        yield
        return
    before = torch.get_num_threads()
    chosen = choose_threads()
    _thread_state.active = True
    if chosen != before:
        torch.set_num_threads(chosen)
    try:
        yield
    finally:
        _thread_state.active = False
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


_thread_state = threading.local()


def rechoose_threads():
    """Inside a ``cpu_threads`` block, choose the thread count again (between
    epochs: other work may have started or ended)."""
    if getattr(_thread_state, "active", False):
        chosen = choose_threads()
        if chosen != torch.get_num_threads():
            torch.set_num_threads(chosen)
