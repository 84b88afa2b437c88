"""
Getting started: a folder of photos, from fit to predictions on new ones
========================================================================

Five kinds of flowers from TensorFlow's ``flower_photos``, one sub-folder per
class (``train/daisy/*.jpg``, ``train/roses/*.jpg``, ...; the same for ``val/``).
The steps: read the folder, fit, evaluate, look at the model, save it, and
predict photos that have no labels.  Point it at your own folder with
``python examples/getting_started.py PATH`` (``PATH/train`` and ``PATH/val``).
"""

# %%
# 1. Read the folders: ``load_image_folder`` gives the image paths and, from the
#    sub-folder names, their labels.
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay, classification_report

import skfinetune
from skfinetune import (
    FineTuneClassifier,
    TopLossesDisplay,
    TrainingHistoryDisplay,
    load_image_folder,
)

shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "tf_flowers_mini"
X_train, y_train = load_image_folder(root / "train")
X_val, y_val = load_image_folder(root / "val")
print(f"{len(X_train)} training and {len(X_val)} validation photos")

# %%
# 2. Fit.  Phase 1 fits a linear head on the frozen backbone's features (the
#    linear probe); phase 2 fine-tunes the backbone's last blocks for as many
#    epochs as pay on a held-out part of the images (none where the probe gets
#    them right).  Offline, ``weights="IMAGENET1K_V1"`` works once the checkpoint
#    is in torch's cache (see "Installing").
clf = FineTuneClassifier(weights="IMAGENET1K_V1", random_state=0, verbose=1)
start = time.perf_counter()
clf.fit(X_train, y_train)
print(f"fit: {time.perf_counter() - start:.1f} s")
print(f"probe's held-out accuracy: {clf.probe_score_:.3f}")
print(f"phase 2 epochs: {clf.unfrozen_epochs_}")

# %%
# 3. Evaluate on the validation folder.
print(f"validation accuracy: {clf.score(X_val, y_val):.4f}")
print(classification_report(y_val, clf.predict(X_val)))

# %%
# 4. Look at the model: its training curve (the dashed line is where the backbone
#    is unfrozen), the validation photos it gets most wrong (misclassified ones
#    first, in red: predicted / true label, probability, loss), and the confusion
#    matrix.
TrainingHistoryDisplay.from_estimator(clf)
plt.show()

# %%
TopLossesDisplay.from_estimator(clf, X_val, y_val, n_images=6)
plt.show()
# sphinx_gallery_thumbnail_number = 2

# %%
ConfusionMatrixDisplay.from_estimator(clf, X_val, y_val, xticks_rotation=45)
plt.show()

# %%
# 5. Save it: one safetensors file (tensors and JSON, no pickle), and load it
#    back, on the CPU unless told otherwise.
folder = Path(tempfile.mkdtemp())
skfinetune.save(clf, folder / "flowers.safetensors")
restored = skfinetune.load(folder / "flowers.safetensors")
print(f"saved {(folder / 'flowers.safetensors').stat().st_size / 1e6:.1f} MB")

# %%
# 6. Predict photos without labels: ``labels=False`` lists every image under a
#    folder (here the validation roses stand in for new photos).
new_photos = load_image_folder(root / "val" / "roses", labels=False)[:5]
for path, label, proba in zip(
    new_photos,
    restored.predict(new_photos),
    restored.predict_proba(new_photos).max(axis=1),
    strict=True,
):
    print(f"{Path(path).name}: {label} ({proba:.2f})")
