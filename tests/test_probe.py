"""_probe: the head fitted at once on stored features (the linear probe)."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from skfinetune import FineTuneClassifier, FineTuneRegressor
from skfinetune._probe import ALPHAS, fit_probe

from _tiny import TINY


def _accuracy(outputs, targets):
    return (outputs.argmax(1) == targets).float().mean().item()


def _blobs(n=150, n_features=20, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = rng.normal(size=(3, n_features))
    X = centres[y] + noise * rng.normal(size=(n, n_features))
    return torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_a_given_penalty_fits_logistic_regression(alpha):
    """``alpha`` is ``1 / C`` of scikit-learn's multinomial logistic regression."""
    X, y = _blobs()
    head = nn.Linear(X.shape[1], 3)
    used, score = fit_probe(
        head, X, y, nn.CrossEntropyLoss(), _accuracy, alpha, None, 0
    )
    assert used == alpha and 0.5 < score <= 1
    reference = LogisticRegression(C=1 / alpha, tol=1e-8, max_iter=5000).fit(X, y)
    with torch.no_grad():
        ours = head(X).softmax(1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(X), atol=2e-3)


def test_auto_chooses_the_penalty_of_lowest_cross_validated_loss():
    from skfinetune._probe import cross_validate

    clean, y = _blobs(noise=0.3)
    noisy, _ = _blobs(noise=4.0)
    chosen = {}
    for name, X in (("clean", clean), ("noisy", noisy)):
        head = nn.Linear(X.shape[1], 3)
        criterion = nn.CrossEntropyLoss()
        losses, scores = cross_validate(
            head, X, y, criterion, _accuracy, ALPHAS, y.numpy(), 0
        )
        alpha, score = fit_probe(head, X, y, criterion, _accuracy, "auto", y.numpy(), 0)
        assert alpha == ALPHAS[int(np.argmin(losses))] and score == scores.max()
        chosen[name] = (alpha, score)
    assert chosen["noisy"][0] > chosen["clean"][0]  # noise: the stronger penalty
    assert chosen["clean"][1] > chosen["noisy"][1]


def test_too_few_samples_to_cross_validate_take_scikit_learns_c():
    X, y = _blobs(n=6)
    alpha, score = fit_probe(
        nn.Linear(X.shape[1], 3),
        X,
        y,
        nn.CrossEntropyLoss(),
        _accuracy,
        "auto",
        None,
        0,
    )
    assert alpha == 1.0 and score is None


@pytest.mark.parametrize("hidden", [(), (16,)])
def test_lbfgs_fits_phase_one_in_one_step(image_arrays, hidden):
    X, y = image_arrays
    params = dict(
        TINY,
        unfrozen_epochs=0,
        hidden_layer_sizes=hidden,
        dropout=0.0,
        frozen_optimizer="lbfgs",
    )
    clf = FineTuneClassifier(**params).fit(X, y)
    assert clf.alpha_ in ALPHAS
    assert [h["phase"] for h in clf.history_] == ["frozen"]
    assert clf.score(X, y) > 0.9  # two classes a probe separates
    fixed = FineTuneClassifier(**params, alpha=1.0)
    assert fixed.fit(X, y).alpha_ == 1.0


def test_lbfgs_regressor(image_arrays):
    X, y = image_arrays
    target = np.where(y == "top", 1.0, 3.0)  # what the classes differ by
    params = dict(
        TINY, unfrozen_epochs=0, hidden_layer_sizes=(), frozen_optimizer="lbfgs"
    )
    reg = FineTuneRegressor(**params).fit(X, target)
    assert reg.alpha_ in ALPHAS and reg.score(X, target) > 0.5


def test_auto_phase_two_runs_only_where_the_probe_leaves_errors(image_arrays):
    """``unfrozen_epochs="auto"``: no phase 2 when the probe's cross-validated
    accuracy reaches 0.95 (two classes it separates), the default count when it
    does not (labels it cannot predict), and always for a regressor."""
    X, y = image_arrays
    params = dict(TINY, frozen_optimizer="lbfgs", unfrozen_epochs="auto", alpha=1.0)
    clf = FineTuneClassifier(**params).fit(X, y)
    assert clf.probe_score_ >= 0.95 and clf.unfrozen_epochs_ == 0
    assert {h["phase"] for h in clf.history_} == {"frozen"}
    shuffled = np.random.default_rng(0).permutation(y)
    clf = FineTuneClassifier(**params).fit(X, shuffled)
    assert clf.probe_score_ < 0.95 and clf.unfrozen_epochs_ == 3
    assert [h["phase"] for h in clf.history_].count("unfrozen") == 3
    clf = FineTuneClassifier(**dict(params, frozen_optimizer="adam")).fit(X, y)
    assert clf.unfrozen_epochs_ == 3  # no probe: nothing to go by
    reg = FineTuneRegressor(**params).fit(X, np.where(y == "top", 1.0, 3.0))
    assert reg.unfrozen_epochs_ == 3


def test_features_all_stored_and_no_phase_two_hold_no_image(
    image_folder, tmp_path, monkeypatch
):
    """With ``memory``, a fit whose features are all stored neither decodes nor
    reads back its images unless ``"auto"`` then runs phase 2, which holds them
    once for its epochs."""
    from skfinetune import load_image_folder
    from skfinetune._feeding import Feeder, HeldData

    X, y = load_image_folder(image_folder)
    params = dict(
        TINY,
        frozen_optimizer="lbfgs",
        unfrozen_epochs="auto",
        alpha=1.0,
        memory=str(tmp_path),
    )
    FineTuneClassifier(**params).fit(X, y)  # stores the features
    held = []
    hold = Feeder.hold

    def counted(self, data):
        if not isinstance(data, HeldData):  # held already: nothing to decode
            held.append(1)
        return hold(self, data)

    monkeypatch.setattr(Feeder, "hold", counted)
    clf = FineTuneClassifier(**params).fit(X, y)
    assert clf.unfrozen_epochs_ == 0 and held == []
    shuffled = np.random.default_rng(0).permutation(y)
    clf = FineTuneClassifier(**params).fit(X, shuffled)
    assert clf.unfrozen_epochs_ == 3 and held == [1]
    assert [h["phase"] for h in clf.history_].count("unfrozen") == 3


def test_the_probe_is_logged_as_a_probe_not_an_epoch(image_arrays, capsys):
    X, y = image_arrays
    params = dict(TINY, frozen_optimizer="lbfgs", unfrozen_epochs=0, verbose=1)
    FineTuneClassifier(**params).fit(X, y)
    out = capsys.readouterr().out
    assert "linear head fitted at once" in out and "epoch   1/1" not in out
