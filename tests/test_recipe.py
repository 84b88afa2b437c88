"""_recipe: the fine-tuning recipe apart from the estimator — it returns one
result that ``fit`` writes once, and a fit that fails leaves the estimator as
it was."""

from types import SimpleNamespace

import numpy as np
import pytest

from skfinetune import FineTuneClassifier
from skfinetune._probe import MAX_SPLITS, MIN_HELD_OUT
from skfinetune._recipe import (
    MIN_HELD_OUT_ERRORS,
    MIN_SAMPLES_TO_HOLD_OUT,
    Recipe,
    Task,
    probe_splits,
)
from skfinetune._training import Trainer

from _tiny import TINY, make_images


@pytest.fixture(scope="module")
def images():
    return make_images(8, 24)


def test_the_recipe_writes_no_estimator_state(images, monkeypatch):
    """While the recipe runs, the estimator's attributes do not change: what it
    decides comes back as one result, written after it."""
    X, y = images
    clf = FineTuneClassifier(**dict(TINY, frozen_epochs=2, unfrozen_epochs=1))
    seen = {}
    run = Recipe.run

    def watched(self, *args, **kwargs):
        before = {k: id(v) for k, v in vars(clf).items()}
        result = run(self, *args, **kwargs)
        seen["unchanged"] = {k: id(v) for k, v in vars(clf).items()} == before
        seen["result"] = result
        return result

    monkeypatch.setattr(Recipe, "run", watched)
    clf.fit(X, y)
    assert seen["unchanged"]
    assert clf.history_ is seen["result"].history
    assert [h["phase"] for h in clf.history_] == ["frozen"] * 2 + ["unfrozen"]
    assert clf.unfrozen_epochs_ == 1 and clf._features_key is None  # backbone moved


@pytest.mark.parametrize("fitted_before", [False, True])
def test_a_fit_that_fails_midway_leaves_the_estimator_as_it_was(
    images, monkeypatch, fitted_before
):
    X, y = images
    clf = FineTuneClassifier(**dict(TINY, frozen_epochs=1, unfrozen_epochs=1))
    if fitted_before:
        clf.fit(X, y)
    before = dict(vars(clf))
    expected = clf.predict_proba(X) if fitted_before else None

    def broken(*args, **kwargs):
        raise ValueError("a batch could not be read")

    monkeypatch.setattr(Trainer, "image_phase", broken)
    with pytest.raises(ValueError, match="could not be read"):
        clf.fit(X[::-1], y[::-1])
    assert vars(clf).keys() == before.keys()
    assert all(vars(clf)[k] is v for k, v in before.items())
    if fitted_before:
        np.testing.assert_array_equal(clf.predict_proba(X), expected)


def _recipe(unfrozen_epochs, early_stopping=False, alpha="auto", optimizer="lbfgs"):
    params = SimpleNamespace(
        unfrozen_epochs=unfrozen_epochs,
        early_stopping=early_stopping,
        validation_fraction=0.25,
        frozen_optimizer=optimizer,
        frozen_epochs=1,
        alpha=alpha,
    )
    task = Task(
        probe_criterion=None,
        score=None,
        stratify=lambda targets: targets,
        errors=None,
    )
    return Recipe(params, task, feeder=None, seed=0, name="Estimator")


def test_the_held_out_part_is_seeded_and_stratified():
    targets = np.array([0] * 12 + [1] * 4)
    train, valid = _recipe(1, early_stopping=True).split(targets)
    again = _recipe(1, early_stopping=True).split(targets)
    np.testing.assert_array_equal(valid, again[1])
    assert len(valid) == 4 and np.bincount(targets[valid]).tolist() == [3, 1]
    assert sorted([*train, *valid]) == list(range(16))


@pytest.mark.parametrize(
    "settings, held_out",
    [
        (dict(unfrozen_epochs="auto"), True),  # phase 2 is decided on it
        (dict(unfrozen_epochs=1), True),  # the probe's penalty is
        (dict(unfrozen_epochs=1, alpha=1.0), False),  # nothing is
        (dict(unfrozen_epochs=1, optimizer="adam"), False),
        (dict(unfrozen_epochs=1, alpha=1.0, early_stopping=True), True),
    ],
)
def test_a_part_is_held_out_wherever_something_is_decided_on_it(settings, held_out):
    targets = np.array([0, 1] * 8)
    train, valid = _recipe(**settings).split(targets)
    assert (len(valid) > 0) == held_out and len(train) + len(valid) == 16


def test_small_data_hold_out_nothing_unless_early_stopping_asks():
    targets = np.array([0, 1] * (MIN_SAMPLES_TO_HOLD_OUT // 2 - 1))
    assert len(_recipe("auto").split(targets)[1]) == 0
    assert len(_recipe("auto", early_stopping=True).split(targets)[1]) > 0


def test_the_probe_adds_splits_until_enough_held_out_predictions():
    """Small data: more random splits of the same size (at most MAX_SPLITS);
    large data: the one held-out part."""
    recipe = _recipe("auto")
    for n in (16, 400, 4000):
        targets = np.arange(n) % 2
        train, held = recipe.split(targets)
        splits = probe_splits(targets, train, held, 0.25, recipe.task.stratify, 0)
        assert splits[0][1] is held and all(len(h) == len(held) for _, h in splits)
        expected = min(MAX_SPLITS, -(-MIN_HELD_OUT // len(held)))
        assert len(splits) == expected
    assert probe_splits(targets, train, held[:0], 0.25, None, 0) == []


# ---------------------------------------------------- unfrozen_epochs="auto"
AUTO = dict(
    TINY,
    frozen_optimizer="lbfgs",
    hidden_layer_sizes=(),
    unfrozen_epochs="auto",
    n_iter_no_change=2,
)


def _held_out_scores(monkeypatch, scores, errors=MIN_HELD_OUT_ERRORS):
    """Held-out scores in turn (phase 1's first), as if measured, and phase 1
    erring on ``errors`` held-out images."""
    scores = iter(scores)
    monkeypatch.setattr(Trainer, "validate", lambda self, *args: (1.0, next(scores)))
    monkeypatch.setattr(FineTuneClassifier, "_errors", lambda *args: errors)


def _phases(model):
    return [h["phase"] for h in model.history_]


def test_auto_keeps_the_epochs_that_paid_and_refits_on_all_the_data(
    images, monkeypatch
):
    X, y = images
    _held_out_scores(monkeypatch, [0.5, 0.6, 0.8, 0.7, 0.8])
    clf = FineTuneClassifier(**AUTO).fit(X, y)
    # two epochs without a better score end the trial; the best was the second
    assert _phases(clf) == ["frozen"] + ["trial"] * 4 + ["unfrozen"] * 2
    assert clf.unfrozen_epochs_ == 2 and clf._features_key is None
    assert all("valid_acc" not in h for h in clf.history_ if h["phase"] == "unfrozen")


def test_auto_keeps_the_probe_where_no_epoch_beats_it(images, monkeypatch):
    """A tie is no gain: the model is then the probe on all the data, the same
    as ``unfrozen_epochs=0`` gives, on the pretrained backbone."""
    X, y = images
    probe = FineTuneClassifier(**dict(AUTO, unfrozen_epochs=0)).fit(X, y)
    _held_out_scores(monkeypatch, [0.8, 0.8, 0.7])
    clf = FineTuneClassifier(**AUTO).fit(X, y)
    assert _phases(clf) == ["frozen", "trial", "trial"] and clf.unfrozen_epochs_ == 0
    np.testing.assert_array_equal(clf.predict_proba(X), probe.predict_proba(X))
    assert clf._features_key == probe._features_key


def test_auto_tries_at_most_its_longest_trial(images, monkeypatch):
    from skfinetune import _recipe

    X, y = images
    monkeypatch.setattr(_recipe, "AUTO_MAX_UNFROZEN_EPOCHS", 3)
    _held_out_scores(monkeypatch, [0.1, 0.2, 0.3, 0.4])
    clf = FineTuneClassifier(**AUTO).fit(X, y)
    assert _phases(clf) == ["frozen"] + ["trial"] * 3 + ["unfrozen"] * 3


def test_auto_with_early_stopping_keeps_the_trials_best_weights(images, monkeypatch):
    """The held-out part never trains: no refit."""
    X, y = images
    _held_out_scores(monkeypatch, [0.5, 0.6, 0.8, 0.7, 0.8])
    clf = FineTuneClassifier(**dict(AUTO, early_stopping=True)).fit(X, y)
    assert _phases(clf) == ["frozen"] + ["trial"] * 4 and clf.unfrozen_epochs_ == 2


@pytest.mark.parametrize("errors", [MIN_HELD_OUT_ERRORS - 1, MIN_HELD_OUT_ERRORS])
def test_auto_tries_phase_two_only_where_the_held_out_part_could_show_a_gain(
    images, monkeypatch, errors
):
    X, y = images
    _held_out_scores(monkeypatch, [0.5, 0.4, 0.4], errors=errors)
    clf = FineTuneClassifier(**AUTO).fit(X, y)
    tried = errors >= MIN_HELD_OUT_ERRORS
    assert _phases(clf) == ["frozen"] + ["trial"] * 2 * tried
    assert clf.unfrozen_epochs_ == 0


def test_auto_phase_two_of_a_regressor_is_always_tried():
    """A regression has no errors to count: the trial decides."""
    from skfinetune import FineTuneRegressor

    from _tiny import make_brightness

    X, target = make_brightness(24)
    reg = FineTuneRegressor(**AUTO).fit(X, target)
    assert "trial" in _phases(reg)
    assert reg.unfrozen_epochs_ == _phases(reg).count("unfrozen")
