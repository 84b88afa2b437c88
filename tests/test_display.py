"""_display: TrainingHistoryDisplay, drawn with the Agg backend."""

import numpy as np
import pytest

from skfinetune import FineTuneClassifier, FineTuneRegressor, TrainingHistoryDisplay

from _tiny import TINY, make_brightness

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_curves_and_phase_boundary(image_arrays):
    X, y = image_arrays
    params = dict(TINY, frozen_epochs=3, unfrozen_epochs=2, early_stopping=True)
    clf = FineTuneClassifier(**dict(params, validation_fraction=0.25)).fit(X, y)
    display = TrainingHistoryDisplay.from_estimator(clf)
    assert set(display.lines_) == {"train_loss", "valid_loss", "valid_acc"}
    x, loss = display.lines_["train_loss"].get_data()
    np.testing.assert_array_equal(x, [1, 2, 3, 4, 5])
    np.testing.assert_allclose(loss, [h["train_loss"] for h in clf.history_])
    assert len(display.boundaries_) == 1  # frozen -> unfrozen
    assert display.boundaries_[0].get_xdata()[0] == pytest.approx(3.5)
    assert display.score_ax_ is not None
    legend = display.score_ax_.get_legend()  # on top of every curve
    labels = [t.get_text() for t in legend.get_texts()]
    assert "unfrozen phase begins" in labels and "valid acc" in labels
    assert display.figure_ is display.ax_.figure


def test_warm_started_fits_plot_as_one_curve_on_a_given_ax():
    import matplotlib.pyplot as plt

    X, y = make_brightness()
    reg = FineTuneRegressor(
        **dict(TINY, frozen_epochs=1, unfrozen_epochs=1, warm_start=True)
    )
    reg.fit(X, y).fit(X, y)
    _, ax = plt.subplots()
    display = TrainingHistoryDisplay.from_estimator(reg, ax=ax)
    assert display.ax_ is ax
    np.testing.assert_array_equal(
        display.lines_["train_loss"].get_xdata(), [1, 2, 3, 4]
    )
    assert len(display.boundaries_) == 3  # unfrozen, second fit's frozen, unfrozen
    assert display.score_ax_ is None and set(display.lines_) == {"train_loss"}


def test_unfitted_and_empty_history(image_arrays):
    from sklearn.exceptions import NotFittedError

    X, y = image_arrays
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(FineTuneClassifier(**TINY))
    empty = FineTuneClassifier(**dict(TINY, frozen_epochs=0, unfrozen_epochs=0))
    with pytest.raises(ValueError, match="nothing to plot"):
        TrainingHistoryDisplay.from_estimator(empty.fit(X, y))
