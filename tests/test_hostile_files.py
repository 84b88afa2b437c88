"""Model files from strangers: ``skfinetune.load`` of hand-made files runs no
code, opens no socket, writes nothing, reads nothing but the file, and answers
a hostile value with a clear ``ValueError``/``TypeError`` that names the field.

Each file is crafted here from a real one, its JSON edited and its digest
recomputed (the digest detects damage, not tampering).  An audit hook
(``sys.addaudithook``), armed around ``load`` and ``predict``, fails the test on
a socket, a subprocess, a pickle class lookup, or a file opened for writing or a
folder made outside the test's temporary folder.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

from skfinetune import FineTuneClassifier, load, save

from _tiny import TINY, make_images

_ARMED = threading.local()
_EVENTS = ("socket.", "subprocess.Popen", "os.system", "pickle.find_class")


def _hook(event, args):
    allowed = getattr(_ARMED, "folder", None)
    if allowed is None:
        return
    if event.startswith(_EVENTS):
        _ARMED.seen.append(f"{event} {args[:2]!r}")
    elif event in ("open", "os.mkdir", "os.makedirs") and args and args[0]:
        path = os.fspath(args[0]) if not isinstance(args[0], int) else ""
        writing = event != "open" or (
            len(args) > 1 and isinstance(args[1], str) and set(args[1]) & set("wax+")
        )
        if writing and path and not os.path.abspath(path).startswith(allowed):
            _ARMED.seen.append(f"{event} {path}")


sys.addaudithook(_hook)


class Audit:
    """Armed for the block: what the hook saw lands in ``seen``."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)

    def __enter__(self):
        _ARMED.folder, _ARMED.seen = self.folder, []
        return _ARMED.seen

    def __exit__(self, *exc):
        _ARMED.folder = None


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    X, y = make_images(6, 24)
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    path = tmp_path_factory.mktemp("models") / "model.safetensors"
    save(clf, path)
    return path, X


def craft(source, target, edit, raw=None):
    """``target``: the file ``source`` with its JSON document edited by
    ``edit(document)`` (then each ``(old, new)`` text of ``raw`` replaced) and
    its digest recomputed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from skfinetune._persistence import _digest

    with safe_open(str(source), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    document = json.loads(metadata["skfinetune"])
    edit(document)
    text = json.dumps(document)
    for old, new in raw or ():
        text = text.replace(old, new)
    metadata = {"skfinetune": text, "sha256": _digest(text, tensors)}
    save_file(tensors, str(target), metadata=metadata)
    return target


def test_a_memory_folder_in_the_file_is_not_used(model_file, tmp_path):
    """The file names a cache folder holding a planted pickle: ``load`` drops
    the file's ``memory`` (the caller passes ``memory=`` to use one), so
    predict opens nothing there; and what the cache stores is read without
    unpickling, so a planted entry could not run even if it were read."""
    source, X = model_file
    planted = tmp_path / "shared-cache"
    planted.mkdir()
    (planted / "evil.pkl").write_bytes(b"\x80\x04cos\nsystem\n.")

    def edit(document):
        document["params"]["memory"] = {"__memory__": str(planted)}

    path = craft(source, tmp_path / "m.safetensors", edit)
    with Audit(tmp_path / "nowhere") as seen:
        model = load(path, device="cpu")
        proba = model.predict_proba(X)
    assert seen == [] and model.memory is None and proba.shape == (len(X), 2)
    assert sorted(p.name for p in planted.iterdir()) == ["evil.pkl"]


def test_a_poisoned_cache_folder_can_only_miss(model_file, tmp_path):
    """A cache the user passes but a stranger can write to: entries replaced by
    pickles are not plain arrays, so they count as missing and are computed
    again; the predictions are those without the cache."""
    source, X = model_file
    cache = tmp_path / "cache"
    model = load(source, device="cpu", memory=str(cache))
    expected = model.predict_proba(X)
    entries = list(cache.rglob("*.npy"))
    assert entries
    for entry in entries:
        entry.write_bytes(b"\x80\x04cos\nsystem\n(S'echo pwned'\ntR.")
    with Audit(tmp_path) as seen:
        again = load(source, device="cpu", memory=str(cache)).predict_proba(X)
    assert seen == []
    np.testing.assert_allclose(again, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "backbone",
    [
        "timm/hf-hub:someone/model",
        "timm/local-dir:/tmp/elsewhere",
        "os.system",
        "torchvision.models.resnet18",
        "../resnet18",
    ],
)
def test_backbone_names_from_a_file_are_plain_architecture_names(
    model_file, tmp_path, backbone
):
    source, _ = model_file

    def edit(document):
        document["params"]["backbone"] = backbone

    path = craft(source, tmp_path / "m.safetensors", edit)
    with Audit(tmp_path) as seen, pytest.raises(ValueError, match="backbone"):
        load(path, device="cpu")
    assert seen == []


def test_weights_from_a_file_name_no_foreign_file(model_file, tmp_path):
    source, _ = model_file

    def edit(document):
        document["params"]["weights"] = "/etc/passwd"

    path = craft(source, tmp_path / "m.safetensors", edit)
    with pytest.raises(ValueError, match="weights"):
        load(path, device="cpu")


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("frozen_epochs", "many", "frozen_epochs"),
        ("hidden_layer_sizes", {"__tuple__": [60000, 60000]}, "head"),
        ("batch_size", -1, "batch_size"),
        ("image_size", {"__dict__": [[1, 2]]}, "image_size"),
        ("device", ["cpu"], "device"),
    ],
)
def test_parameters_are_validated_before_anything_is_built(
    model_file, tmp_path, field, value, error
):
    source, _ = model_file

    def edit(document):
        document["params"][field] = value

    path = craft(source, tmp_path / "m.safetensors", edit)
    with pytest.raises((ValueError, TypeError), match=error):
        load(path, device="cpu")


@pytest.mark.parametrize(
    "field, value",
    [
        ("classes_", {"__ndarray__": ["a"], "dtype": "|S2000000000", "shape": [1]}),
        ("classes_", {"__ndarray__": [1, 2], "dtype": "<i8", "shape": [10**9]}),
        ("image_size_", 10**6),
        ("_input", {"store_size": "big"}),
        ("_input", {"__dict__": [[{"__tuple__": []}, 1]]}),
        ("history_", "not a list"),
        ("n_backbone_blocks_", -3),
        ("unknown_attribute_", 1),
        ("classes_", {"__ndarray__": ["a", "b", "c"], "dtype": "<U1", "shape": [3]}),
    ],
)
def test_fitted_values_are_validated(model_file, tmp_path, field, value):
    source, _ = model_file

    def edit(document):
        document["fitted"][field] = value

    path = craft(source, tmp_path / "m.safetensors", edit)
    with pytest.raises((ValueError, TypeError), match=field.strip("_")):
        load(path, device="cpu")


def test_deep_json_is_a_clear_error(model_file, tmp_path):
    source, _ = model_file

    def edit(document):
        document["fitted"]["history_"] = "DEEP"

    for depth in (100, 5000):  # beyond the codec's bound; beyond Python's
        deep = "[" * depth + "0" + "]" * depth
        path = craft(source, tmp_path / "m.safetensors", edit, [('"DEEP"', deep)])
        with pytest.raises(ValueError, match="nested"):
            load(path, device="cpu")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        load(fifo)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc, sets RLIMIT_AS"
)
def test_denial_of_service_files_fail_fast_within_a_memory_limit(model_file, tmp_path):
    """In a process allowed 2 GiB of address space beyond its imports, within
    60 s: each hostile file (declaring gigabytes of strings, a 14 GB head, a
    million-pixel image) is refused with a ValueError, quickly."""
    source, _ = model_file
    files = []
    edits = {
        "string_dtype": lambda d: d["fitted"].__setitem__(
            "classes_",
            {"__ndarray__": ["a", "b"], "dtype": "|S2000000000", "shape": [2]},
        ),
        "huge_head": lambda d: d["params"].__setitem__(
            "hidden_layer_sizes", {"__tuple__": [60000, 60000]}
        ),
        "huge_images": lambda d: d["fitted"].__setitem__("image_size_", 10**6),
    }
    for name, edit in edits.items():
        files.append(str(craft(source, tmp_path / f"{name}.safetensors", edit)))
    script = textwrap.dedent(
        f"""
        import resource, sys, time
        from skfinetune import load
        with open("/proc/self/status") as f:
            size = [int(l.split()[1]) for l in f if l.startswith("VmSize")][0]
        limit = size * 1024 + 2 * 2**30  # 2 GiB more than after the imports
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        for path in {files!r}:
            start = time.perf_counter()
            try:
                load(path, device="cpu")
            except ValueError as exc:
                print("refused", round(time.perf_counter() - start, 2), flush=True)
            else:
                print("LOADED", path, flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    lines = out.stdout.split("\n")
    assert out.returncode == 0, out.stderr[-2000:]
    assert [line.split()[0] for line in lines if line] == ["refused"] * len(files)
    assert all(float(line.split()[1]) < 10 for line in lines if line)


def test_the_hook_sees_what_it_must(tmp_path):
    """The audit hook itself: a socket and a write outside the folder count."""
    import socket

    with Audit(tmp_path) as seen:
        socket.socket().close()
        with open(tmp_path / "inside.txt", "w"):
            pass
    assert any(s.startswith("socket.") for s in seen)
    assert not any("inside.txt" in s for s in seen)
    torch.zeros(1)  # the hook stays installed, disarmed
