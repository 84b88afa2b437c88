"""The command line's texts: a CSV file with a column of texts (and one of
targets), read with the standard library, for ``fit``, ``predict`` and
``evaluate`` of a text model."""

import csv
import os

import numpy as np

#: Texts predicted at a time (memory stays that of one chunk).
CHUNK = 1000


class TableError(ValueError):
    """A CSV file that cannot serve as asked (the command line's usage error)."""


def is_table(path):
    """Whether ``path`` names a CSV file of texts (rather than images)."""
    return os.path.isfile(path) and str(path).lower().endswith((".csv", ".tsv"))


def read_table(path, text_column, target_column=None):
    """``(texts, targets or None)`` from the CSV file ``path``."""
    delimiter = "\t" if str(path).lower().endswith(".tsv") else ","
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            columns = reader.fieldnames or []
            wanted = [c for c in (text_column, target_column) if c is not None]
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise TableError(
                    f"{str(path)!r} has no column {missing[0]!r} (its columns: "
                    f"{columns}); name the columns with --text-column and "
                    "--target-column"
                )
            rows = list(reader)
    except UnicodeDecodeError:
        raise TableError(f"{str(path)!r} is not UTF-8 text") from None
    except csv.Error as exc:
        raise TableError(f"{str(path)!r} is not a readable CSV file: {exc}") from None
    if not rows:
        raise TableError(f"{str(path)!r} has no rows")
    texts = [row[text_column] or "" for row in rows]
    empty = [i + 2 for i, text in enumerate(texts) if not text.strip()]
    if empty:
        raise TableError(
            f"{str(path)!r} has {len(empty)} row(s) without text in column "
            f"{text_column!r} (lines {empty[:5]}); drop them"
        )
    if target_column is None:
        return texts, None
    targets = np.array([row[target_column] for row in rows], dtype=object)
    return texts, targets.astype(str)


def predict_table(estimator, texts, writer, proba, text_column, progress=None):
    """Write one CSV row per text: the text, the prediction, and the
    probabilities with ``proba``; chunk by chunk."""
    classifier = hasattr(estimator, "classes_")
    if classifier:
        header = [text_column, "label"]
        if proba:
            header += [str(c) for c in estimator.classes_]
    elif estimator.n_outputs_ == 1:
        header = [text_column, "prediction"]
    else:
        header = [text_column] + [
            f"prediction_{i}" for i in range(estimator.n_outputs_)
        ]
    writer.writerow(header)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        if classifier:
            probabilities = estimator.predict_proba(chunk)
            for text, p in zip(chunk, probabilities, strict=True):
                if estimator.out_activation_ == "logistic":  # multi-label
                    label = ";".join(str(c) for c in estimator.classes_[p > 0.5])
                else:
                    label = estimator.classes_[int(np.argmax(p))]
                cells = [label] + ([f"{v:.6g}" for v in p] if proba else [])
                writer.writerow([text, *cells])
        else:
            for text, p in zip(chunk, estimator.predict(chunk), strict=True):
                writer.writerow([text, *[f"{v:.6g}" for v in np.ravel(p)]])
        if progress is not None:
            progress(min(start + CHUNK, len(texts)), len(texts))
