"""
Export to ONNX and predict without torch
========================================

``skfinetune.to_onnx`` writes a fitted estimator's whole inference — pixel
scaling, centre crop, the weights' normalisation, the network and the
probabilities — as one ONNX graph, which ``onnxruntime`` (or a serving stack, or a
mobile runtime) runs without Python's torch or this package.  The graph takes
``uint8`` RGB images of one size, ``(batch, size, size, 3)``; ``size`` and the
classes are in the file's metadata.

Needs ``pip install onnx onnxruntime``.  The model here is the head-only fine-tune
of the ants/bees photos (a few seconds on 2 CPU cores).
"""

# %%
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from PIL import Image

import skfinetune
from skfinetune import FineTuneClassifier, load_image_folder

shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X_train, y_train = load_image_folder(root / "train")
X_val, y_val = load_image_folder(root / "val")
clf = FineTuneClassifier(weights="IMAGENET1K_V1", unfrozen_epochs=0, random_state=0)
clf.fit(X_train, y_train)

# %%
# Export, and read what the graph expects from its metadata.
path = skfinetune.to_onnx(clf, os.path.join(tempfile.mkdtemp(), "ants_bees.onnx"))
metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
classes = json.loads(metadata["classes"])
size = json.loads(metadata["input_shape"])[0]
print(f"{os.path.getsize(path) / 2**20:.1f} MiB; input uint8 NHWC {size}x{size}")
print(f"classes: {classes}")


# %%
# Prepare photos as ``predict`` does: the shorter side resized to ``size``, then
# the centre square — here with Pillow alone.
def square(file, size):
    with Image.open(file) as image:
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        box = (left, top, left + side, top + side)
        return np.asarray(image.resize((size, size), Image.BILINEAR, box=box))


images = np.stack([square(file, size) for file in X_val])
session = onnxruntime.InferenceSession(path)
probabilities, label_index = session.run(None, {"images": images})
predicted = np.array(classes, dtype=object)[label_index]
accuracy = np.mean(predicted == y_val)
print(f"onnxruntime accuracy on {len(images)} photos: {accuracy:.3f}")

# %%
# On the same arrays the graph and the estimator agree.
difference = np.abs(probabilities - clf.predict_proba(images)).max()
print(f"largest difference from predict_proba: {difference:.1e}")
