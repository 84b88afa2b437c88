"""
Save and load a model without pickle
====================================

``skfinetune.save`` writes one safetensors file: the network's tensors, and in its
header a JSON document with the estimator's parameters, classes, preprocessing,
training history and the versions it was made with.  ``skfinetune.load`` reads
it back without running any code from the file (no pickle), onto the CPU unless
told otherwise, and refuses a file that was cut or changed after saving.

A head-only model (``unfrozen_epochs=0``) on the ants/bees photos keeps this to
a few seconds on 2 CPU cores.
"""

# %%
import json
import os
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

import skfinetune
from skfinetune import FineTuneClassifier, load_image_folder

# the shared photo collections (SKFINETUNE_DATA: where they are elsewhere)
shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X_train, y_train = load_image_folder(root / "train")
X_val, y_val = load_image_folder(root / "val")
clf = FineTuneClassifier(weights="IMAGENET1K_V1", unfrozen_epochs=0, random_state=0)
clf.fit(X_train, y_train)

# %%
# Save, load, and check that the loaded model predicts the same.
path = Path(tempfile.mkdtemp()) / "ants_bees.safetensors"
skfinetune.save(clf, path)
loaded = skfinetune.load(path)
print(f"{path.name}: {os.path.getsize(path) / 2**20:.1f} MiB")
print(
    "same probabilities:",
    np.array_equal(loaded.predict_proba(X_val), clf.predict_proba(X_val)),
)
print("validation accuracy:", round(loaded.score(X_val, y_val), 4))

# %%
# What the header holds: plain JSON, readable by any safetensors tool.
with open(path, "rb") as f:
    (size,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(size))
document = json.loads(header["__metadata__"]["skfinetune"])
print("class:", document["class"])
print("classes_:", document["fitted"]["classes_"])
print("versions:", document["versions"])

# %%
# A damaged file is refused with a clear error.
data = bytearray(path.read_bytes())
data[-1] ^= 1
path.write_bytes(bytes(data))
try:
    skfinetune.load(path)
except ValueError as error:
    print("ValueError:", error)
