"""_display: TrainingHistoryDisplay, drawn with the Agg backend."""

import numpy as np
import pytest

from skfinetune import (
    FineTuneClassifier,
    FineTuneRegressor,
    TopLossesDisplay,
    TrainingHistoryDisplay,
)

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


def test_top_losses_shows_the_misclassified_images_first(image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    proba = clf.predict_proba(X)
    # mislabel the two images the model is surest of: no other image can have a
    # higher loss than -log(1 - their confidence)
    sure = np.argsort(-proba.max(axis=1), kind="stable")[:2]
    y_wrong = y.copy()
    y_wrong[sure] = np.where(y[sure] == "top", "bottom", "top")
    display = TopLossesDisplay.from_estimator(clf, X, y_wrong, n_images=4, ncols=2)
    true = np.searchsorted(clf.classes_, y_wrong)
    losses = -np.log(proba[np.arange(len(y)), true])
    np.testing.assert_array_equal(
        display.indices, np.argsort(-losses, kind="stable")[:4]
    )
    assert set(display.indices[:2]) == set(sure)  # the labels the model disputes
    np.testing.assert_allclose(display.losses, np.sort(losses)[::-1][:4], rtol=1e-6)
    assert len(display.images_) == 4 and display.axes_.shape == (4,)
    for index, image, ax in zip(
        display.indices, display.images_, display.axes_, strict=True
    ):
        assert image.get_array().shape == (37, 37, 3)  # as stored (resize, no crop)
        title = ax.get_title()
        pred = clf.predict(X[[index]])[0]
        assert title.startswith(f"{pred} / {y_wrong[index]}")
        wrong = pred != y_wrong[index]
        assert (ax.title.get_color() == "tab:red") == wrong
    # the drawn pixels are the image's own
    shown = display.images_[0].get_array()
    original = X[display.indices[0]]
    assert abs(float(shown.mean()) - float(original.mean())) < 3


def test_top_losses_on_given_axes_and_paths(image_folder):
    import matplotlib.pyplot as plt

    from skfinetune import load_image_folder

    X, y = load_image_folder(image_folder)
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    fig, axes = plt.subplots(2, 3)
    display = TopLossesDisplay.from_estimator(clf, X, y, n_images=5, ax=axes)
    assert display.figure_ is fig
    assert not axes.ravel()[5].axison  # the spare Axes is hidden
    assert len(display.images_) == 5


def test_top_losses_refuses_what_it_cannot_draw(image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, y)
    with pytest.raises(ValueError, match="not fitted on.*'left'"):
        TopLossesDisplay.from_estimator(clf, X, np.full(len(y), "left"))
    with pytest.raises(ValueError, match="n_images must be a positive int"):
        TopLossesDisplay.from_estimator(clf, X, y, n_images=0)
    Y = np.stack([y == "top", y == "bottom"], axis=1).astype(int)
    multi = FineTuneClassifier(**dict(TINY, unfrozen_epochs=0)).fit(X, Y)
    with pytest.raises(ValueError, match="single-label classifier"):
        TopLossesDisplay.from_estimator(multi, X, Y)
    reg = FineTuneRegressor(**dict(TINY, unfrozen_epochs=0)).fit(*make_brightness())
    with pytest.raises(ValueError, match="single-label classifier"):
        TopLossesDisplay.from_estimator(reg, X, y)


def test_validation_curve_over_freeze_depth(image_arrays):
    """The documented use: integer depths up to ``n_backbone_blocks_`` (which
    trains exactly as ``"all"``)."""
    from sklearn.model_selection import ValidationCurveDisplay

    X, y = image_arrays
    params = dict(TINY, frozen_epochs=2, unfrozen_epochs=2)
    n_blocks = FineTuneClassifier(**params).fit(X, y).n_backbone_blocks_
    depths = [0, n_blocks // 2, n_blocks]
    display = ValidationCurveDisplay.from_estimator(
        FineTuneClassifier(**params),
        X,
        y,
        param_name="freeze_depth",
        param_range=depths,
        cv=2,
    )
    np.testing.assert_array_equal(display.lines_[0].get_xdata(), depths)
    all_frozen = FineTuneClassifier(**dict(params, freeze_depth="all")).fit(X, y)
    deepest = FineTuneClassifier(**dict(params, freeze_depth=n_blocks)).fit(X, y)
    np.testing.assert_array_equal(all_frozen.predict_proba(X), deepest.predict_proba(X))
