"""The one cheap configuration every unit test uses (as imbalanced-learn's
INIT_PARAMS): a backbone without BatchNorm, random initialisation (no download),
32 px inputs and a few epochs with Adam, so that fits take about a second; on the
CPU, so that a machine with a GPU runs the same exact-equality tests."""

import numpy as np

#: Backbone and input settings every estimator of the package takes.
TINY_BACKBONE = dict(
    backbone="squeezenet1_1",
    weights=None,
    image_size=32,
    random_state=0,
    device="cpu",  # the same numerics on a machine with a GPU
)

#: The fine-tuning estimators (classifier, regressor).
TINY = dict(
    TINY_BACKBONE,
    hidden_layer_sizes=(64,),
    frozen_optimizer="adam",  # epochs of phase 1 (the probe: tests/test_probe.py)
    frozen_epochs=5,
    unfrozen_epochs=5,
    unfrozen_optimizer="adam",
    unfrozen_learning_rate=1e-3,
)

#: A tiny backbone *with* BatchNorm, for the tests about frozen BatchNorm.
TINY_BN = dict(TINY, backbone="resnet18", image_size=32)


def make_images(n_per_class=12, size=24, seed=0):
    """Two visually separable classes: bright top half vs bright bottom half."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in ("top", "bottom"):
        for _ in range(n_per_class):
            array = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
            half = slice(0, size // 2) if label == "top" else slice(size // 2, size)
            array[half] += 180
            images.append(array)
            labels.append(label)
    return np.stack(images), np.array(labels)


def make_brightness(n=32, size=24, seed=0):
    """Images whose target is how bright their top half is (0-1), for regression."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0, 1, size=n)
    images = rng.integers(0, 40, size=(n, size, size, 3)).astype(np.float64)
    images[:, : size // 2] += 200 * level[:, None, None, None]
    return np.clip(images, 0, 255).astype(np.uint8), level
