"""Predicting many image files: chunk by chunk, in the order given, with files
that cannot be read skipped and reported where asked."""

from collections import namedtuple

import numpy as np
from sklearn.utils.validation import check_is_fitted

#: One file's result: its ``path``; its ``prediction`` (a class label, a 0/1
#: row for multi-label, or the predicted value(s)); its ``probabilities`` (a
#: classifier's ``predict_proba`` row, else ``None``); and ``error``, ``None``
#: or why the file could not be read (its prediction is then ``None``).
FilePrediction = namedtuple(
    "FilePrediction", ["path", "prediction", "probabilities", "error"]
)

#: What an unreadable, missing or damaged file raises while it is read.
_FILE_ERRORS = (ValueError, FileNotFoundError, OSError)


def predict_files(estimator, paths, *, on_error="raise", chunk_size=1000):
    """Predict image files chunk by chunk, in the order given.

    Memory stays that of one chunk, whatever the number of files.  With
    ``on_error="skip"``, a file that cannot be read (missing, not an image,
    truncated) is reported with its error and the others are predicted: one bad
    file among thousands does not stop the run.

    Parameters
    ----------
    estimator : FineTuneClassifier or FineTuneRegressor
        Fitted on images.
    paths : sequence of str or path-like
        Image files.
    on_error : {"raise", "skip"}, default="raise"
        ``"raise"``: the first file that cannot be read raises its
        ``ValueError`` (or ``FileNotFoundError``).  ``"skip"``: it is yielded
        with ``error`` set and ``prediction`` ``None``.
    chunk_size : int, default=1000
        Files read and predicted at a time.

    Yields
    ------
    result : FilePrediction
        ``(path, prediction, probabilities, error)``, one per path, in order.

    See Also
    --------
    load_image_folder : The image files of a folder, for ``paths``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skfinetune import FineTuneClassifier, predict_files
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    >>> clf = FineTuneClassifier(
    ...     "squeezenet1_1", weights=None, image_size=32, random_state=0
    ... ).fit(X, ["a", "b"] * 4)
    >>> folder = tempfile.mkdtemp()
    >>> Image.fromarray(X[0]).save(os.path.join(folder, "good.png"))
    >>> with open(os.path.join(folder, "bad.jpg"), "wb") as f:
    ...     _ = f.write(b"not an image")
    >>> paths = [os.path.join(folder, n) for n in ("good.png", "bad.jpg")]
    >>> results = list(predict_files(clf, paths, on_error="skip"))
    >>> [r.error is None for r in results]
    [True, False]
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}.")
    if not hasattr(estimator, "predict"):
        raise TypeError(
            f"predict_files needs a classifier or a regressor; "
            f"{type(estimator).__name__} does not predict (use transform)."
        )
    check_is_fitted(estimator)
    paths = list(paths)
    for start in range(0, len(paths), chunk_size):
        chunk = paths[start : start + chunk_size]
        try:
            yield from _predict(estimator, chunk)
        except _FILE_ERRORS:
            if on_error == "raise":
                raise
            for path in chunk:  # find the bad files: one at a time
                try:
                    yield from _predict(estimator, [path])
                except _FILE_ERRORS as exc:
                    message = str(exc).strip().splitlines()
                    yield FilePrediction(
                        path, None, None, message[0] if message else repr(exc)
                    )


def _predict(estimator, paths):
    """The results of one chunk (raises if any file cannot be read)."""
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(paths)
        if estimator.out_activation_ == "logistic":  # multi-label: 0/1 rows
            labels = list((proba > 0.5).astype(int))
        else:
            labels = estimator.classes_[proba.argmax(axis=1)].tolist()
        return [
            FilePrediction(path, label, row, None)
            for path, label, row in zip(paths, labels, proba, strict=True)
        ]
    values = np.asarray(estimator.predict(paths))
    return [
        FilePrediction(path, value, None, None)
        for path, value in zip(paths, values, strict=True)
    ]
