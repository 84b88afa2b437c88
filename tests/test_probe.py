"""_probe: the head fitted at once on stored features (the linear probe)."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from skfinetune import FineTuneClassifier, FineTuneRegressor, _probe
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


def _splits(n, seed=0, n_splits=1):
    from sklearn.model_selection import ShuffleSplit

    cv = ShuffleSplit(n_splits, test_size=0.2, random_state=seed)
    return [(torch.as_tensor(a), torch.as_tensor(b)) for a, b in cv.split(np.zeros(n))]


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_a_given_penalty_fits_logistic_regression(alpha):
    """``alpha`` is ``1 / C`` of scikit-learn's multinomial logistic regression."""
    X, y = _blobs()
    head = nn.Linear(X.shape[1], 3)
    used, score = fit_probe(head, X, y, nn.CrossEntropyLoss(), _accuracy, alpha)
    assert used == alpha and score is None  # no held-out part: no score
    reference = LogisticRegression(C=1 / alpha, tol=1e-8, max_iter=5000).fit(X, y)
    with torch.no_grad():
        ours = head(X).softmax(1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(X), atol=2e-3)


def test_the_features_offset_changes_nothing():
    """The features are centred inside (the bias takes the mean back): shifted
    features give the same predictions."""
    X, y = _blobs()
    outputs = []
    for shift in (0.0, 50.0):
        torch.manual_seed(0)
        head = nn.Linear(X.shape[1], 3)
        fit_probe(head, X + shift, y, nn.CrossEntropyLoss(), _accuracy, 1.0)
        with torch.no_grad():
            outputs.append(head(X + shift).softmax(1).numpy())
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-3)


def test_auto_takes_the_penalty_of_lowest_held_out_loss_and_its_score():
    """The path finds the penalty a full search of the grid finds, without
    fitting every one; the score returned is that penalty's (not the best
    score of any penalty)."""
    calls = []
    minimise = _probe._minimise

    def counted(*args, **kwargs):
        calls.append(args[4])
        return minimise(*args, **kwargs)

    clean, y = _blobs(noise=0.3)
    noisy, _ = _blobs(noise=4.0)
    criterion = nn.CrossEntropyLoss()
    chosen = {}
    for name, X in (("clean", clean), ("noisy", noisy)):
        splits = _splits(len(X), n_splits=3)
        full, scores = [], []
        for a in ALPHAS:  # every penalty, each from scratch
            losses, accuracies = [], []
            for train, held in splits:
                torch.manual_seed(0)
                head = nn.Linear(X.shape[1], 3)
                fit_probe(head, X[train], y[train], criterion, _accuracy, a)
                with torch.no_grad():
                    losses.append(criterion(head(X[held]), y[held]).item())
                    accuracies.append(_accuracy(head(X[held]), y[held]))
            full.append(np.mean(losses))
            scores.append(accuracies)
        calls.clear()
        torch.manual_seed(0)
        head = nn.Linear(X.shape[1], 3)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_probe, "_minimise", counted)
            alpha, score = fit_probe(head, X, y, criterion, _accuracy, "auto", splits)
        best = int(np.argmin(full))
        assert alpha == ALPHAS[best]
        assert len(calls) < len(ALPHAS) * len(splits)  # not every penalty
        one = 1 / len(splits[0][1])  # one held-out sample
        assert score == pytest.approx(np.mean(scores[best]), abs=one)
        train, held = splits[0]  # the head is the first split's, at that penalty
        with torch.no_grad():
            first = _accuracy(head(X[held]), y[held])
        assert first == pytest.approx(scores[best][0], abs=one)
        chosen[name] = (alpha, score)
    assert chosen["noisy"][0] > chosen["clean"][0]  # noise: the stronger penalty
    assert chosen["clean"][1] > chosen["noisy"][1]


def test_without_a_held_out_part_auto_takes_scikit_learns_c():
    X, y = _blobs(n=6)
    head = nn.Linear(X.shape[1], 3)
    alpha, score = fit_probe(head, X, y, nn.CrossEntropyLoss(), _accuracy, "auto")
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


def test_features_all_stored_and_no_phase_two_hold_no_image(
    image_folder, tmp_path, monkeypatch
):
    """With ``memory``, a fit whose features are all stored neither decodes nor
    reads back its images unless ``"auto"`` then tries phase 2, which holds them
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
    assert clf.unfrozen_epochs_ == 0 and held == []  # the probe errs on none
    # as if the probe erred on enough held-out images to try phase 2
    monkeypatch.setattr(FineTuneClassifier, "_errors", lambda *args: 5)
    clf = FineTuneClassifier(**params).fit(X, y)
    assert "trial" in [h["phase"] for h in clf.history_] and held == [1]


def test_the_probe_is_logged_as_a_probe_not_an_epoch(image_arrays, capsys):
    X, y = image_arrays
    params = dict(TINY, frozen_optimizer="lbfgs", unfrozen_epochs=0, verbose=1)
    FineTuneClassifier(**params).fit(X, y)
    out = capsys.readouterr().out
    assert "linear head fitted at once" in out and "epoch   1/1" not in out
