"""
Fine-tune on a folder of images (ants vs bees)
==============================================

The data set of PyTorch's transfer-learning tutorial, one sub-folder per class.
``load_image_folder`` gives the file paths and labels; the default recipe (20 head
epochs on the frozen backbone's features, then 3 fine-tuning it) takes about 23
seconds on 2 CPU cores.  Published reference: about 0.93-0.96 validation accuracy
with ResNet-18.  Then three pictures of the model: its training curve, the
validation images it gets most wrong, and its confusion matrix.

Run from the repository root: ``python examples/image_folder.py [DATA_DIR]``.
"""

# %%
import os
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay

from skfinetune import (
    FineTuneClassifier,
    TopLossesDisplay,
    TrainingHistoryDisplay,
    load_image_folder,
)

# the shared photo collections (SKFINETUNE_DATA: where they are elsewhere)
shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X_train, y_train = load_image_folder(root / "train")
X_val, y_val = load_image_folder(root / "val")
print(f"{len(X_train)} training and {len(X_val)} validation images")

# %%
# Fit with the default recipe and score on the validation folder.
clf = FineTuneClassifier(weights="IMAGENET1K_V1", random_state=0)
start = time.perf_counter()
clf.fit(X_train, y_train)
print(f"fit: {time.perf_counter() - start:.1f} s")
print(f"validation accuracy: {clf.score(X_val, y_val):.4f}")

# %%
# The training loss of both phases; the dashed line is where the backbone is
# unfrozen.  (With ``early_stopping=True`` the validation loss and accuracy are
# drawn too.)
TrainingHistoryDisplay.from_estimator(clf)
plt.show()

# %%
# The validation images with the highest loss: misclassified ones come first,
# titled in red (predicted / true label, probability of the prediction, loss).
TopLossesDisplay.from_estimator(clf, X_val, y_val, n_images=6)
plt.show()
# sphinx_gallery_thumbnail_number = 2

# %%
# scikit-learn's own displays work as with any classifier.
ConfusionMatrixDisplay.from_estimator(clf, X_val, y_val)
plt.show()
