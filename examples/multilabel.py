"""
Multi-label: several yes/no answers per photo
=============================================

With a 0/1 indicator matrix as ``y`` (one column per label, any number of them
true per photo), ``FineTuneClassifier`` becomes a multi-label classifier: one
sigmoid output per label, ``predict`` returns the matrix, ``predict_proba`` each
label's probability.  Here each ants/bees photo gets two labels: whether it shows
a bee (from its folder) and whether vegetation dominates it (more than a third of
its pixels green, from the pixels): two questions one network answers at once.
"""

# %%
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import classification_report

from skfinetune import FineTuneClassifier, load_image_folder

shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X_train, folder_train = load_image_folder(root / "train")
X_val, folder_val = load_image_folder(root / "val")
LABELS = ["bee", "green"]


def labels(paths, folders):
    """The indicator matrix: a bee? mostly vegetation?"""
    green = []
    for path in paths:
        with Image.open(path) as image:
            a = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int16)
        green.append(((a[..., 1] > a[..., 0]) & (a[..., 1] > a[..., 2])).mean())
    return np.column_stack([folders == "bees", np.array(green) > 1 / 3]).astype(int)


Y_train, Y_val = labels(X_train, folder_train), labels(X_val, folder_val)
frequencies = dict(zip(LABELS, Y_train.mean(0).round(2).tolist(), strict=True))
print(f"label frequencies (train): {frequencies}")

# %%
clf = FineTuneClassifier(weights="IMAGENET1K_V1", random_state=0)
clf.fit(X_train, Y_train)
print(f"phase 2 epochs: {clf.unfrozen_epochs_}")
Y_pred = clf.predict(X_val)
print(f"exact-match accuracy: {clf.score(X_val, Y_val):.3f}")
print(classification_report(Y_val, Y_pred, target_names=LABELS, zero_division=0))

# %%
# ``predict_proba`` gives each label's probability, one column per label.
print(np.round(clf.predict_proba(X_val[:5]), 2))
