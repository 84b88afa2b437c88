"""Predictions of a fixed set of fits, printed exactly, for comparing two versions
of the code: a refactor that must not change behaviour leaves this output
unchanged (``diff`` of the two runs is empty).

Fits on the shared ants/bees photos (a fixed subset, 96 px) with the real
MobileNetV2 weights, and on generated arrays with a random-weight backbone,
covering the probe, phase 2, early stopping, warm starts, the feature cache
(``memory``), multi-label, the regressor and ``PretrainedFeatures``.  Each line
is a configuration and the SHA-256 of its predictions' bytes (float32 outputs
are compared bit for bit), with the first values for reading.

    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old python scripts/prediction_fingerprint.py > before.txt
    python scripts/prediction_fingerprint.py > after.txt
    diff before.txt after.txt

(``PYTHONPATH`` puts the old checkout's package ahead of the installed one.)
"""

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from skfinetune import (
    FineTuneClassifier,
    FineTuneRegressor,
    PretrainedFeatures,
    load_image_folder,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SKFINETUNE_DATA", ROOT / ".." / "shared" / "data"))


def digest(name, array):
    array = np.ascontiguousarray(np.asarray(array))
    if array.dtype.kind in "OU":
        raw = "\n".join(map(str, array.ravel().tolist())).encode()
    else:
        raw = array.tobytes()
    head = np.asarray(array).ravel()[:3].tolist()
    print(f"{name:<34} {hashlib.sha256(raw).hexdigest()[:16]}  {head}", flush=True)


def main():
    torch.set_num_threads(int(os.environ.get("SKFINETUNE_NUM_THREADS", "2")))
    X, y = load_image_folder(DATA / "hymenoptera_data" / "train")
    Xv, _ = load_image_folder(DATA / "hymenoptera_data" / "val")
    X, y, Xv = list(X[::3]), y[::3], list(Xv[::4])
    real = dict(backbone="mobilenet_v2", weights="IMAGENET1K_V1", image_size=96)
    real["random_state"] = 0
    clf = FineTuneClassifier(**real).fit(X, y)
    digest("probe.predict_proba", clf.predict_proba(Xv))
    clf = FineTuneClassifier(**real, unfrozen_epochs=1, batch_size=16).fit(X, y)
    digest("phase2.predict_proba", clf.predict_proba(Xv))
    digest("phase2.history", [h["train_loss"] for h in clf.history_])
    clf = FineTuneClassifier(
        **real, unfrozen_epochs=2, early_stopping=True, batch_size=16
    ).fit(X, y)
    digest("early.predict_proba", clf.predict_proba(Xv))
    with tempfile.TemporaryDirectory() as memory:
        clf = FineTuneClassifier(**real, memory=memory, unfrozen_epochs=0).fit(X, y)
        digest("memory.first", clf.predict_proba(Xv))
        clf = FineTuneClassifier(**real, memory=memory, unfrozen_epochs=0).fit(X, y)
        digest("memory.second", clf.predict_proba(Xv))
    feats = PretrainedFeatures(**real).fit(X)
    digest("features.transform", feats.transform(Xv))

    tiny = dict(backbone="squeezenet1_1", weights=None, image_size=32)
    tiny.update(random_state=0, device="cpu")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 40, 40, 3), dtype=np.uint8)
    labels = np.array(["a", "b"] * 20)
    opts = dict(frozen_optimizer="adam", frozen_epochs=2, unfrozen_epochs=2)
    opts.update(hidden_layer_sizes=(16,), unfrozen_optimizer="adam")
    clf = FineTuneClassifier(**tiny, **opts, warm_start=True).fit(images, labels)
    clf.fit(images, labels)
    digest("tiny.warm.predict_proba", clf.predict_proba(images[:8]))
    clf = FineTuneClassifier(**tiny, **opts, feature_cache=False).fit(images, labels)
    digest("tiny.no_cache.predict_proba", clf.predict_proba(images[:8]))
    indicator = np.stack([labels == "a", rng.random(40) > 0.5], axis=1).astype(int)
    clf = FineTuneClassifier(**tiny).fit(images, indicator)
    digest("tiny.multilabel.proba", clf.predict_proba(images[:8]))
    reg = FineTuneRegressor(**tiny, **opts).fit(images, rng.random(40))
    digest("tiny.regressor.predict", reg.predict(images[:8]))
    rows = images[:, :8, :8, 0].reshape(40, -1).astype(float)
    reg = FineTuneRegressor(**tiny, unfrozen_epochs=1).fit(rows, rng.random(40))
    digest("tiny.rows.predict", reg.predict(rows[:8]))
    print("python", sys.version.split()[0], "torch", torch.__version__)


if __name__ == "__main__":
    main()
