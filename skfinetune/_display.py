"""Displays in scikit-learn's style (``from_estimator``, ``plot``, ``ax=``).

matplotlib is an optional dependency (``pip install matplotlib``), imported
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
            f"{caller} needs matplotlib: pip install matplotlib."
        ) from None


_PHASE_COLOURS = {"frozen": "tab:blue", "trial": "tab:green", "unfrozen": "tab:orange"}


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


class TopLossesDisplay:
    """The images a classifier gets most wrong: the highest log-loss images with
    their true and predicted labels and the predicted probability (fastai's
    ``plot_top_losses``).

    Misclassified images come first (their loss exceeds that of any correctly
    classified image of a binary task), so the grid is the misclassified-images
    view of a model; each title is red where the prediction is wrong.  Use
    :meth:`from_estimator`.

    Parameters
    ----------
    images : list of ndarray
        The images to draw, ``(height, width, 3)`` uint8, highest loss first.
    y_true, y_pred : array-like of shape (n_images,)
        True and predicted labels of those images.
    probabilities : array-like of shape (n_images,)
        The predicted probability of each predicted label.
    losses : array-like of shape (n_images,)
        Log-loss of each image (``-log`` of the true label's probability).
    indices : array-like of shape (n_images,), default=None
        Positions of the images in the ``X`` they came from.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        One per image (extra axes of the grid are hidden).
    images_ : list of matplotlib AxesImage
    figure_ : matplotlib Figure

    See Also
    --------
    TrainingHistoryDisplay : Training curves.
    sklearn.metrics.ConfusionMatrixDisplay : Counts of each kind of error.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skfinetune import FineTuneClassifier, TopLossesDisplay
    >>> X = np.random.default_rng(0).integers(0, 255, (20, 16, 16, 3), np.uint8)
    >>> y = np.arange(20) % 2
    >>> clf = FineTuneClassifier(
    ...     "squeezenet1_1", weights=None, image_size=32, frozen_epochs=2,
    ...     unfrozen_epochs=0, random_state=0,
    ... ).fit(X, y)
    >>> display = TopLossesDisplay.from_estimator(clf, X, y, n_images=4)
    >>> len(display.images_)
    4
    """

    def __init__(self, images, y_true, y_pred, probabilities, losses, indices=None):
        self.images = images
        self.y_true = y_true
        self.y_pred = y_pred
        self.probabilities = probabilities
        self.losses = losses
        self.indices = indices

    @classmethod
    def from_estimator(cls, estimator, X, y, *, n_images=9, ax=None, ncols=3):
        """Draw the ``n_images`` highest-loss images of ``X``.

        Parameters
        ----------
        estimator : FineTuneClassifier
            A fitted single-label classifier.
        X : images
            Any kind of ``X`` the estimator was fitted on (paths, PIL images,
            arrays); each is drawn as the estimator stores it (resized, before
            cropping).
        y : array-like of shape (n_samples,)
            True labels.
        n_images : int, default=9
            How many images to draw (fewer if ``X`` has fewer).
        ax : array-like of matplotlib Axes, default=None
            One Axes per image; a new figure when ``None``.
        ncols : int, default=3
            Columns of the new figure's grid.

        Returns
        -------
        display : TopLossesDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        if not hasattr(estimator, "predict_proba"):
            raise ValueError(
                f"{cls.__name__} needs a single-label classifier with predict_proba;"
                f" got {type(estimator).__name__}."
            )
        check_is_fitted(estimator, "classes_")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(
                f"{cls.__name__} needs a single-label classifier; y is an "
                f"indicator matrix of {y.shape[1]} labels (multi-label)."
            )
        if not (isinstance(n_images, int) and n_images > 0):
            raise ValueError(f"n_images must be a positive int; got {n_images!r}.")
        proba = estimator.predict_proba(X)
        if len(y) != len(proba):
            raise ValueError(f"X has {len(proba)} images but y has {len(y)} labels.")
        position = {c: i for i, c in enumerate(estimator.classes_.tolist())}
        unknown = sorted({str(v) for v in y.tolist() if v not in position})
        if unknown:
            raise ValueError(
                f"y has labels the classifier was not fitted on: {unknown[:5]}."
            )
        codes = np.array([position[v] for v in y.tolist()])
        rows = np.arange(len(y))
        losses = -np.log(np.clip(proba[rows, codes], 1e-12, 1))
        order = np.argsort(-losses, kind="stable")[:n_images]
        best = proba[order].argmax(axis=1)
        data = estimator.__skfinetune_export__().read(X)
        images = [_as_picture(data.load([int(i)])[0]) for i in order]
        return cls(
            images,
            y[order],
            estimator.classes_[best],
            proba[order, best],
            losses[order],
            indices=order,
        ).plot(ax=ax, ncols=ncols)

    def plot(self, *, ax=None, ncols=3):
        """Draw the images in a grid, titled "predicted / true / probability / loss".

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            One Axes per image; a new figure when ``None``.
        ncols : int, default=3
            Columns of the new figure's grid.

        Returns
        -------
        self : TopLossesDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        n = len(self.images)
        if ax is None:
            ncols = max(1, min(ncols, n))
            nrows = -(-n // ncols)
            _, ax = plt.subplots(
                nrows, ncols, figsize=(2.6 * ncols, 2.9 * nrows), squeeze=False
            )
        axes = np.asarray(ax, dtype=object).ravel()
        if len(axes) < n:
            raise ValueError(f"ax has {len(axes)} Axes for {n} images.")
        self.images_ = []
        for i, a in enumerate(axes):
            a.set_axis_off()
            if i >= n:
                continue
            self.images_.append(a.imshow(self.images[i]))
            wrong = self.y_pred[i] != self.y_true[i]
            a.set_title(
                f"{self.y_pred[i]} / {self.y_true[i]}\n"
                f"p={self.probabilities[i]:.2f}  loss={self.losses[i]:.2f}",
                fontsize=9,
                color="tab:red" if wrong else "black",
            )
        self.axes_ = axes[:n]
        self.figure_ = axes[0].figure
        self.figure_.suptitle("predicted / true, probability, loss", fontsize=10)
        return self


def _as_picture(tensor):
    """A ``(C, S, S)`` image tensor as stored by the estimator -> ``(S, S, 3)``
    uint8 for ``imshow``."""
    array = tensor.cpu().numpy()
    if array.dtype != np.uint8:  # float rows in [0, 1]
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    if array.shape[0] == 1:
        array = np.repeat(array, 3, axis=0)
    return array.transpose(1, 2, 0)
