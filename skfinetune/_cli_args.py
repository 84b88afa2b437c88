"""The command line's arguments: ``python -m skfinetune --help``."""

import argparse

_EPILOG = {
    "fit": """example:
  python -m skfinetune fit photos/train -o model.safetensors \\
      --set weights=IMAGENET1K_V1 --set unfrozen_epochs=5 --set random_state=0

DATA is a folder of one sub-folder per class (photos/train/ants/*.jpg, ...); for
--estimator regressor each sub-folder's name is its images' target (e.g. 0.5/).
Or a CSV file of texts, which fits a text model:
  python -m skfinetune fit tickets.csv -o model.safetensors \
      --text-column text --target-column label""",
    "predict": """example:
  python -m skfinetune predict model.safetensors new_photos/ -o predictions.csv --proba

Folders are read recursively (sorted); rows keep the order of the paths given.
A text model predicts the texts of a CSV file (its --text-column).
With -o, the file is replaced only once every row is written.""",
    "evaluate": """example:
  python -m skfinetune evaluate model.safetensors photos/val
  python -m skfinetune evaluate model.safetensors tickets_test.csv""",
}


def parser():
    parser = argparse.ArgumentParser(
        prog="skfinetune",
        description="Fine-tune a pretrained image model on a folder of photos "
        "(or a text model on a CSV file), and predict or evaluate with the saved "
        "model.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text):
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_EPILOG[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    fit = command(
        "fit", "Fine-tune on a folder of class sub-folders (or a CSV of texts)."
    )
    fit.add_argument(
        "folder", metavar="DATA", help="one sub-folder per class, or a CSV file"
    )
    fit.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="MODEL",
        help="the model file to write (skfinetune.save; .safetensors)",
    )
    fit.add_argument(
        "--estimator",
        choices=("classifier", "regressor"),
        default="classifier",
        help="FineTuneClassifier (default) or FineTuneRegressor (their text "
        "versions for a CSV file)",
    )
    fit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="an estimator parameter, e.g. --set unfrozen_epochs=5 (Python literals"
        ": numbers, None, True, tuples; anything else is a string); repeatable",
    )
    fit.add_argument(
        "--quiet", action="store_true", help="no progress on standard error"
    )

    predict = command("predict", "Predict image files or folders; write a CSV.")
    predict.add_argument("model", metavar="MODEL", help="a file written by fit")
    predict.add_argument(
        "paths", nargs="+", metavar="PATH", help="image files or folders, or a CSV"
    )
    predict.add_argument(
        "-o", "--output", metavar="CSV", help="write here (default: standard output)"
    )
    predict.add_argument(
        "--proba",
        action="store_true",
        help="one more column per class with its probability (classifiers)",
    )
    predict.add_argument(
        "--skip-bad",
        action="store_true",
        help="carry on past files that cannot be read: their row has an empty "
        "prediction and the reason in an 'error' column",
    )

    evaluate = command(
        "evaluate", "Accuracy, per-class report and confusion matrix on a folder."
    )
    evaluate.add_argument("model", metavar="MODEL", help="a file written by fit")
    evaluate.add_argument(
        "folder", metavar="DATA", help="one sub-folder per class, or a CSV file"
    )
    for sub in (fit, predict, evaluate):
        sub.add_argument(
            "--text-column",
            default="text",
            metavar="NAME",
            help="the CSV column of texts (default: text)",
        )
        if sub is not predict:
            sub.add_argument(
                "--target-column",
                default="label",
                metavar="NAME",
                help="the CSV column of labels or targets (default: label)",
            )
        sub.add_argument(
            "--device",
            default=None,
            metavar="DEVICE",
            help="where to compute: auto (default: a CUDA GPU, else an Apple GPU, "
            "else the CPU), cpu, cuda, cuda:1, mps",
        )
    return parser
