"""The command line: ``python -m skfinetune`` (or ``skfinetune``) fit, predict,
evaluate.

Results go to standard output (or ``-o``), progress to standard error.  Bad input
— a missing path, a file that is not a model, an unknown ``--set`` parameter or a
value of the wrong type — exits with code 2 and one line naming the problem, as
argparse does for its own usage errors; never a traceback.
"""

import ast
import contextlib
import csv
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ._batch import predict_files
from ._cli_args import parser as _parser
from ._cli_text import TableError, is_table, predict_table, read_table

#: Files predicted at a time: memory stays that of one chunk, whatever the total.
CHUNK = 1000


class UsageError(Exception):
    """Bad input from the command line: exit code 2 and one line."""


class CommandError(Exception):
    """A command that could not finish: exit code 1 and one line."""


# ------------------------------------------------------------------------ helpers
def _value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string: weights=IMAGENET1K_V1, device=cpu


def _estimator(kind, settings, text=False):
    from sklearn.utils._param_validation import InvalidParameterError

    from . import (
        FineTuneClassifier,
        FineTuneRegressor,
        FineTuneTextClassifier,
        FineTuneTextRegressor,
    )

    classes = {
        (False, "classifier"): FineTuneClassifier,
        (False, "regressor"): FineTuneRegressor,
        (True, "classifier"): FineTuneTextClassifier,
        (True, "regressor"): FineTuneTextRegressor,
    }
    cls = classes[text, kind]
    estimator = cls()
    params = {}
    for item in settings:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--set takes PARAM=VALUE; got {item!r}")
        if name not in estimator.get_params():
            raise UsageError(
                f"--set {name}: {cls.__name__} has no parameter {name!r} (see "
                f"help({cls.__name__}))"
            )
        params[name] = _value(text)
    estimator.set_params(**params)
    try:
        estimator.__skfinetune_check__()
    except (InvalidParameterError, ValueError, TypeError, ImportError) as exc:
        raise UsageError(f"--set: {exc}") from None
    return estimator


def _load(path, device=None):
    """The model in ``path``, computing on ``device`` (``None``: ``"auto"``, as
    for fit)."""
    from ._persistence import load

    if not Path(path).is_file():
        raise UsageError(f"model file {path!r} does not exist")
    device = device or "auto"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # version notes: not for a script's output
            return load(path, device=device).set_params(device=device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_output(path, option="-o"):
    """Where a command will write: a file name in a folder that exists and can
    be written, checked before any work starts."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a folder; give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(
            f"{option} {str(path)!r}: folder {str(folder)!r} does not exist"
        )
    if not os.access(folder, os.W_OK):
        raise UsageError(
            f"{option} {str(path)!r}: folder {str(folder)!r} is not writable"
        )
    return path


@contextlib.contextmanager
def _replacing(path):
    """A text file to write ``path``'s new content to, replacing ``path`` only
    when the block succeeds (``skfinetune._persistence.replacing``)."""
    from ._persistence import replacing

    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        yield f


def _save_or_rescue(estimator, path):
    """Save the fitted model; if that fails (disk full, the folder removed
    meanwhile), save it under a rescue name and say where, exit 1."""
    from ._persistence import save

    try:
        save(estimator, path)
        return
    except OSError as exc:
        problem = f"{exc.strerror or exc}"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        rescue = folder / f"skfinetune-rescued-{os.getpid()}.safetensors"
        try:
            save(estimator, rescue)
        except OSError:
            continue
        raise CommandError(
            f"could not write {str(path)!r} ({problem}); the fitted model was saved "
            f"to {str(rescue)!r} instead"
        )
    raise CommandError(f"could not write {str(path)!r} nor a rescue copy ({problem})")


def _check_device(device):
    from ._device import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None


def _labelled(folder, args):
    from . import load_image_folder

    if is_table(folder):
        try:
            return read_table(folder, args.text_column, args.target_column)
        except TableError as exc:
            raise UsageError(str(exc)) from None
    if not Path(folder).is_dir():
        raise UsageError(f"folder {folder!r} does not exist or is not a folder")
    try:
        return load_image_folder(folder)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _image_paths(paths):
    """Files as given, folders expanded (recursively, sorted), in input order."""
    from . import load_image_folder

    out = []
    for path in paths:
        if os.path.isdir(path):
            try:
                out.extend(load_image_folder(path, labels=False))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        elif os.path.isfile(path):
            out.append(path)
        else:
            raise UsageError(f"{path!r} does not exist")
    return out


# ------------------------------------------------------------------------ commands
def _fit(args):
    output = _check_output(args.output)
    estimator = _estimator(args.estimator, args.set, text=is_table(args.folder))
    if args.device is not None:
        _check_device(args.device)
        estimator.set_params(device=args.device)
    X, y = _labelled(args.folder, args)
    if args.estimator == "regressor":
        try:
            y = y.astype(float)
        except ValueError:
            raise UsageError(
                "--estimator regressor needs sub-folders named by their target "
                f"(e.g. 0.5/); got {sorted(set(y))[:5]}"
            ) from None
    if not args.quiet and estimator.verbose == 0:
        estimator.set_params(verbose=1)
    if args.quiet:
        estimator.set_params(verbose=0)
    kinds = "targets" if args.estimator == "regressor" else "classes"
    what = "texts" if is_table(args.folder) else "images"
    print(
        f"fitting {type(estimator).__name__} on {len(X)} {what} of "
        f"{len(set(y.tolist()))} {kinds}",
        file=sys.stderr,
    )
    with contextlib.redirect_stdout(sys.stderr):  # epoch lines are progress
        estimator.fit(X, y)
    _save_or_rescue(estimator, output)
    print(f"saved {args.output}", file=sys.stderr)


def _predict(args):
    output = _check_output(args.output) if args.output else None
    estimator = _load(args.model, args.device)
    if not hasattr(estimator, "predict"):
        raise UsageError(
            f"{args.model!r} holds a {type(estimator).__name__}, which does not "
            "predict; fit a classifier or regressor"
        )
    proba = args.proba and hasattr(estimator, "predict_proba")
    if args.proba and not proba:
        raise UsageError("--proba needs a classifier model")
    if _is_text_model(estimator):
        return _predict_texts(args, estimator, output, proba)
    paths = _image_paths(args.paths)
    skip = args.skip_bad
    on_error = "skip" if skip else "raise"
    skipped = 0
    with contextlib.ExitStack() as stack:
        if output is not None:  # the old file stays until every row is written
            out = stack.enter_context(_replacing(output))
        else:
            out = sys.stdout
        writer = csv.writer(out)
        writer.writerow(_header(estimator, proba) + (["error"] if skip else []))
        results = predict_files(estimator, paths, on_error=on_error, chunk_size=CHUNK)
        try:
            for done, result in enumerate(results, 1):
                skipped += result.error is not None
                writer.writerow(_row(estimator, result, proba, skip))
                if args.output and (done % CHUNK == 0 or done == len(paths)):
                    print(f"{done}/{len(paths)} images", file=sys.stderr)
        except (ValueError, FileNotFoundError) as exc:
            raise UsageError(
                f"{exc} (--skip-bad skips unreadable files and reports them)"
            ) from None
    if skipped:
        print(
            f"skipped {skipped} unreadable file(s): see the error column",
            file=sys.stderr,
        )


def _is_text_model(estimator):
    from ._export import TextExportInput

    return isinstance(estimator.__skfinetune_export__().input, TextExportInput)


def _predict_texts(args, estimator, output, proba):
    if len(args.paths) != 1 or not is_table(args.paths[0]):
        raise UsageError(
            f"{args.model!r} is a text model: give one CSV file of texts (its "
            "--text-column)"
        )
    try:
        texts, _ = read_table(args.paths[0], args.text_column)
    except TableError as exc:
        raise UsageError(str(exc)) from None

    def progress(done, total):
        if args.output:
            print(f"{done}/{total} texts", file=sys.stderr)

    with contextlib.ExitStack() as stack:
        out = stack.enter_context(_replacing(output)) if output else sys.stdout
        writer = csv.writer(out)
        predict_table(estimator, texts, writer, proba, args.text_column, progress)


def _header(estimator, proba):
    if hasattr(estimator, "classes_"):
        header = ["path", "label"]
        if proba:
            header += [str(c) for c in estimator.classes_]
        return header
    if estimator.n_outputs_ == 1:
        return ["path", "prediction"]
    return ["path"] + [f"prediction_{i}" for i in range(estimator.n_outputs_)]


def _row(estimator, result, proba, skip):
    """One CSV row: the path, the prediction (empty for a skipped file), the
    probabilities with ``--proba``, the error with ``--skip-bad``."""
    width = len(_header(estimator, proba)) - 1
    if result.error is not None:
        cells = [""] * width
    elif hasattr(estimator, "classes_"):
        label = result.prediction
        if estimator.out_activation_ == "logistic":  # multi-label
            label = ";".join(str(c) for c in estimator.classes_[label > 0])
        cells = [label]
        if proba:
            cells += [f"{v:.6g}" for v in result.probabilities]
    else:
        cells = [f"{v:.6g}" for v in np.ravel(result.prediction)]
    return [result.path, *cells] + ([result.error or ""] if skip else [])


def _evaluate(args):
    from sklearn.metrics import classification_report, confusion_matrix

    estimator = _load(args.model, args.device)
    X, y = _labelled(args.folder, args)
    what = "texts" if is_table(args.folder) else "images"
    if (what == "texts") != (_is_text_model(estimator)):
        kind = "text" if _is_text_model(estimator) else "image"
        raise UsageError(
            f"{args.model!r} is an {kind} model; evaluate it on "
            + ("a CSV file of texts" if kind == "text" else "a folder of images")
        )
    if not hasattr(estimator, "classes_"):
        from sklearn.metrics import mean_absolute_error, r2_score

        try:
            y = y.astype(float)
        except ValueError:
            raise UsageError(
                "a regressor is evaluated on sub-folders named by their target"
            ) from None
        pred = estimator.predict(X)
        print(f"{what}: {len(X)}")
        print(f"R2: {r2_score(y, pred):.4f}")
        print(f"mean absolute error: {mean_absolute_error(y, pred):.4g}")
        return
    unknown = sorted(set(y.tolist()) - set(estimator.classes_.tolist()))
    if unknown:
        raise UsageError(
            f"{args.folder!r} has classes the model was not fitted on: {unknown[:5]}"
        )
    pred = estimator.predict(X)
    labels = estimator.classes_.tolist()
    print(f"{what}: {len(X)}")
    print(f"accuracy: {np.mean(pred == y):.4f}\n")
    print(classification_report(y, pred, labels=labels, zero_division=0))
    matrix = confusion_matrix(y, pred, labels=labels)
    width = max(len(str(v)) for v in [*labels, matrix.max()])
    print("confusion matrix (rows: true class, columns: predicted class)")
    print(" " * width + " " + " ".join(f"{str(c):>{width}}" for c in labels))
    for label, row in zip(labels, matrix, strict=True):
        print(f"{str(label):>{width}} " + " ".join(f"{v:>{width}}" for v in row))


def main(argv=None):
    """Entry point of ``python -m skfinetune`` and the ``skfinetune`` script."""
    parser = _parser()
    args = parser.parse_args(argv)
    run = {"fit": _fit, "predict": _predict, "evaluate": _evaluate}[args.command]
    try:
        run(args)
    except UsageError as exc:
        parser.exit(2, f"skfinetune {args.command}: error: {exc}\n")
    except CommandError as exc:
        parser.exit(1, f"skfinetune {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"skfinetune {args.command}: interrupted\n")
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    except Exception as exc:  # one line, never a traceback
        text = str(exc).strip().splitlines()
        detail = text[0] if text else type(exc).__name__
        parser.exit(1, f"skfinetune {args.command}: error: {detail}\n")
    return 0
