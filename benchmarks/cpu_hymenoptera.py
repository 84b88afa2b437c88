"""CPU benchmark: FineTuneClassifier vs a plain PyTorch loop on hymenoptera.

MobileNetV2 (ImageNet IMAGENET1K_V1), batch 32, 224 px, one process, the same
data.  The plain loop's schedule — a ``(1024,)`` hidden head with dropout 0.2,
3 epochs of Adam 1e-3 frozen, then 3 epochs of SGD 1e-4 (momentum 0.9) with
every layer trained — is run as the plain loop and as ``FineTuneClassifier``
parameters (``SCHEDULE``); the estimator's defaults are a row of their own.
Prints wall seconds (fit, predict, end to end), images/s per phase, validation
accuracy, peak RSS and the ratios ours/plain.  Also: ``frozen_epochs=10`` vs
``1`` with the feature cache, and accuracy with and without it.  About 8 minutes
on 2 CPU cores.

Run from the repository root: ``python benchmarks/cpu_hymenoptera.py [DATA_DIR]``.
"""

import sys
from pathlib import Path

import torch
from _common import measure, print_table
from _reference import fine_tune

from skfinetune import FineTuneClassifier, load_image_folder
from skfinetune._runtime import retained_heap

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hymenoptera_data")
Xtr, ytr = load_image_folder(root / "train")
Xva, yva = load_image_folder(root / "val")
print(
    f"hymenoptera: {len(Xtr)} train, {len(Xva)} val; torch {torch.__version__}, "
    f"{torch.get_num_threads()} threads"
)
rows = []

#: The plain loop's schedule (``_reference.py``) as the estimator's parameters.
SCHEDULE = dict(
    hidden_layer_sizes=(1024,),
    dropout=0.2,
    frozen_optimizer="adam",
    frozen_learning_rate=1e-3,
    frozen_epochs=3,
    unfrozen_epochs=3,
    unfrozen_optimizer="sgd",
    unfrozen_learning_rate=1e-4,
    momentum=0.9,
    freeze_depth=0,
    layer_decay=1.0,
    unfrozen_schedule="constant",
    augment=True,
)


def ours(name, **params):
    row = {"run": name}
    clf = FineTuneClassifier(weights="IMAGENET1K_V1", random_state=0, **params)
    with measure(row):
        with measure({}) as fit_time:
            clf.fit(Xtr, ytr)
        with measure({}) as predict_time:
            row["val_acc"] = clf.score(Xva, yva)
    row["fit_s"], row["predict_s"] = fit_time["seconds"], predict_time["seconds"]
    for phase in ("frozen", "unfrozen"):
        epochs = [h for h in clf.history_ if h["phase"] == phase]
        if epochs:
            seconds = sum(h["seconds"] for h in epochs)
            row[f"{phase}_img_s"] = len(Xtr) * len(epochs) / seconds
    rows.append(row)
    print(row, flush=True)
    return row


def plain(name, retain=False, channels_last=False, train_batchnorm=True):
    row = {"run": name}
    with measure(row), retained_heap(retain):
        acc, stats = fine_tune(
            list(Xtr),
            list(ytr),
            list(Xva),
            list(yva),
            channels_last=channels_last,
            train_batchnorm=train_batchnorm,
        )
    row["val_acc"] = acc
    row["predict_s"] = stats["predict"]["seconds"]
    row["fit_s"] = row["seconds"] - row["predict_s"]
    row["frozen_img_s"] = stats["frozen"]["images_per_second"]
    row["unfrozen_img_s"] = stats["unfrozen"]["images_per_second"]
    rows.append(row)
    print(row, flush=True)
    return row


ours("ours (defaults)")
base = ours("ours, the plain loop's schedule", **SCHEDULE)
ours("ours, that schedule, feature_cache=False", **SCHEDULE, feature_cache=False)
ours("ours, that schedule, retain_memory=False", **SCHEDULE, retain_memory=False)
reference = plain("plain loop (phase 2: model.train())")
matched = plain("plain, BatchNorm as ours", train_batchnorm=False)
tuned = plain(
    "plain, BatchNorm as ours + retained heap + channels_last",
    retain=True,
    channels_last=True,
    train_batchnorm=False,
)

columns = [
    "run",
    "seconds",
    "fit_s",
    "predict_s",
    "frozen_img_s",
    "unfrozen_img_s",
    "val_acc",
    "peak_rss_mib",
]
print()
print_table(rows, columns)
print()
for other in (reference, matched, tuned):
    print(
        f"ours / {other['run']}: wall {base['seconds'] / other['seconds']:.2f}x, "
        f"fit {base['fit_s'] / other['fit_s']:.2f}x, "
        f"val_acc {base['val_acc']:.4f} vs {other['val_acc']:.4f} "
        f"({round((base['val_acc'] - other['val_acc']) * len(yva)):+d} images)"
    )

times = {}
for epochs in (1, 10):
    row = {}
    with measure(row):
        FineTuneClassifier(
            weights="IMAGENET1K_V1",
            random_state=0,
            **dict(SCHEDULE, frozen_epochs=epochs, unfrozen_epochs=0),
        ).fit(Xtr, ytr)
    times[epochs] = row["seconds"]
print(
    f"frozen_epochs=10 / frozen_epochs=1 (feature cache): "
    f"{times[10]:.1f} s / {times[1]:.1f} s = {times[10] / times[1]:.2f}x"
)
