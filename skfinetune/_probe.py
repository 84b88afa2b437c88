"""A head fitted to convergence on stored features: the linear probe as phase 1.

``fit_probe`` minimises ``criterion(head(features), y) + alpha / (2 n) * ||W||^2``
(the weights, not the biases, as ``MLPClassifier``'s ``alpha``) over all the
features at once with L-BFGS.  With ``alpha="auto"`` the penalty is chosen from
``ALPHAS`` (``LogisticRegressionCV``'s ``Cs=10``, ``C = 1 / alpha``) by the loss
on a held-out part of the training data, the part that also decides phase 2, and
the probe's score on it (``probe_score_``) is that of the penalty chosen.  The
part is ``validation_fraction`` of the data; where it holds fewer than
``MIN_HELD_OUT`` samples, further random splits of the same size are added (up
to ``MAX_SPLITS``), so that the penalty rests on that many held-out predictions
at least (on every sample, for small data) and the cost stays bounded for large
data, where one split is enough.

What keeps it cheap (well below the feature extraction it follows):

- the penalties are walked as a path, each fit warm-started from the previous
  one: a linear head from the middle of the grid towards weaker penalties while
  the held-out loss falls, back towards stronger ones only if the first step
  already rose, stopping after two rises in a row (the weakest penalties, the
  costliest to fit, are reached only where they could win); a head with hidden
  layers walks from the weakest up (from the strongest down it would shrink to
  zero first and stay there: a saddle point);
- the features are centred (the first layer's bias is unpenalised, so the
  optimum is the same; L-BFGS needs a third of the iterations);
- along the path L-BFGS stops at scikit-learn's ``tol`` (no gradient entry
  above ``1e-4``); the model kept is fitted to ``1e-6``.
"""

from contextlib import contextmanager

import numpy as np
import torch

#: Penalties ``alpha`` tried with ``alpha="auto"``: LogisticRegressionCV's ``Cs=10``.
ALPHAS = tuple(np.logspace(4, -4, 10))
MAX_ITER = 200
#: Held-out predictions the penalty is chosen on, at least (see above)...
MIN_HELD_OUT = 250
#: ...with at most this many random splits.
MAX_SPLITS = 5
#: The path stops after the held-out loss rose on this many penalties in a row.
PATIENCE = 2
#: L-BFGS stops where no gradient entry of the (mean) loss exceeds this:
#: scikit-learn's ``tol`` for its lbfgs solver, along the path...
TOLERANCE_GRAD = 1e-4
#: ...and closer to the optimum for the model kept (one fit, warm-started).
FINAL_TOLERANCE = 1e-6


def _weights(head):
    return [p for name, p in head.named_parameters() if name.endswith("weight")]


def _is_linear(head):
    return len(_weights(head)) == 1


def _first_linear(head):
    return next(m for m in head.modules() if isinstance(m, torch.nn.Linear))


@contextmanager
def _centred(head, mean):
    """``head`` as a function of ``features - mean`` inside, of the features
    outside (the mean moves in and out of the first layer's bias)."""
    first = _first_linear(head)
    with torch.no_grad():
        first.bias += first.weight @ mean
    try:
        yield
    finally:
        with torch.no_grad():
            first.bias -= first.weight @ mean


def _minimise(head, feats, y, criterion, alpha, tolerance=TOLERANCE_GRAD):
    """Full-batch L-BFGS on the penalised loss, in float32 whatever autocast says
    and without dropout."""
    params = [p for p in head.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=MAX_ITER,
        history_size=20,
        tolerance_grad=tolerance,
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


def _walk(head, alphas):
    """Indices of ``alphas`` in the order the path visits them: one leg, or two
    from the same start (the second taken only if the minimum is the start)."""
    order = list(np.argsort(alphas)[::-1])  # strongest first
    if not _is_linear(head):
        return [order[::-1]]
    middle = len(order) // 2
    return [order[middle:], order[:middle][::-1]]


def _state(head):
    return {k: v.detach().clone() for k, v in head.state_dict().items()}


def penalty_path(head, feats, y, splits, criterion, score, alphas):
    """Fit ``head`` on each split's training part along the path of ``alphas``
    (see the module docstring).  Features centred already.  Returns the mean
    held-out losses and scores over the splits (``nan`` where the path did not
    go) and each split's head state at the penalty of lowest mean loss."""
    losses = np.full(len(alphas), np.nan)
    scores = np.full(len(alphas), np.nan)
    start, best, best_states = _state(head), np.inf, None
    for leg, path in enumerate(_walk(head, alphas)):
        states = [start] * len(splits) if best_states is None else best_states
        rises = 0
        for i in path:
            loss = value = 0.0
            new_states = []
            for (train, held), state in zip(splits, states, strict=True):
                head.load_state_dict(state)
                _minimise(head, feats[train], y[train], criterion, alphas[i])
                with torch.no_grad():
                    outputs = head(feats[held])
                    loss += criterion(outputs, y[held]).item()
                    value += score(outputs, y[held])
                new_states.append(_state(head))
            states = new_states
            losses[i], scores[i] = loss / len(splits), value / len(splits)
            if losses[i] < best:
                best, best_states, rises = losses[i], states, 0
            else:
                rises += 1
                if rises >= PATIENCE:
                    break
        if leg == 0 and int(np.nanargmin(losses)) != path[0]:
            break  # the minimum lies on this side of the start: no turning back
    return losses, scores, best_states


def fit_probe(head, feats, y, criterion, score, alpha, splits=()):
    """Fit ``head`` in place.

    With ``splits`` (pairs of training and held-out index tensors into
    ``feats``), ``alpha="auto"`` takes the penalty of ``ALPHAS`` of lowest mean
    held-out loss (for a classifier the log-loss, smoother than the accuracy on
    small parts, as ``LogisticRegressionCV(scoring="neg_log_loss")``), and
    ``head`` is left fitted on the first split's training part; without,
    ``head`` is fitted on every sample and ``"auto"`` means 1 (``C=1``,
    scikit-learn's default).  Returns the penalty used and its mean held-out
    ``score`` (``None`` without splits).
    """
    feats = feats.float()
    mean = feats.mean(0)
    with _centred(head, mean):
        if not splits:
            alpha = 1.0 if alpha == "auto" else alpha
            _minimise(head, feats - mean, y, criterion, alpha, FINAL_TOLERANCE)
            return float(alpha), None
        alphas = ALPHAS if alpha == "auto" else (alpha,)
        losses, scores, states = penalty_path(
            head, feats - mean, y, splits, criterion, score, alphas
        )
        head.load_state_dict(states[0])
        best = int(np.nanargmin(losses))
        return float(alphas[best]), float(scores[best])
