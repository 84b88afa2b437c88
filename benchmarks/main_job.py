"""The README's main job (``examples/quickstart.py``) over seeds and thread counts.

MobileNetV2 ``IMAGENET1K_V1`` fine-tuned on scikit-learn's digits (8x8 rows shown
as 64 px images), the quickstart's split and parameters, for each seed and each
thread count in a fresh process (``OMP_NUM_THREADS`` and
``SKFINETUNE_NUM_THREADS`` pinned): test accuracy, fit time, what phase 1's probe
scored and how many phase-2 epochs ``"auto"`` chose.

Run from the repository root::

    python benchmarks/main_job.py --seeds 0 1 2 --threads 1 2

About 2 minutes on 2 CPU cores.
"""

import argparse
import json
import os
import subprocess
import sys
import time


def worker(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from skfinetune import FineTuneClassifier

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    clf = FineTuneClassifier(
        "mobilenet_v2",
        weights="IMAGENET1K_V1",
        image_shape=(8, 8),
        image_size=64,
        random_state=seed,
    )
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    row = {
        "seed": seed,
        "test_acc": clf.score(X_test, y_test),
        "fit_s": seconds,
        "probe_score": clf.probe_score_,
        "unfrozen_epochs": clf.unfrozen_epochs_,
    }
    print(json.dumps(row), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--worker", type=int, default=None)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    print("| threads | seed | test accuracy | fit s | probe_score_ | phase-2 epochs |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        env = dict(
            os.environ,
            OMP_NUM_THREADS=str(threads),
            SKFINETUNE_NUM_THREADS=str(threads),
        )
        for seed in args.seeds:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(seed)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"| {threads} | {seed} | {r['test_acc']:.4f} | {r['fit_s']:.1f} "
                f"| {r['probe_score']:.3f} | {r['unfrozen_epochs']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
