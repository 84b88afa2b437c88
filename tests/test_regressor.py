"""FineTuneRegressor: continuous targets, standardised inside fit."""

import numpy as np
import pytest
from sklearn.base import clone

from skfinetune import FineTuneRegressor

from _tiny import TINY, make_brightness

#: Regression needs both phases to fit the random-init tiny backbone well.
REG = dict(TINY, frozen_epochs=10, unfrozen_epochs=10)


@pytest.fixture(scope="module")
def brightness():
    return make_brightness(n=64)


@pytest.fixture(scope="module")
def fitted(brightness):
    """Don't call additional fits on this."""
    X, y = brightness
    return FineTuneRegressor(**REG).fit(X, y)


def test_learns_a_target_of_the_images(fitted, brightness):
    X, y = brightness
    pred = fitted.predict(X)
    assert pred.shape == y.shape and pred.dtype == np.float64
    assert fitted.n_outputs_ == 1
    # R2 (RegressorMixin.score) over seeds 0-2 and 1/2 threads: 0.85-0.96
    assert fitted.score(X, y) >= 0.8


def test_targets_of_any_scale_train_the_same(fitted, brightness):
    """Standardised targets: y * 1000 + 5 gives the same network, scaled back."""
    X, y = brightness
    scaled = clone(fitted).fit(X, y * 1000 + 5)
    np.testing.assert_allclose(
        scaled.predict(X), fitted.predict(X) * 1000 + 5, rtol=1e-4, atol=1e-3
    )


def test_several_targets(brightness):
    X, y = brightness
    Y = np.c_[y, 1 - y, 10 * y]
    reg = FineTuneRegressor(**REG).fit(X, Y)
    assert reg.n_outputs_ == 3
    pred = reg.predict(X)
    assert pred.shape == (len(X), 3)
    assert reg.score(X, Y) >= 0.8  # 0.87-0.96 over seeds 0-2 and 1/2 threads
    column = FineTuneRegressor(**REG).fit(X, y[:, None])
    assert column.predict(X).shape == (len(X), 1)


def test_huber_loss_trains_another_model(fitted, brightness):
    X, y = brightness
    huber = clone(fitted).set_params(loss="huber", epsilon=0.5).fit(X, y)
    assert not np.allclose(huber.predict(X), fitted.predict(X))
    assert huber.score(X, y) >= 0.8  # 0.86-0.98 over seeds 0-2 and 1/2 threads


def test_early_stopping_records_r2(brightness):
    X, y = brightness
    reg = FineTuneRegressor(**dict(REG, early_stopping=True, validation_fraction=0.25))
    reg.fit(X, y)
    assert all("valid_r2" in h and "valid_loss" in h for h in reg.history_)
    assert all(h["valid_r2"] <= 1 for h in reg.history_)


def test_bad_targets(brightness):
    X, y = brightness
    reg = FineTuneRegressor(**dict(REG, frozen_epochs=1, unfrozen_epochs=0))
    with pytest.raises(ValueError, match="requires y"):
        reg.fit(X, None)
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(X, np.where(np.arange(len(y)) == 3, np.nan, y))
    with pytest.raises(ValueError, match="could not convert|numeric"):
        reg.fit(X, np.array(["a"] * len(y), dtype=object))
    warm = clone(reg).set_params(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start=True needs 1 target"):
        warm.fit(X, np.c_[y, y])


def test_test_time_flip_averages_each_image_and_its_mirror(brightness):
    import copy

    X, y = brightness
    # 28 px crops of 32 px stored images: a symmetric crop, so mirroring the
    # input array and mirroring the network input are the same
    reg = FineTuneRegressor(**dict(REG, image_size=28, unfrozen_epochs=1)).fit(X, y)
    flipping = copy.copy(reg).set_params(test_time_flip=True)  # the same network
    expected = (reg.predict(X) + reg.predict(X[:, :, ::-1])) / 2
    np.testing.assert_allclose(flipping.predict(X), expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(flipping.predict(X), reg.predict(X), atol=1e-4)
