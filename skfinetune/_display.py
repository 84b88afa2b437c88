"""Displays in scikit-learn's style (``from_estimator``, ``plot``, ``ax=``).

matplotlib is an optional dependency (``pip install skfinetune[plots]``), imported
only when something is drawn.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted


def check_matplotlib_support(caller):
    """Raise an ImportError that says how to install matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            f"{caller} needs matplotlib: pip install matplotlib (or skfinetune[plots])."
        ) from None


_PHASE_COLOURS = {"frozen": "tab:blue", "unfrozen": "tab:orange"}


class TrainingHistoryDisplay:
    """Training curves of a fine-tuning estimator: loss (and validation score) per
    epoch across both phases and warm-started fits, phase boundaries marked.

    Use :meth:`from_estimator` (or build it from a ``history_`` list and call
    :meth:`plot`).

    Parameters
    ----------
    history : list of dict
        The estimator's ``history_``: one dict per epoch with at least
        ``"phase"``, ``"total_epoch"`` and ``"train_loss"``; ``"valid_loss"`` and
        a ``"valid_*"`` score are drawn when present.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes of the losses.
    score_ax_ : matplotlib Axes or None
        The twin axes of the validation score, when the history has one.
    figure_ : matplotlib Figure
    lines_ : dict of str to matplotlib Line2D
        ``"train_loss"``, ``"valid_loss"`` and the score's name, as drawn.
    boundaries_ : list of matplotlib Line2D
        Vertical lines where a phase (or a warm-started fit) begins.

    See Also
    --------
    FineTuneClassifier : Records ``history_``.
    sklearn.model_selection.LearningCurveDisplay : Score against training size.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skfinetune import FineTuneClassifier, TrainingHistoryDisplay
    >>> X = np.random.default_rng(0).integers(0, 255, (20, 16, 16, 3), np.uint8)
    >>> y = np.arange(20) % 2
    >>> clf = FineTuneClassifier(
    ...     "squeezenet1_1", weights=None, image_size=32, frozen_epochs=2,
    ...     unfrozen_epochs=2, random_state=0,
    ... ).fit(X, y)
    >>> display = TrainingHistoryDisplay.from_estimator(clf)
    >>> sorted(display.lines_)
    ['train_loss']
    """

    def __init__(self, history):
        self.history = history

    @classmethod
    def from_estimator(cls, estimator, *, ax=None):
        """Plot the ``history_`` of a fitted fine-tuning estimator.

        Parameters
        ----------
        estimator : FineTuneClassifier or FineTuneRegressor
            A fitted estimator.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.

        Returns
        -------
        display : TrainingHistoryDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator, "history_")
        if not estimator.history_:
            raise ValueError(
                f"{type(estimator).__name__} has an empty history_ (fitted with 0 "
                "epochs): there is nothing to plot."
            )
        return cls(estimator.history_).plot(ax=ax)

    def plot(self, *, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.

        Returns
        -------
        self : TrainingHistoryDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        history = self.history
        epochs = np.array([h["total_epoch"] for h in history])
        self.lines_ = {}
        (self.lines_["train_loss"],) = ax.plot(
            epochs, [h["train_loss"] for h in history], "-o", label="train loss"
        )
        if all("valid_loss" in h for h in history):
            (self.lines_["valid_loss"],) = ax.plot(
                epochs, [h["valid_loss"] for h in history], "-s", label="valid loss"
            )
        self.boundaries_ = []
        for previous, entry in zip(history, history[1:], strict=False):
            if (previous["phase"], previous.get("fit")) != (
                entry["phase"],
                entry.get("fit"),
            ):
                self.boundaries_.append(
                    ax.axvline(
                        entry["total_epoch"] - 0.5,
                        color=_PHASE_COLOURS.get(entry["phase"], "grey"),
                        linestyle="--",
                        label=f"{entry['phase']} phase begins",
                    )
                )
        ax.set_xlabel("epoch (all phases and fits)")
        ax.set_ylabel("loss")
        self.score_ax_ = None
        scores = [
            k for k in history[-1] if k.startswith("valid_") and k != "valid_loss"
        ]
        if scores and all(scores[0] in h for h in history):
            name = scores[0]
            self.score_ax_ = ax.twinx()
            (self.lines_[name],) = self.score_ax_.plot(
                epochs,
                [h[name] for h in history],
                "-^",
                color="tab:green",
                label=name.replace("_", " "),
            )
            self.score_ax_.set_ylabel(name.replace("_", " "))
        handles = {}
        for artist in [*self.lines_.values(), *self.boundaries_]:
            handles.setdefault(artist.get_label(), artist)  # one entry per label
        # on the top axes, so that no curve is drawn over it
        top = self.score_ax_ if self.score_ax_ is not None else ax
        top.legend(handles=list(handles.values()), labels=list(handles), framealpha=0.9)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
