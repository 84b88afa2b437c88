"""_feeding: holding data in memory, placing it on a device, prefetching, and
the lock that lets fits share a GPU."""

import numpy as np
import torch
from PIL import Image

from skfinetune._feeding import Feeder, HeldData
from skfinetune._vision.images import ArrayImages, PathImages
from skfinetune._vision.inputs import check_image_array


def _feeder(budget_bytes=10_000, memory=None, device="cpu"):
    return Feeder(torch.device(device), budget_bytes, 8, memory)


def test_the_loader_thread_uses_the_fits_gpu_and_pins_there(monkeypatch):
    """On ``cuda:1``, the thread that loads the next batch sets ``cuda:1`` as
    its device before pinning (else pinning makes a context on GPU 0), and the
    main thread pins nothing."""
    import threading

    devices, pinned = {}, []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        torch.cuda,
        "set_device",
        lambda d: devices.__setitem__(threading.get_ident(), torch.device(d)),
    )
    monkeypatch.setattr(
        torch.Tensor,
        "pin_memory",
        lambda self: pinned.append(threading.get_ident()) or self,
    )
    X = np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3)
    feeder = _feeder(device="cuda:1")
    batches = list(feeder.batches(ArrayImages(X, 4), np.arange(5), 2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert len(pinned) == 3 and threading.get_ident() not in pinned
    assert all(devices.get(thread) == torch.device("cuda:1") for thread in pinned)


def test_files_stream_to_a_gpu_decoded_on_the_cpu(tmp_path, monkeypatch):
    """Files are not decoded on a GPU: inference streams them (PIL decodes them
    while the GPU computes); in-memory images are held and placed."""
    import skfinetune._feeding as feeding

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d=None: (10**9, 10**9))
    monkeypatch.setattr(feeding, "_to_device", lambda tensor, device: tensor.clone())
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    files = PathImages([str(tmp_path / "a.png")], 8)
    feeder = _feeder(device="cuda:0")
    assert feeder.for_inference(files) is files
    arrays = ArrayImages(np.zeros((2, 8, 8, 3), dtype=np.uint8), 8)
    assert isinstance(feeder.for_inference(arrays), HeldData)


def test_indices_of_data_on_the_device_go_there_once_per_pass(monkeypatch):
    """Validation batches of images held on the device index them there with
    indices copied once (not one blocking copy per batch)."""
    copies = []
    to = torch.Tensor.to

    def counted(self, *args, **kwargs):
        if args and args[0] == torch.device("meta"):
            copies.append(1)
        return to(self, *args, **kwargs)

    held = HeldData(torch.zeros(10, 1, 2, 2, dtype=torch.uint8, device="meta"))
    monkeypatch.setattr(torch.Tensor, "to", counted)
    feeder = _feeder(device="meta")
    batches = list(feeder.batches(held, np.array([3, 1, 4, 0, 2, 9, 8]), 2))
    assert [b.shape[0] for b in batches] == [2, 2, 2, 1]
    assert len(copies) == 1


def test_the_gpu_lock_is_one_file_per_user():
    """Another user's lock file (which this user may not open) is never in the
    way: the file's name holds the user."""
    import os

    from skfinetune._feeding import _lock_path

    path = _lock_path(0)
    assert str(os.getuid()) in path.name and path.name.endswith("cuda0.lock")


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
    feeder = _feeder(budget_bytes=10_000, memory=tmp_path / "cache")
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
