"""Saving and loading a fitted estimator: joblib, skfinetune.save, skops.

For MobileNetV2 and ResNet-50 (random weights, 32 px, head-only fit: only the
files matter), the median of 5 dump and load times in memory or a temporary
folder, and the file size, for:

- ``joblib``: ``joblib.dump``/``load`` of the estimator (its state holds the
  network as numpy arrays, rebuilt on loading);
- ``joblib, module pickled``: the same with the network pickled as a torch module,
  as skfinetune 0.1 stored it (``module_`` put back into the pickled state), for
  comparison;
- ``save``: ``skfinetune.save``/``load`` (safetensors + JSON);
- ``skops``: ``skops.io.dump``/``load`` (trusting the estimator's class).

Run from the repository root: ``python benchmarks/persistence.py`` (~1 minute).
"""

import io
import os
import statistics
import tempfile
import time

import joblib
import numpy as np
import skops.io as sio

import skfinetune
from skfinetune import FineTuneClassifier


class _ModulePickled:
    """Pickles like the estimator did before: ``module_`` as a torch module."""

    def __init__(self, estimator):
        self.state = dict(estimator.__getstate__(), module_=estimator.module_)


def _time(fn, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _dumped(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def _measure(backbone, X, y, folder):
    clf = FineTuneClassifier(
        backbone, weights=None, image_size=32, unfrozen_epochs=0, random_state=0
    ).fit(X, y)
    path = os.path.join(folder, "model.safetensors")
    skops_path = os.path.join(folder, "model.skops")
    trusted = [f"{type(clf).__module__}.{type(clf).__name__}"]
    formats = {
        "joblib": (
            lambda: _dumped(clf),
            lambda blob: joblib.load(io.BytesIO(blob)),
        ),
        "joblib, module pickled": (
            lambda: _dumped(_ModulePickled(clf)),
            lambda blob: joblib.load(io.BytesIO(blob)),
        ),
        "save": (lambda: skfinetune.save(clf, path), lambda _: skfinetune.load(path)),
        "skops": (
            lambda: sio.dump(clf, skops_path),
            lambda _: sio.load(skops_path, trusted=trusted),
        ),
    }
    for name, (dump, load) in formats.items():
        dump_s, blob = _time(dump)
        load_s, loaded = _time(lambda load=load, blob=blob: load(blob))
        if name != "joblib, module pickled":
            assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
        files = {"save": path, "skops": skops_path}
        size = len(blob) if name not in files else os.path.getsize(files[name])
        print(
            f"| {backbone} | {name} | {1000 * dump_s:.0f} | {1000 * load_s:.0f} "
            f"| {size / 2**20:.1f} |",
            flush=True,
        )


def main():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    y = np.arange(8) % 2
    folder = tempfile.mkdtemp()
    print("| backbone | format | dump ms | load ms | MiB |")
    print("|---|---|---|---|---|")
    for backbone in ("mobilenet_v2", "resnet50"):
        _measure(backbone, X, y, folder)


if __name__ == "__main__":
    main()
