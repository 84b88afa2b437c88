"""_persistence: save/load without pickle (safetensors + JSON)."""

import copy
import json
import os
import pickle
import stat
import struct
import warnings

import numpy as np
import pytest
import torch
import torchvision

import skfinetune
from skfinetune import (
    FineTuneClassifier,
    FineTuneRegressor,
    PretrainedFeatures,
    load,
    save,
)

from _tiny import TINY, TINY_BACKBONE, TINY_BN, make_brightness

pytest.importorskip("safetensors")


def _assert_same_state(a, b):
    assert type(a) is type(b)
    assert repr(a.get_params(deep=False)) == repr(b.get_params(deep=False))
    skip = {"module_", "_input", "device_"}
    for key, value in vars(a).items():
        if key in skip:
            continue
        assert key in vars(b), key
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(vars(b)[key], value)
            assert vars(b)[key].dtype == value.dtype
        else:
            assert repr(vars(b)[key]) == repr(value), key
    assert vars(a._input) == vars(b._input)
    state_a, state_b = a.module_.state_dict(), b.module_.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key].cpu(), state_b[key]), key


@pytest.fixture
def path(tmp_path):
    return tmp_path / "model.safetensors"


def test_classifier_round_trip_predicts_the_same(image_arrays, path):
    X, y = image_arrays
    clf = FineTuneClassifier(**TINY_BN).fit(X, y)
    loaded = load(save(clf, path))
    _assert_same_state(clf, loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert loaded.device_ == torch.device("cpu")
    assert not loaded.module_.training


def test_multilabel_round_trip(image_arrays, path):
    X, y = image_arrays
    Y = np.stack([y == "top", np.arange(len(y)) % 2 == 0], axis=1).astype(int)
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=1)).fit(X, Y)
    loaded = load(save(clf, path))
    _assert_same_state(clf, loaded)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_integer_labels_and_their_class_weight_round_trip(image_arrays, path):
    X, y = image_arrays
    y = (y == "top").astype(np.int64)
    clf = FineTuneClassifier(**dict(TINY, class_weight={0: 1.0, 1: 2.0}))
    clf.set_params(unfrozen_epochs=1).fit(X, y)
    loaded = load(save(clf, path))
    _assert_same_state(clf, loaded)
    assert loaded.class_weight == {0: 1.0, 1: 2.0}
    assert loaded.predict(X).dtype == np.int64
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


@pytest.mark.parametrize("two_d", [False, True])
def test_regressor_round_trip(path, two_d):
    X, y = make_brightness(24)
    if two_d:
        y = np.stack([y, 1 - y], axis=1)
    reg = FineTuneRegressor(**dict(TINY, unfrozen_epochs=1)).fit(X, y)
    loaded = load(save(reg, path))
    _assert_same_state(reg, loaded)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.predict(X).shape == y.shape


def test_features_on_dataframe_rows_keep_feature_names(path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        rng.uniform(size=(6, 64)), columns=[f"pixel_{i}" for i in range(64)]
    )
    features = PretrainedFeatures(**TINY_BACKBONE).fit(X)
    loaded = load(save(features, path))
    _assert_same_state(features, loaded)
    np.testing.assert_array_equal(loaded.feature_names_in_, features.feature_names_in_)
    np.testing.assert_array_equal(loaded.transform(X), features.transform(X))
    assert list(loaded.get_feature_names_out()) == list(
        features.get_feature_names_out()
    )


def test_unfitted_estimator_and_special_parameters(path, tmp_path):
    from torchvision.models import MobileNet_V2_Weights

    est = FineTuneClassifier(
        "mobilenet_v2",
        weights=MobileNet_V2_Weights.IMAGENET1K_V1,
        random_state=np.random.RandomState(3),
        hidden_layer_sizes=(8, 4),
        memory=str(tmp_path / "cache"),
        augment={"rotation": 10},
    )
    loaded = load(save(est, path))
    assert loaded.weights is MobileNet_V2_Weights.IMAGENET1K_V1
    assert loaded.hidden_layer_sizes == (8, 4)
    assert loaded.augment == {"rotation": 10}
    assert loaded.memory is None  # a cache folder is the caller's choice
    cache = str(tmp_path / "mine")
    assert load(path, memory=cache).memory == cache
    assert loaded.random_state.randint(1000) == np.random.RandomState(3).randint(1000)
    assert not hasattr(loaded, "module_")


def test_loading_runs_no_pickle(image_arrays, path, monkeypatch):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    save(clf, path)

    def refuse(*args, **kwargs):
        raise AssertionError("load() unpickled something")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    np.testing.assert_array_equal(load(path).predict(X), clf.predict(X))


def test_pickle_keeps_working(image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict(X), clf.predict(X)
    )


@pytest.fixture
def saved(image_arrays, path):
    X, y = image_arrays
    save(FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y), path)
    return path


def test_truncated_file_is_a_clear_error(saved):
    data = saved.read_bytes()
    for size in (len(data) - 100, len(data) // 2, 20, 4, 0):
        saved.write_bytes(data[:size])
        with pytest.raises(ValueError, match="truncated or corrupted"):
            load(saved)


def test_changed_tensor_bytes_are_detected(saved):
    data = bytearray(saved.read_bytes())
    data[-10] ^= 0xFF  # inside the last tensor
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="modified or damaged after saving"):
        load(saved)


def test_changed_metadata_is_detected(saved):
    data = saved.read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    document = json.loads(header["__metadata__"]["skfinetune"])
    document["params"]["frozen_epochs"] = 99
    header["__metadata__"]["skfinetune"] = json.dumps(document)
    new_header = json.dumps(header).encode()
    new_header += b" " * (-len(new_header) % 8)
    saved.write_bytes(
        struct.pack("<Q", len(new_header)) + new_header + data[8 + header_size :]
    )
    with pytest.raises(ValueError, match="modified or damaged after saving"):
        load(saved)


def test_other_files_are_refused(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="no skfinetune metadata"):
        load(plain)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x80\x04not a model" * 10)
    with pytest.raises(ValueError, match="not a complete skfinetune model file"):
        load(junk)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.safetensors")


def test_custom_module_backbone_explains_the_alternatives(image_arrays, path):
    X, y = image_arrays
    module = torchvision.models.squeezenet1_1(weights=None)
    clf = FineTuneClassifier(**dict(TINY, backbone=module))
    with pytest.raises(TypeError, match=r"custom nn\.Module.*joblib\.dump"):
        save(clf.set_params(unfrozen_epochs=0).fit(X, y), path)
    assert not path.exists()


def test_unstorable_parameter_is_named(path):
    clf = FineTuneClassifier(frozen_optimizer=torch.optim.SGD)
    with pytest.raises(TypeError, match="frozen_optimizer .*SGD.*named optimizer"):
        save(clf, path)
    with pytest.raises(TypeError, match="skfinetune's estimators"):
        save(object(), path)


def test_a_gpu_fitted_model_loads_on_the_cpu(image_arrays, path):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    expected = clf.predict_proba(X)
    clf.device_ = torch.device("cuda")  # as fitted on a GPU (tensors saved from CPU)
    save(clf, path)
    loaded = load(path)
    assert loaded.device_ == torch.device("cpu")
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            load(path, device="cuda")


def test_other_versions_warn(saved, monkeypatch):
    monkeypatch.setattr(skfinetune, "__version__", "99.0")
    with pytest.warns(UserWarning, match=r"saved with skfinetune .* \(now 99\.0\)"):
        load(saved)
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(saved)


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: FineTuneClassifier(**TINY_BN).fit(X, y),
        lambda X, y: FineTuneRegressor(**TINY).fit(*make_brightness()),
        lambda X, y: PretrainedFeatures(**TINY_BACKBONE).fit(X),
    ],
    ids=["classifier", "regressor", "features"],
)
def test_skops_round_trip_trusts_only_the_estimator(image_arrays, make):
    sio = pytest.importorskip("skops.io")
    X, y = image_arrays
    est = make(X, y)
    blob = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=blob)
    assert untrusted == [f"{type(est).__module__}.{type(est).__name__}"]
    back = sio.loads(blob, trusted=untrusted)
    _assert_same_state(est, back)
    method = "transform" if hasattr(est, "transform") else "predict"
    np.testing.assert_array_equal(getattr(back, method)(X), getattr(est, method)(X))


def test_pickle_holds_arrays_and_leaves_the_estimator_alone(image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**TINY_BN).fit(X, y)
    module = clf.module_
    state = clf.__getstate__()
    assert isinstance(state["module_"], dict) and isinstance(state["device_"], str)
    assert all(isinstance(v, np.ndarray) for v in state["module_"].values())
    assert clf.module_ is module and isinstance(clf.device_, torch.device)
    back = pickle.loads(pickle.dumps(clf))
    _assert_same_state(clf, back)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert not back.module_.training
    assert all(p.device.type == "cpu" for p in back.module_.parameters())
    # a custom module backbone unpickles too (its module is part of the params)
    custom = FineTuneClassifier(
        **dict(TINY, backbone=torchvision.models.squeezenet1_1(weights=None))
    ).fit(X, y)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(custom)).predict(X), custom.predict(X)
    )


def test_estimators_pickled_by_the_previous_version_still_load(image_arrays):
    """Their state: the network as a module whose FineTuneNet (then in
    ``_vision.backbones``) held ``head_attr``; no ``head``/``mean``/``std``
    parameters; the input reader as an object without ``interpolation``."""
    from skfinetune._vision.backbones import FineTuneNet

    X, y = image_arrays
    clf = FineTuneClassifier(**TINY_BN).fit(X, y)
    net = clf.module_
    net_state = dict(net.__dict__)
    del net_state["block_rule"]
    net_state["head_attr"] = "fc"
    old_net = FineTuneNet.__new__(FineTuneNet)
    old_net.__setstate__(net_state)
    state = {k: v for k, v in vars(clf).items() if k not in ("head", "mean", "std")}
    reader = copy.copy(clf._input)
    del reader.__dict__["interpolation"]
    state.update(module_=old_net, _input=reader)
    old = FineTuneClassifier.__new__(FineTuneClassifier)
    old.__setstate__(state)
    assert (old.head, old.mean, old.std) == (None, None, None)
    assert [b.name for b in old.module_.blocks()] == [b.name for b in net.blocks()]
    assert old._input.interpolation == "bilinear"
    again = pickle.loads(pickle.dumps(old))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
def test_saved_files_follow_the_umask(image_arrays, tmp_path):
    """A saved model is readable as any file the user creates (umask 022: 0644),
    not only by its owner."""
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, frozen_epochs=1, unfrozen_epochs=0))
    clf.fit(X, y)
    previous = os.umask(0o022)
    try:
        path = save(clf, tmp_path / "model.safetensors")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        os.umask(0o077)
        path = save(clf, tmp_path / "private.safetensors")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(previous)


def test_a_killed_saves_leftover_is_removed_by_the_next_save(image_arrays, tmp_path):
    """A save killed before its rename leaves ``.skfinetune-<pid>-*.tmp``
    (mode 0600); the next save to that folder removes those whose process is
    gone, never those of a save still running."""
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, frozen_epochs=1, unfrozen_epochs=0))
    clf.fit(X, y)
    dead = tmp_path / ".skfinetune-999999999-abcd.tmp"  # no such process
    alive = tmp_path / f".skfinetune-{os.getpid()}-efgh.tmp"
    for leftover in (dead, alive):
        leftover.write_bytes(b"half a model")
    save(clf, tmp_path / "model.safetensors")
    assert not dead.exists() and alive.exists()


def test_saving_into_a_missing_folder_names_the_path_given(image_arrays, tmp_path):
    est = FineTuneClassifier(**TINY)
    target = tmp_path / "not" / "there" / "model.safetensors"
    with pytest.raises(FileNotFoundError, match="not/there.*does not exist") as info:
        save(est, target)
    assert ".tmp" not in str(info.value)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save(est, tmp_path)
