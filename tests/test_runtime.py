"""_runtime: threads from the free CPUs, scoped to a call; the heap."""

import os
import subprocess
import sys

import pytest
import torch

import skfinetune._runtime as runtime
from skfinetune._runtime import available_cpus, choose_threads, cpu_threads


@pytest.fixture
def unpinned(monkeypatch):
    monkeypatch.delenv("SKFINETUNE_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "_FREE_CPUS_TTL", 0.0)  # measure every time


def test_busy_cpus_lower_the_thread_count(monkeypatch, unpinned):
    monkeypatch.setattr(runtime, "available_cpus", lambda: 4)
    monkeypatch.setattr(runtime, "_sleeping", lambda n, pause: range(1))
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        monkeypatch.setattr(runtime, "_running_elsewhere", lambda: 0)
        assert choose_threads() == 4
        monkeypatch.setattr(runtime, "_running_elsewhere", lambda: 3)
        assert choose_threads() == 1
        monkeypatch.setattr(runtime, "_running_elsewhere", lambda: 9)
        assert choose_threads() == 1  # never fewer than one
        torch.set_num_threads(2)  # a budget (OMP_NUM_THREADS, joblib, Dask) is kept
        monkeypatch.setattr(runtime, "_running_elsewhere", lambda: 0)
        assert choose_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_scoped_to_the_call_and_restored(monkeypatch, unpinned):
    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "choose_threads", lambda: 1)
    with cpu_threads():
        assert torch.get_num_threads() == 1
        with cpu_threads():  # nested calls keep the outer choice
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_pinned_by_environment(monkeypatch):
    monkeypatch.setenv("SKFINETUNE_NUM_THREADS", "3")
    assert choose_threads() == 3
    monkeypatch.setenv("SKFINETUNE_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="SKFINETUNE_NUM_THREADS"):
        choose_threads()


def test_available_cpus_follow_affinity():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


def test_another_running_process_is_seen(unpinned):
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc on this platform")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        seen = max(runtime._running_elsewhere() for _ in range(20))
    finally:
        spinner.kill()
        spinner.wait()
    assert seen >= 1


def test_threads_chosen_again_between_epochs(monkeypatch, unpinned):
    before = torch.get_num_threads()
    counts = iter([1, 2])
    monkeypatch.setattr(runtime, "choose_threads", lambda: next(counts))
    with cpu_threads():
        assert torch.get_num_threads() == 1
        runtime.rechoose_threads()  # another process ended: more threads
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
    runtime.rechoose_threads()  # outside a call: nothing changes
    assert torch.get_num_threads() == before


def _threads_in_worker():
    import os

    os.environ.pop("SKFINETUNE_NUM_THREADS", None)
    from skfinetune._runtime import choose_threads

    return choose_threads()


def test_joblib_workers_keep_their_thread_budget():
    """loky gives each of n_jobs workers cpus // n_jobs threads; fits keep that."""
    from joblib import Parallel, delayed

    cpus = available_cpus()
    if cpus < 2:
        pytest.skip("needs 2 CPUs")
    chosen = Parallel(n_jobs=2)(delayed(_threads_in_worker)() for _ in range(2))
    assert all(1 <= n <= cpus // 2 for n in chosen)


def test_one_measurement_serves_a_second(monkeypatch, unpinned):
    calls = []
    monkeypatch.setattr(runtime, "free_cpus", lambda: calls.append(1) or 1)
    monkeypatch.setattr(runtime, "_FREE_CPUS_TTL", 60.0)
    monkeypatch.setattr(runtime, "_last_free", {})
    for _ in range(5):
        choose_threads()
    assert calls == [1]
