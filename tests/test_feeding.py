"""_feeding: holding data in memory, placing it on a device, prefetching, and
the lock that lets fits share a GPU."""

import joblib
import numpy as np
import torch
from PIL import Image

from skfinetune._feeding import Feeder, HeldData
from skfinetune._vision.images import ArrayImages, PathImages
from skfinetune._vision.inputs import check_image_array


def _feeder(budget_bytes=10_000, memory=None, device="cpu"):
    return Feeder(torch.device(device), budget_bytes, 8, memory)


def test_held_data_forgets_nothing_when_a_variant_decodes_on_a_gpu(tmp_path):
    """Holding files that decode on a GPU holds them from the CPU decoder: the
    pixels are never read back from the device (a crash with ``memory`` before)."""
    Image.new("RGB", (8, 8), (5, 0, 0)).save(tmp_path / "a.png")
    on_gpu = PathImages(
        [str(tmp_path / "a.png")], 8, decode_device=torch.device("cuda:0")
    )
    memory = joblib.Memory(tmp_path / "cache", verbose=0)
    held = _feeder(memory=memory).hold(on_gpu)
    assert isinstance(held, HeldData) and held.tensor.device.type == "cpu"
    assert held.tensor[0, 0, 0, 0] == 5


def test_materialize_respects_budget(tmp_path):
    paths = []
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    data = PathImages(paths, 8)
    assert data.nbytes() == 3 * 3 * 8 * 8
    assert _feeder(budget_bytes=100).hold(data) is data  # streams
    held = _feeder(budget_bytes=10_000).hold(data)
    assert isinstance(held, HeldData)
    torch.testing.assert_close(held.load([2, 0]), data.load([2, 0]))
    assert _feeder(budget_bytes=0).hold(held) is held


def test_materialize_through_memory_decodes_once(tmp_path, monkeypatch):
    import skfinetune._vision.images as images

    Image.new("RGB", (8, 8), (9, 0, 0)).save(tmp_path / "a.png")
    paths = [str(tmp_path / "a.png")] * 2
    memory = joblib.Memory(tmp_path / "cache", verbose=0)
    feeder = _feeder(budget_bytes=10_000, memory=memory)
    first = feeder.hold(PathImages(paths, 8))
    calls = []
    monkeypatch.setattr(images, "decode_file", lambda *a: calls.append(a))
    again = feeder.hold(PathImages(paths, 8))
    assert calls == []
    torch.testing.assert_close(again.tensor, first.tensor)


def test_inference_data_stays_on_the_cpu_without_a_gpu():
    data = ArrayImages(np.zeros((2, 4, 4, 3), dtype=np.uint8), 4)
    feeder = _feeder(budget_bytes=10_000)
    assert feeder.for_inference(data) is data
    assert feeder.place(data) is data
    assert feeder.for_training(data, images_needed=False) is data


def test_prefetched_batches_are_the_same(tmp_path):
    X = check_image_array(np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3))
    data = ArrayImages(X, 4)
    feeder = _feeder()
    plain = list(feeder.batches(data, np.arange(5), 2))
    feeder.prefetch = True  # as on a GPU: a thread loads the next batch
    prefetched = list(feeder.batches(data, np.arange(5), 2))
    assert [len(b) for b in prefetched] == [2, 2, 1]
    for a, b in zip(plain, prefetched, strict=True):
        torch.testing.assert_close(a, b)


def test_fits_placing_images_at_once_on_one_gpu_each_see_the_others(monkeypatch):
    """Images go to a GPU when they take at most a quarter of its free memory.
    Fits that decide at once (``n_jobs``) must not all see the same free memory:
    with 100 bytes free and 20 bytes of images each, two fit, then 60 // 4 < 20."""
    import threading
    import time

    import skfinetune._feeding as feeding

    free = {"bytes": 100}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d=None: (free["bytes"], 100))

    def slow_copy(tensor, device):
        time.sleep(0.05)  # the copy takes time: others check meanwhile
        free["bytes"] -= tensor.numel()
        return tensor.clone()

    monkeypatch.setattr(feeding, "_to_device", slow_copy)
    gpu = torch.device("cuda:0")
    results = []

    def place():
        data = HeldData(torch.zeros(20, 1, 1, 1, dtype=torch.uint8))
        results.append(Feeder(gpu, 10_000, 8).place(data) is not data)

    threads = [threading.Thread(target=place) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, True, True]
