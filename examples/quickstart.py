"""
Quickstart: fine-tune ImageNet MobileNetV2 on scikit-learn's digits
===================================================================

The README's first fine-tune on real data.  Digits are 8x8 grayscale images
stored as rows of 64 pixels; ``image_shape=(8, 8)`` says so, and
``image_size=64`` keeps the CPU run short (30-36 s on 2 cores, the digits
rows of ``benchmarks/recipe.py``).  ``fit`` first fits a linear head on the frozen
backbone's features (a logistic regression whose penalty is chosen on a held-out
fifth of the training images: the linear probe).  Digits are far from ImageNet's
photos, and the probe errs on enough held-out digits for phase 2 to be tried:
the backbone's last 11 blocks fine-tuned with AdamW (peak rate 1e-4, warm-up and
cosine decay, each block's rate 0.8 times the next one's; the first 8 blocks stay
frozen), scored on the held-out digits after every epoch.  The best length is
then fitted again on all the training images.

``weights="IMAGENET1K_V1"`` is torchvision's original MobileNetV2 checkpoint, which
``scripts/install_offline_weights.py`` puts into torch's hub cache where the network
cannot reach torchvision's host; with a connection ``weights="DEFAULT"`` works too.
"""

# %%
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skfinetune import FineTuneClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y
)

# %%
clf = FineTuneClassifier(
    "mobilenet_v2",
    weights="IMAGENET1K_V1",
    image_shape=(8, 8),
    image_size=64,
    random_state=0,
    verbose=1,
)
start = time.perf_counter()
clf.fit(X_train, y_train)
print(f"fit: {time.perf_counter() - start:.1f} s")
print(f"probe's held-out accuracy: {clf.probe_score_:.3f}")
print(f"phase 2 epochs: {clf.unfrozen_epochs_}")

# %%
print(f"test accuracy: {clf.score(X_test, y_test):.4f}")
