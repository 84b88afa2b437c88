"""Devices and precision, on the CPU: what would break on a GPU, caught here.

``torch.cuda`` is mocked where a test is about choosing a device or a precision;
a module on the ``meta`` device stands for "a module on another device"."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from skfinetune import FineTuneClassifier, PretrainedFeatures
from skfinetune._device import (
    OutOfMemoryError,
    autocast_dtype,
    compute_scope,
    resolve_device,
)

from _tiny import TINY, TINY_BACKBONE


@pytest.fixture
def gpus(monkeypatch):
    """Two mocked GPUs of compute capability 7.5 (T4-like); the current is 1."""
    capability = {"value": (7, 5)}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda device=None: capability["value"]
    )
    return capability


def test_devices_are_normalised_once(gpus):
    assert resolve_device("cuda") == torch.device("cuda:1")  # the current GPU
    assert resolve_device("auto") == torch.device("cuda:1")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="only 2 GPU"):
        resolve_device("cuda:2")


def test_precision_follows_the_devices_real_capability(gpus):
    gpu = torch.device("cuda:1")
    # is_bf16_supported says True (emulation counts), the capability says no
    assert autocast_dtype("auto", gpu) is None
    with pytest.raises(ValueError, match=r"compute capability 7\.5.*'auto'"):
        autocast_dtype("bfloat16", gpu)
    gpus["value"] = (8, 0)
    assert autocast_dtype("auto", gpu) is torch.bfloat16
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16


def test_fit_refuses_bfloat16_on_an_old_gpu_before_any_work(gpus, image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, device="cuda", precision="bfloat16"))
    with pytest.raises(ValueError, match="no native bfloat16"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)


class OneDevice(TorchDispatchMode):
    """Fails any operation whose tensor arguments lie on different devices
    (torch itself lets ``meta`` mix with the CPU; a GPU would not)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        leaves = tree_leaves((args, kwargs or {}))
        devices = {t.device for t in leaves if isinstance(t, torch.Tensor) and t.dim()}
        if len(devices) > 1:
            raise AssertionError(f"{func} mixes devices {sorted(map(str, devices))}")
        return func(*args, **(kwargs or {}))


def test_size_probe_runs_on_the_modules_own_device():
    """A module backbone already on another device (here ``meta``) is probed
    there, not fed a CPU tensor."""
    with torch.device("meta"):
        module = nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)
        )
    features = PretrainedFeatures(module, image_size=32)
    source = features._check_params()
    with OneDevice():
        net, n_features = features._new_network(source, 32)
    assert n_features == 8 and next(net.parameters()).is_meta


def test_predictions_through_the_feature_cache_match_at_reduced_precision(
    tmp_path, image_arrays
):
    X, y = image_arrays
    clf = FineTuneClassifier(
        **dict(TINY, unfrozen_epochs=0, precision="bfloat16", memory=str(tmp_path))
    ).fit(X, y)
    cached = clf.predict_proba(X)  # the head on cached features
    clf.set_params(memory=None)
    direct = clf.predict_proba(X)  # the whole network
    np.testing.assert_allclose(cached, direct, rtol=0, atol=1e-6)


def test_out_of_memory_leaves_the_estimator_as_before_and_names_the_fix(
    image_arrays, monkeypatch
):
    from skfinetune._training import Trainer

    X, y = image_arrays
    clf = FineTuneClassifier(**TINY)

    def out_of_memory(*args, **kwargs):
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "image_phase", out_of_memory)
        with pytest.raises(MemoryError, match=r"batch_size=32.*smaller batch_size"):
            clf.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    assert set(vars(clf)) == set(clf.get_params())
    proba = clf.fit(X, y).predict_proba(X)  # a previous fit survives a failed one
    monkeypatch.setattr(Trainer, "image_phase", out_of_memory)
    with pytest.raises(MemoryError):
        clf.fit(X[::-1], y[::-1])
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_predict_on_a_device_this_machine_lacks_says_so(image_arrays, monkeypatch):
    """``set_params(device="cuda")`` then predict on a machine without a GPU: the
    same error as ``fit`` (not a silent run on the CPU); ``"auto"`` predicts on
    the CPU, and ``"cpu"`` moves a model fitted elsewhere there."""
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    expected = clf.predict_proba(X)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    clf.set_params(device="cuda")
    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            method(X)
    features = PretrainedFeatures(**TINY_BACKBONE).fit(X)
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        features.set_params(device="cuda:0").transform(X)
    clf.set_params(device="auto")
    clf.device_ = torch.device("cuda", 0)  # as fitted on a GPU
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-6)
    clf.set_params(device="cpu")
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-6)


def test_cudnn_picks_its_algorithms_inside_gpu_calls_only():
    """On a GPU, calls let cuDNN time its convolution algorithms for the shapes
    they meet; overlapping calls keep it on until the last ends, and the user's
    own setting comes back."""
    user = torch.backends.cudnn.benchmark
    gpu, cpu = torch.device("cuda:0"), torch.device("cpu")
    try:
        torch.backends.cudnn.benchmark = False
        with compute_scope(cpu, False):
            assert torch.backends.cudnn.benchmark is False
        outer = compute_scope(gpu, False)
        outer.__enter__()
        with compute_scope(gpu, False):  # another thread's predict, say
            assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.benchmark is True
        outer.__exit__(None, None, None)
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = user


def test_a_retry_after_out_of_memory_has_the_failed_fits_memory_back(
    image_arrays, monkeypatch
):
    """The documented retry (``except MemoryError:`` fit again with a smaller
    batch) runs while the error is alive: neither the error nor its traceback
    may hold the network (or the images) the failed fit built."""
    import gc
    import weakref

    from skfinetune._training import Trainer

    X, y = image_arrays
    networks = []

    def out_of_memory(self, *args, **kwargs):
        networks.append(weakref.ref(self.net))
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(Trainer, "image_phase", out_of_memory)
    clf = FineTuneClassifier(**TINY)
    try:
        clf.fit(X, y)
    except MemoryError as exc:
        gc.collect()
        assert exc.__context__ is None and exc.__cause__ is None
        assert networks and networks[0]() is None
    else:
        pytest.fail("no MemoryError")


@pytest.mark.parametrize(
    "message",
    ["cuDNN error: CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED when ..."],
)
def test_allocation_failures_of_cudnn_and_cublas_count_as_out_of_memory(
    image_arrays, monkeypatch, message
):
    from skfinetune._training import Trainer

    X, y = image_arrays

    def fails(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(Trainer, "image_phase", fails)
    clf = FineTuneClassifier(**TINY)
    with pytest.raises(MemoryError, match="smaller batch_size"):
        clf.fit(X, y)
    assert set(vars(clf)) == set(clf.get_params())


def test_other_runtime_errors_are_not_taken_for_out_of_memory(
    image_arrays, monkeypatch
):
    from skfinetune._training import Trainer

    X, y = image_arrays

    def fails(*args, **kwargs):
        raise RuntimeError("shapes do not match")

    monkeypatch.setattr(Trainer, "image_phase", fails)
    with pytest.raises(RuntimeError, match="shapes do not match"):
        FineTuneClassifier(**TINY).fit(X, y)


def test_out_of_memory_is_caught_where_torch_has_no_out_of_memory_error(
    image_arrays, monkeypatch
):
    """torch before 2.5 has ``torch.cuda.OutOfMemoryError`` only: the package's
    own name for the class serves both."""
    import importlib

    import skfinetune._device as device

    monkeypatch.delattr(torch, "OutOfMemoryError", raising=False)
    reloaded = importlib.reload(device)
    try:
        assert reloaded.OutOfMemoryError is torch.cuda.OutOfMemoryError
        assert reloaded.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA oom"))
        assert not reloaded.is_out_of_memory(KeyboardInterrupt())
    finally:
        monkeypatch.undo()
        importlib.reload(device)


def test_auto_means_the_same_device_for_a_fit_a_loaded_model_and_a_pickle(
    image_arrays, tmp_path, monkeypatch
):
    """``device="auto"``: the current GPU of the machine the model is used on,
    whether it was fitted there, loaded, or unpickled from elsewhere."""
    import pickle

    from skfinetune import load, save

    X, y = image_arrays
    fitted = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)  # CPU
    fitted.set_params(device="auto")
    loaded = load(save(fitted, tmp_path / "m.safetensors"), device="cpu")
    unpickled = pickle.loads(pickle.dumps(fitted))
    unpickled.device_ = torch.device("cuda", 3)  # fitted on a 4-GPU machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # two GPUs now
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (8, 0))
    for model in (fitted, loaded, unpickled):
        assert model._inference_compute().device == torch.device("cuda:1")
    assert resolve_device(FineTuneClassifier().device) == torch.device("cuda:1")


def test_auto_is_the_cpu_without_a_gpu_and_a_missing_gpu_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no Apple GPU"):
        resolve_device("mps")
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'mps'"):
        resolve_device("xpu")


@pytest.fixture
def apple_gpu(monkeypatch):
    """A stand-in for Apple silicon: MPS available, no CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


def test_apple_gpus_are_chosen_by_auto_and_compute_in_float32(apple_gpu):
    from skfinetune._device import Compute
    from skfinetune._feeding import Feeder, HeldData

    mps = resolve_device("auto")
    assert mps == torch.device("mps") and resolve_device("mps") == mps
    assert autocast_dtype("auto", mps) is None
    assert autocast_dtype("float32", mps) is None
    with pytest.raises(ValueError, match="not supported on Apple GPUs"):
        autocast_dtype("bfloat16", mps)
    compute = Compute.resolve("auto", "auto")
    assert compute.is_accelerator and not compute.is_cuda
    assert not compute.deterministic
    feeder = Feeder(mps, 10_000, 4)
    held = HeldData(torch.zeros(3, 1, 2, 2, dtype=torch.uint8))
    assert feeder.prefetch  # loads the next batch while the GPU computes
    assert feeder.place(held) is held  # no CUDA memory query, no move
    batches = list(feeder.batches(held, np.arange(3), 2))  # no pinning on MPS
    assert [len(b) for b in batches] == [2, 1]
    with compute_scope(mps, True):
        pass  # no CUDA call on the way in or out


def test_the_head_computes_in_float32_at_reduced_precision():
    """The probe is fitted in float32; the backbone's features, stored or not,
    meet the head in float32, whatever the backbone's precision."""
    from skfinetune._backbones import FineTuneNet
    from skfinetune._backbones._rules import ChildBlocks
    from skfinetune._device import Compute
    from skfinetune._inference import Runner

    torch.manual_seed(0)
    head = nn.Linear(16, 3)
    net = FineTuneNet(nn.Flatten(), head, ChildBlocks("fc"))
    runner = Runner(
        net=net,
        prepare=lambda raw: raw,
        compute=Compute(torch.device("cpu"), torch.bfloat16),
        feeder=None,
        batch_size=4,
    )
    features = torch.randn(5, 16)
    with torch.no_grad():
        expected = head(features)
    torch.testing.assert_close(runner.head_outputs(features), expected, rtol=0, atol=0)


def test_tags_say_a_gpu_fit_is_not_bit_for_bit_repeatable(gpus):
    assert FineTuneClassifier(device="auto").__sklearn_tags__().non_deterministic
    assert not FineTuneClassifier(device="cpu").__sklearn_tags__().non_deterministic


def test_tags_on_a_machine_without_a_gpu_say_deterministic(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert not FineTuneClassifier().__sklearn_tags__().non_deterministic


def test_a_module_backbone_on_another_device_is_pickled_from_the_cpu():
    """The decision, seen on the ``meta`` device: a module backbone with any
    tensor off the CPU is stored as a CPU copy (the copy itself needs a real
    second device, which no CPU test has)."""
    from skfinetune._state import on_cpu

    assert on_cpu(nn.Linear(2, 2))
    with torch.device("meta"):
        assert not on_cpu(nn.Linear(2, 2))
