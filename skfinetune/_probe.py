"""A head fitted to convergence on stored features: the linear probe as phase 1.

``fit_probe`` minimises ``criterion(head(features), y) + alpha / (2 n) * ||W||^2``
(the weights, not the biases, as ``MLPClassifier``'s ``alpha``) over all the
features at once with L-BFGS. With ``alpha="auto"`` the penalty is chosen from
``ALPHAS`` by k-fold cross-validation of the loss on the same features, as
``LogisticRegressionCV(scoring="neg_log_loss")`` chooses ``C = 1 / alpha``; each
fold walks the grid from the weakest penalty up, warm-starting from the
previous solution.  The cross-validated score it returns tells how well the frozen
features already solve the task (``unfrozen_epochs="auto"`` reads it).
"""

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

#: Penalties ``alpha`` tried with ``alpha="auto"``: LogisticRegressionCV's ``Cs=10``.
ALPHAS = tuple(np.logspace(4, -4, 10))
N_FOLDS = 5
MAX_ITER = 200


def _weights(head):
    return [p for name, p in head.named_parameters() if name.endswith("weight")]


def _minimise(head, feats, y, criterion, alpha, max_iter):
    """Full-batch L-BFGS on the penalised loss, in float32 whatever autocast says
    and without dropout."""
    params = [p for p in head.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-10,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )
    scale = alpha / (2 * len(feats))

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(head(feats), y)
        loss = loss + scale * sum((w * w).sum() for w in _weights(head))
        loss.backward()
        return loss

    # in inference mode: dropout would make the objective random, which L-BFGS's
    # line search cannot follow (the penalty is the regularisation here)
    head.eval()
    with torch.autocast(feats.device.type, enabled=False):
        optimizer.step(closure)


def _folds(n, stratify, seed):
    if stratify is not None and np.bincount(stratify).min() >= N_FOLDS:
        return StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed).split(
            np.zeros(n), stratify
        )
    return KFold(N_FOLDS, shuffle=True, random_state=seed).split(np.zeros(n))


def cross_validate(head, feats, y, criterion, score, alphas, stratify, seed):
    """Mean held-out loss (``criterion``) and ``score`` of each penalty of
    ``alphas`` over k folds.  Each fold walks the penalties from the weakest up,
    warm-starting from the previous solution (from the strongest down, a head
    with hidden layers would shrink to zero first and stay there: a saddle
    point).  ``head`` is left as it was."""
    start = {k: v.clone() for k, v in head.state_dict().items()}
    losses = np.zeros(len(alphas))
    scores = np.zeros(len(alphas))
    folds = list(_folds(len(feats), stratify, seed))
    for train, test in folds:
        train = torch.as_tensor(train, device=feats.device)
        test = torch.as_tensor(test, device=feats.device)
        head.load_state_dict(start)
        for i in np.argsort(alphas):
            _minimise(head, feats[train], y[train], criterion, alphas[i], MAX_ITER)
            with torch.no_grad():
                outputs = head(feats[test])
                losses[i] += criterion(outputs, y[test]).item()
                scores[i] += score(outputs, y[test])
    head.load_state_dict(start)
    return losses / len(folds), scores / len(folds)


def fit_probe(head, feats, y, criterion, score, alpha, stratify, seed):
    """Fit ``head`` in place on all of ``feats``.

    Returns the penalty used (with ``alpha="auto"``, the one of ``ALPHAS`` of
    lowest cross-validated loss: for a classifier the log-loss, smoother than
    the accuracy on small folds, as ``LogisticRegressionCV(scoring=
    "neg_log_loss")``) and the probe's cross-validated ``score``: the best over
    the penalties tried (``LogisticRegressionCV``'s with accuracy as scoring);
    ``None`` with fewer than ``2 * N_FOLDS`` samples, where ``alpha="auto"``
    means 1 (``C=1``, scikit-learn's default).
    """
    feats = feats.float()
    if len(feats) < 2 * N_FOLDS:  # too few to cross-validate: C=1 as scikit-learn
        alpha = 1.0 if alpha == "auto" else alpha
        _minimise(head, feats, y, criterion, alpha, MAX_ITER)
        return float(alpha), None
    alphas = ALPHAS if alpha == "auto" else (alpha,)
    losses, scores = cross_validate(
        head, feats, y, criterion, score, alphas, stratify, seed
    )
    alpha = alphas[int(np.argmin(losses))]
    _minimise(head, feats, y, criterion, alpha, MAX_ITER)
    return float(alpha), float(scores.max())
