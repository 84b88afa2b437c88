"""What the linear probe costs beside the feature extraction it follows.

For each data set (the README's digits fine-tune, hymenoptera, tf_flowers_mini),
MobileNetV2 ``IMAGENET1K_V1``: the seconds to extract the training images'
features once, then, on those same features, the seconds and the held-out
choice of: this checkout's probe (the penalty path on the held-out part
``fit`` uses, then the model refitted on every sample), release 0.3.0's probe
(5-fold cross-validation of every penalty, run from a checkout of that release
in a child process), and scikit-learn's ``LogisticRegressionCV(max_iter=2000)``.
Each probe's time is given as a ratio to the feature extraction.

Run from the repository root, with release 0.3.0 checked out beside it::

    git worktree add /tmp/skfinetune-0.3.0 802585f
    python benchmarks/probe_cost.py --threads 2 --release-path /tmp/skfinetune-0.3.0

About 3 minutes on 2 CPU cores (``LogisticRegressionCV`` takes most of it).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 0


def load(name, root):
    """Training images and what ``PretrainedFeatures`` needs to read them."""
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        Xtr, _, ytr, _ = train_test_split(
            X, y, test_size=0.25, random_state=0, stratify=y
        )
        return Xtr, ytr, dict(image_shape=(8, 8), image_size=64)
    from skfinetune import load_image_folder

    folder = {"hymenoptera": "hymenoptera_data", "flowers": "tf_flowers_mini"}[name]
    Xtr, ytr = load_image_folder(Path(root) / folder / "train")
    return Xtr, np.unique(ytr, return_inverse=True)[1], {}


def ours(feats, y):
    import torch
    from torch import nn

    from skfinetune._probe import fit_probe
    from skfinetune._recipe import hold_out, probe_splits

    def accuracy(outputs, targets):
        return (outputs.argmax(1) == targets).float().mean().item()

    F, Y = torch.from_numpy(feats), torch.from_numpy(y)
    start = time.perf_counter()
    train, held = hold_out(y, 0.2, lambda t: t, SEED)
    splits = [
        (torch.as_tensor(a), torch.as_tensor(b))
        for a, b in probe_splits(y, train, held, 0.2, lambda t: t, SEED)
    ]
    torch.manual_seed(SEED)
    head = nn.Linear(F.shape[1], int(y.max()) + 1)
    crit = nn.CrossEntropyLoss()
    alpha, score = fit_probe(head, F, Y, crit, accuracy, "auto", splits)
    fit_probe(head, F, Y, crit, accuracy, alpha)  # the model kept: every sample
    return time.perf_counter() - start, alpha, score, len(splits)


def release(path):
    """Release 0.3.0's probe on the features saved by the parent."""
    import torch
    from torch import nn

    from skfinetune._probe import fit_probe

    def accuracy(outputs, targets):
        return (outputs.argmax(1) == targets).float().mean().item()

    data = np.load(path)
    F, y = torch.from_numpy(data["feats"]), data["y"]
    torch.manual_seed(SEED)
    head = nn.Linear(F.shape[1], int(y.max()) + 1)
    start = time.perf_counter()
    alpha, score = fit_probe(
        head, F, torch.from_numpy(y), nn.CrossEntropyLoss(), accuracy, "auto", y, SEED
    )
    print("ROW " + json.dumps([time.perf_counter() - start, alpha, score]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data")
    parser.add_argument(
        "--data", nargs="+", default=["digits", "hymenoptera", "flowers"]
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--release-path", default="/tmp/skfinetune-0.3.0")
    parser.add_argument("--release-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.release_worker:
        return release(args.release_worker)
    import torch
    from sklearn.linear_model import LogisticRegressionCV

    from skfinetune import PretrainedFeatures

    torch.set_num_threads(args.threads)
    env = dict(os.environ, PYTHONPATH=str(Path(args.release_path).resolve()))
    env["OMP_NUM_THREADS"] = str(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    print(
        "| data | n x d | features s | ours s (x features) | ours alpha / splits "
        "| 0.3.0 s (x features) | 0.3.0 alpha | LogisticRegressionCV s (x features) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.data:
        X, y, extra = load(name, args.root)
        extractor = PretrainedFeatures(weights="IMAGENET1K_V1", **extra).fit(X[:2])
        extractor.transform(X[:8])  # warm-up
        start = time.perf_counter()
        feats = extractor.transform(X).astype(np.float32)
        features_s = time.perf_counter() - start
        ours_s, alpha, _, n_splits = ours(feats, y)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "features.npz")
            np.savez(path, feats=feats, y=y)
            out = subprocess.run(
                [sys.executable, __file__, "--release-worker", path],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        row = [line for line in out.stdout.splitlines() if line.startswith("ROW ")]
        old_s, old_alpha, _ = json.loads(row[-1][4:])
        start = time.perf_counter()
        LogisticRegressionCV(max_iter=2000).fit(feats, y)
        lrcv_s = time.perf_counter() - start
        print(
            f"| {name} | {feats.shape[0]} x {feats.shape[1]} | {features_s:.2f} "
            f"| {ours_s:.2f} ({ours_s / features_s:.2f}) | {alpha:.3g} / {n_splits} "
            f"| {old_s:.2f} ({old_s / features_s:.2f}) | {old_alpha:.3g} "
            f"| {lrcv_s:.1f} ({lrcv_s / features_s:.1f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
