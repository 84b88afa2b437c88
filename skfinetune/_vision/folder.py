"""load_image_folder: ``(X, y)`` from a folder of one sub-folder per class."""

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .decoding import _n_threads, open_image

#: File name endings read as images (torchvision's ``IMG_EXTENSIONS`` and GIF).
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".bmp",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
)


def _unreadable(paths):
    """``(path, reason)`` for each file that does not decode completely."""

    def check(path):
        try:
            open_image(path)
        except (ValueError, OSError) as exc:
            return path, str(exc)
        return None

    with ThreadPoolExecutor(_n_threads()) as pool:
        return [r for r in pool.map(check, paths) if r is not None]


def _warn_listing(text, items, limit, sep):
    """One warning: ``text`` then the first ``limit`` items and how many more."""
    more = f"{sep}and {len(items) - limit} more" if len(items) > limit else ""
    warnings.warn(
        f"{text}: {sep.join(items[:limit])}{more}.", UserWarning, stacklevel=3
    )


def _image_files(folder, endings, skipped):
    """Image files under ``folder`` (recursively, sorted, hidden ones left out);
    other files are appended to ``skipped``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = os.path.join(dirpath, name)
            (found if name.lower().endswith(endings) else skipped).append(file)
    return found


def load_image_folder(path, *, labels=True, extensions=IMAGE_EXTENSIONS, verify=False):
    """Image paths and labels from a folder with one sub-folder per class (or,
    with ``labels=False``, the image paths of any folder).

    The layout of Keras' ``flow_from_directory`` and torchvision's ``ImageFolder``::

        path/ants/0013035.jpg
        path/ants/...
        path/bees/...

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding one sub-folder per class.
    labels : bool, default=True
        ``False``: ``path`` is a folder of new, unlabelled images (in it or in
        sub-folders of any depth), and only their paths are returned, ready for
        ``predict``.
    extensions : tuple of str, default=IMAGE_EXTENSIONS
        File name endings (case-insensitive) taken as images.  Other files are
        skipped with a warning naming them; hidden files are skipped silently.
    verify : bool, default=False
        Decode every image now and leave out those that cannot be read
        (truncated, empty, not an image), naming each with its reason in one
        warning, so that a folder with a few broken files trains on the rest.
        Without it, broken files are found when an estimator reads ``X`` (a
        ``ValueError`` naming the file, before any training).

    Returns
    -------
    X : ndarray of shape (n_images,), dtype=object
        Paths of the image files (str), sorted by class then file name (with
        ``labels=False``: by folder, then file name).
    y : ndarray of shape (n_images,), dtype=object
        The class (sub-folder name) of each image; not returned with
        ``labels=False``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a folder, or holds no class sub-folder with an image.

    See Also
    --------
    FineTuneClassifier : Fits on the paths this returns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from skfinetune import load_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for label in ("cat", "dog"):
    ...     (root / label).mkdir()
    ...     Image.new("RGB", (8, 8)).save(root / label / "a.png")
    >>> X, y = load_image_folder(root)
    >>> list(y)
    ['cat', 'dog']
    >>> len(load_image_folder(root, labels=False))  # every image, no labels
    2
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"Image folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is not a folder.")
    endings = tuple(e.lower() for e in extensions)
    skipped = []
    if labels:
        paths, labels = [], []
        for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if class_dir.name.startswith("."):
                continue
            found = _image_files(class_dir, endings, skipped)
            paths += found
            labels += [class_dir.name] * len(found)
    else:
        paths = _image_files(root, endings, skipped)
        labels = None
    if skipped:
        _warn_listing(
            f"Skipped {len(skipped)} non-image file(s) in {str(root)!r}",
            [repr(s) for s in skipped],
            limit=10,
            sep=", ",
        )
    if verify and paths:
        broken = _unreadable(paths)
        if broken:
            bad = {p for p, _ in broken}
            if labels is not None:
                labels = [
                    lab for p, lab in zip(paths, labels, strict=True) if p not in bad
                ]
            paths = [p for p in paths if p not in bad]
            _warn_listing(
                f"Left out {len(broken)} unreadable image file(s) of "
                f"{len(broken) + len(paths)} in {str(root)!r}",
                [f"{p!r}: {reason}" for p, reason in broken],
                limit=20,
                sep="; ",
            )
    if not paths:
        where = "in class sub-folders " if labels is not None else ""
        expected = "<class>/<image>" if labels is not None else "<image>"
        raise ValueError(
            f"Image folder {str(root)!r} holds no images {where}"
            f"(expected {str(root)}/{expected}{endings[0]})."
        )
    X = np.array(paths, dtype=object)
    return X if labels is None else (X, np.array(labels, dtype=object))
