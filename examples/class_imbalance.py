"""
Class imbalance: a rare class and ``class_weight="balanced"``
=============================================================

When one class is rare in the training photos, a classifier can score well by
mostly predicting the common one.  Here the ants/bees training set keeps only one
bee in five, and two classifiers are compared on the (balanced) validation
photos: one as is, one with ``class_weight="balanced"`` (each class weighs in the
loss inversely to its frequency, as in scikit-learn), by balanced accuracy (the
mean of the per-class recalls) and each class's recall.
"""

# %%
import os
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score, recall_score

from skfinetune import FineTuneClassifier, load_image_folder

shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X_train, y_train = load_image_folder(root / "train")
X_val, y_val = load_image_folder(root / "val")

rare = "bees"
keep = (y_train != rare) | (np.cumsum(y_train == rare) % 5 == 1)  # one bee in five
X_train, y_train = X_train[keep], y_train[keep]
print({label: int((y_train == label).sum()) for label in np.unique(y_train)})

# %%
for class_weight in (None, "balanced"):
    clf = FineTuneClassifier(
        weights="IMAGENET1K_V1", class_weight=class_weight, random_state=0
    )
    y_pred = clf.fit(X_train, y_train).predict(X_val)
    recalls = recall_score(y_val, y_pred, average=None, labels=clf.classes_)
    print(
        f"class_weight={class_weight!r}: balanced accuracy "
        f"{balanced_accuracy_score(y_val, y_pred):.3f}, recall "
        + ", ".join(f"{c} {r:.3f}" for c, r in zip(clf.classes_, recalls, strict=True))
    )
