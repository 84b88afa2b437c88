"""_recipe: the fine-tuning recipe apart from the estimator — it returns one
result that ``fit`` writes once, and a fit that fails leaves the estimator as
it was."""

from types import SimpleNamespace

import numpy as np
import pytest

from skfinetune import FineTuneClassifier
from skfinetune._recipe import Recipe, Task
from skfinetune._training import AUTO_UNFROZEN_EPOCHS, Trainer

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


def _recipe(unfrozen_epochs, skip=None, early_stopping=False):
    params = SimpleNamespace(
        unfrozen_epochs=unfrozen_epochs,
        early_stopping=early_stopping,
        validation_fraction=0.25,
    )
    task = Task(
        probe_criterion=None,
        score=None,
        stratify=lambda targets: targets,
        auto_skip_score=skip,
    )
    return Recipe(params, task, feeder=None, seed=0, name="Estimator")


def test_phase_two_length_by_the_rule_of_auto():
    assert _recipe(4).unfrozen_epochs_for(0.99) == 4
    assert _recipe("auto", skip=0.95).unfrozen_epochs_for(0.96) == 0
    assert _recipe("auto", skip=0.95).unfrozen_epochs_for(0.90) == AUTO_UNFROZEN_EPOCHS
    assert _recipe("auto").unfrozen_epochs_for(0.99) == AUTO_UNFROZEN_EPOCHS
    assert _recipe("auto", skip=0.95).unfrozen_epochs_for(None) == AUTO_UNFROZEN_EPOCHS


def test_the_validation_split_is_seeded_and_stratified():
    targets = np.array([0] * 12 + [1] * 4)
    train, valid = _recipe(1, early_stopping=True).split(targets)
    again = _recipe(1, early_stopping=True).split(targets)
    np.testing.assert_array_equal(valid, again[1])
    assert len(valid) == 4 and np.bincount(targets[valid]).tolist() == [3, 1]
    assert sorted([*train, *valid]) == list(range(16))
    train, valid = _recipe(1).split(targets)
    assert len(train) == 16 and len(valid) == 0  # no early stopping: no split
