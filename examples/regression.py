"""
Regression: a continuous property of each photo
===============================================

``FineTuneRegressor`` fine-tunes for continuous targets (its own schedule: a hidden
head trained by Adam, then 3 epochs of phase 2).  Here the target
is a property every ants/bees photo has: the fraction of its pixels where green
dominates (the vegetation behind the insect), computed from the pixels so that
it needs no labelling.  The regressor is compared with a ridge regression on the
frozen backbone's features (a linear probe for regression), by R² on the
validation photos, and the errors are drawn with scikit-learn's
``PredictionErrorDisplay``.
"""

# %%
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.linear_model import RidgeCV
from sklearn.metrics import PredictionErrorDisplay
from sklearn.pipeline import make_pipeline

from skfinetune import FineTuneRegressor, PretrainedFeatures, load_image_folder

shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X_train, _ = load_image_folder(root / "train")
X_val, _ = load_image_folder(root / "val")


def green_fraction(paths):
    """The fraction of each photo's pixels whose green channel is the largest."""
    out = []
    for path in paths:
        with Image.open(path) as image:
            a = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int16)
        out.append(((a[..., 1] > a[..., 0]) & (a[..., 1] > a[..., 2])).mean())
    return np.array(out)


y_train, y_val = green_fraction(X_train), green_fraction(X_val)
print(f"green fraction: mean {y_train.mean():.2f}, std {y_train.std():.2f}")

# %%
# The fine-tuning regressor (targets are standardised inside ``fit``; the loss
# is the squared error, ``loss="huber"`` for outliers) and the ridge probe.
reg = FineTuneRegressor(
    weights="IMAGENET1K_V1",
    image_size=160,
    frozen_epochs=10,
    unfrozen_epochs=1,
    random_state=0,
)
reg.fit(X_train, y_train)
probe = make_pipeline(
    PretrainedFeatures(weights="IMAGENET1K_V1", image_size=160),
    RidgeCV(alphas=np.logspace(-2, 4, 13)),
).fit(X_train, y_train)
print(f"fine-tuned R²: {reg.score(X_val, y_val):.3f}")
print(f"ridge probe R²: {probe.score(X_val, y_val):.3f}")

# %%
PredictionErrorDisplay.from_estimator(
    reg, X_val, y_val, kind="actual_vs_predicted", scatter_kwargs={"alpha": 0.5}
)
plt.title("green fraction of the validation photos")
plt.show()
