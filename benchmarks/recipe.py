"""Recipes side by side: the linear probe, the defaults and what they replaced.

For each data set -- hymenoptera and tf_flowers_mini (photos near ImageNet, their
``val`` folders scored) and scikit-learn's digits (far from it: the README's
fine-tune, 8x8 rows shown at 64 px, its held-out quarter scored) -- MobileNetV2
``IMAGENET1K_V1``, seeds 0-4 and each thread count of ``--threads``: accuracy
(mean, min, max, per seed) and wall time of ``fit`` + ``score`` per recipe.  Every
fit runs in a fresh process with its thread count pinned (``OMP_NUM_THREADS``,
``SKFINETUNE_NUM_THREADS``), the recipes of a seed one after the other (side by
side: a slower moment of the machine touches them alike), and the table gives
each time as a ratio to the probe's and to the previous release's defaults.
Rows:

- ``probe``: ``PretrainedFeatures`` + ``LogisticRegressionCV(max_iter=2000)``
  (deterministic: one run per thread count);
- ``before probe``: the defaults before the probe became phase 1 (a ``(1024,)``
  head trained 20 epochs by Adam on the features, then 3 epochs of phase 2);
- ``0.3.0``: release 0.3.0's defaults (the probe, 5-fold cross-validated, then 3
  epochs of phase 2 where its accuracy is below 0.95), run from a checkout of
  that release (``--release-path``);
- ``0.3.0 ue=6``: the same with ``unfrozen_epochs=6``;
- ``defaults``: this checkout's defaults (phase 2 decided by evidence);
- ``defaults es``: the same with ``early_stopping=True`` (the trial's best
  weights kept: no refit on all the data).

Run from the repository root, with release 0.3.0 checked out beside it::

    git worktree add /tmp/skfinetune-0.3.0 802585f
    python benchmarks/recipe.py --threads 2 1 --release-path /tmp/skfinetune-0.3.0

Prints one table per data set and thread count, then the issue's targets checked,
and appends every run, as a JSON line, to ``--log`` (default
``benchmarks/results/recipe.jsonl``).  ``--recipes`` also takes the candidates
measured while choosing earlier defaults (``candidates()``).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA = {
    "hymenoptera": "hymenoptera_data",
    "flowers": "tf_flowers_mini",
    "digits": None,  # scikit-learn's, as the README's fine-tune
}
#: Images far from ImageNet: their own time target.
FAR = {"digits"}
DIGITS = dict(image_shape=(8, 8), image_size=64)

#: The defaults of 0.1 (the changelog lists them), still reachable.
OLD_DEFAULTS = dict(
    hidden_layer_sizes=(1024,),
    dropout=0.2,
    frozen_optimizer="adam",
    frozen_epochs=3,
    unfrozen_epochs=3,
    unfrozen_optimizer="sgd",
    unfrozen_learning_rate=1e-4,
    unfrozen_schedule="constant",
    layer_decay=1.0,
    weight_decay=0.0,
    label_smoothing=0.0,
    freeze_depth=0,
)

#: The defaults before the probe became phase 1: a hidden-layer head trained for
#: 20 epochs with Adam, then 3 epochs of phase 2 on every data set.
HIDDEN_HEAD_DEFAULTS = dict(
    hidden_layer_sizes=(1024,),
    dropout=0.2,
    frozen_optimizer="adam",
    unfrozen_epochs=3,
    label_smoothing=0.1,
)

#: name -> (code, parameters): code "release" runs from --release-path; None
#: parameters: the probe pipeline.
RECIPES = {
    "probe": ("here", None),
    "before probe": ("here", HIDDEN_HEAD_DEFAULTS),
    "0.3.0": ("release", {}),
    "0.3.0 ue=6": ("release", dict(unfrozen_epochs=6)),
    "defaults": ("here", {}),
    "defaults es": ("here", dict(early_stopping=True)),
    # rows of earlier tables (benchmarks/README.md)
    "head": ("here", dict(unfrozen_epochs=0)),
    "phase 2 always": ("here", dict(unfrozen_epochs=3)),
    "early stopping": ("here", dict(early_stopping=True)),
    "old": ("here", OLD_DEFAULTS),
    "hidden head": ("here", HIDDEN_HEAD_DEFAULTS),
}
DEFAULT_RECIPES = [
    "probe",
    "before probe",
    "0.3.0",
    "0.3.0 ue=6",
    "defaults",
    "defaults es",
]


#: Phase 1 as the linear probe (the defaults' phase 1), then phase 2 always, with
#: the label smoothing of the hidden-head defaults (the "lp-ft" candidates).
LP = dict(unfrozen_epochs=3, label_smoothing=0.1)


def candidates():
    """Recipes measured while choosing the defaults (see benchmarks/README)."""
    H = HIDDEN_HEAD_DEFAULTS
    base = dict(OLD_DEFAULTS, frozen_epochs=10)
    return {
        "10+3 sgd1e-4": dict(base),
        "10+3 sgd1e-3": dict(base, unfrozen_learning_rate=1e-3),
        "10+3 sgd1e-3 bn": dict(
            base, unfrozen_learning_rate=1e-3, train_batchnorm=True
        ),
        "10+3 sgd1e-4 noaug": dict(base, augment=False),
        "10+3 sgd1e-4 cos": dict(base, unfrozen_schedule="cosine"),
        "10+3 sgd1e-3 cos": dict(
            base, unfrozen_learning_rate=1e-3, unfrozen_schedule="cosine"
        ),
        "10+3 adamw1e-5 cos": dict(
            base,
            unfrozen_optimizer="adamw",
            unfrozen_learning_rate=1e-5,
            unfrozen_schedule="cosine",
        ),
        "20+3 adamw1e-5 cos ls.1": dict(
            base,
            frozen_epochs=20,
            unfrozen_optimizer="adamw",
            unfrozen_learning_rate=1e-5,
            unfrozen_schedule="cosine",
            label_smoothing=0.1,
        ),
        "20+3 adamw3e-5 cos ls.1 ld.8": dict(
            base,
            frozen_epochs=20,
            unfrozen_optimizer="adamw",
            unfrozen_learning_rate=3e-5,
            unfrozen_schedule="cosine",
            label_smoothing=0.1,
            layer_decay=0.8,
        ),
        "10+2 sgd1e-3 cos ld.7 fd10": dict(
            base,
            unfrozen_epochs=2,
            unfrozen_learning_rate=1e-3,
            unfrozen_schedule="cosine",
            layer_decay=0.7,
            freeze_depth=10,
        ),
        # measured after the 3e-5 defaults landed (relative to the defaults then)
        "new flip": dict(H, unfrozen_learning_rate=3e-5, test_time_flip=True),
        "20+2 adamw1e-4": dict(H, unfrozen_epochs=2, unfrozen_learning_rate=1e-4),
        "20+3 adamw3e-5": dict(H, unfrozen_learning_rate=3e-5),
        "20+3 adamw1e-4": dict(H, unfrozen_learning_rate=1e-4),
        "20+3 adamw1e-4 flip": dict(
            H, unfrozen_learning_rate=1e-4, test_time_flip=True
        ),
        "20+3 adamw1e-4 fd4": dict(H, unfrozen_learning_rate=1e-4, freeze_depth=4),
        "20+3 adamw1e-4 fd7": dict(H, unfrozen_learning_rate=1e-4, freeze_depth=7),
        "20+3 adamw1e-4 fd8": dict(H, unfrozen_learning_rate=1e-4, freeze_depth=8),
        # after the defaults took 1e-4 and freeze_depth="auto"
        "defaults flip": dict(H, test_time_flip=True),
        "defaults 256px": dict(H, image_size=256),
        "defaults 20+5": dict(H, unfrozen_epochs=5),
        "defaults 2e-4": dict(H, unfrozen_learning_rate=2e-4),
        # the probe as phase 1 (LP-FT)
        "lp-ft": dict(LP),
        "lp-ft 5": dict(LP, unfrozen_epochs=5),
        "lp-ft flip": dict(LP, test_time_flip=True),
        "lp-ft ls0": dict(LP, label_smoothing=0.0),
        "lp-ft 3e-5": dict(LP, unfrozen_learning_rate=3e-5),
        "lp-ft ls0 3e-5": dict(LP, label_smoothing=0.0, unfrozen_learning_rate=3e-5),
        "lp-ft ls0 noaug": dict(LP, label_smoothing=0.0, augment=False),
        "lp-ft ls0 es": dict(LP, label_smoothing=0.0, early_stopping=True),
        "lp-ft ls0 es.2": dict(
            LP, label_smoothing=0.0, early_stopping=True, validation_fraction=0.2
        ),
        "lp-ft ls0 1": dict(LP, label_smoothing=0.0, unfrozen_epochs=1),
        "lp-ft sgd1e-3": dict(
            LP,
            label_smoothing=0.0,
            unfrozen_optimizer="sgd",
            unfrozen_learning_rate=1e-3,
        ),
        "lp-ft sgd3e-3": dict(
            LP,
            label_smoothing=0.0,
            unfrozen_optimizer="sgd",
            unfrozen_learning_rate=3e-3,
        ),
        "lp-ft sgd1e-2": dict(
            LP,
            label_smoothing=0.0,
            unfrozen_optimizer="sgd",
            unfrozen_learning_rate=1e-2,
        ),
    }


def _load(name, root):
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    from skfinetune import load_image_folder

    folder = Path(root) / DATA[name]
    Xtr, ytr = load_image_folder(folder / "train")
    Xva, yva = load_image_folder(folder / "val")
    return Xtr, Xva, ytr, yva


def worker(job):
    """One fit in this process; prints its row as JSON."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline

    import skfinetune
    from skfinetune import FineTuneClassifier, PretrainedFeatures

    Xtr, Xva, ytr, yva = _load(job["data"], job["root"])
    extra = DIGITS if job["data"] == "digits" else {}
    params = job["params"]
    start = time.perf_counter()
    if params is None:
        model = make_pipeline(
            PretrainedFeatures(weights=job["weights"], **extra),
            LogisticRegressionCV(max_iter=2000),
        )
    else:
        model = FineTuneClassifier(
            weights=job["weights"], random_state=job["seed"], **extra, **params
        )
    model.fit(Xtr, ytr)
    fit_s = time.perf_counter() - start
    acc = model.score(Xva, yva)
    row = {
        "data": job["data"],
        "recipe": job["recipe"],
        "seed": job["seed"],
        "threads": job["threads"],
        "val_acc": acc,
        "n_val": len(yva),
        "seconds": time.perf_counter() - start,
        "fit_s": fit_s,
        "version": skfinetune.__version__,
    }
    for name in ("unfrozen_epochs_", "probe_score_", "alpha_"):
        if hasattr(model, name):
            row[name] = getattr(model, name)
    print("ROW " + json.dumps(row), flush=True)


def run(job, release_path):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["SKFINETUNE_NUM_THREADS"] = str(job["threads"])
    if job["code"] == "release":
        env["PYTHONPATH"] = str(Path(release_path).resolve())
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = [line[4:] for line in out.stdout.splitlines() if line.startswith("ROW ")]
    if out.returncode or not rows:
        raise RuntimeError(f"{job}: exit {out.returncode}\n{out.stderr[-3000:]}")
    return json.loads(rows[-1])


def table(rows, data, threads, recipes):
    rows = [r for r in rows if r["data"] == data and r["threads"] == threads]
    if not rows:
        return
    mean_s = {
        name: np.mean([r["seconds"] for r in rows if r["recipe"] == name])
        for name in recipes
        if any(r["recipe"] == name for r in rows)
    }
    print(f"\n{data}, {threads} thread(s) ({rows[0]['n_val']} scored images)")
    print(
        "| recipe | acc mean | min | max | per seed | phase-2 epochs | wall s "
        "| x probe | x 0.3.0 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in mean_s:
        r = sorted((x for x in rows if x["recipe"] == name), key=lambda x: x["seed"])
        acc = np.array([x["val_acc"] for x in r])
        epochs = " / ".join(str(x.get("unfrozen_epochs_", "")) for x in r)
        ratio = {
            k: f"{mean_s[name] / mean_s[k]:.2f}" if k in mean_s else ""
            for k in ("probe", "0.3.0")
        }
        print(
            f"| {name} | {acc.mean():.4f} | {acc.min():.4f} | {acc.max():.4f} "
            f"| {' / '.join(f'{a:.4f}' for a in acc)} | {epochs} "
            f"| {mean_s[name]:.1f} | {ratio['probe']} | {ratio['0.3.0']} |"
        )


def targets(rows):
    """The targets the defaults are held to, each line PASS or MISS."""
    print("\ntargets")
    for data in DATA:
        for threads in sorted({r["threads"] for r in rows}):
            r = [x for x in rows if x["data"] == data and x["threads"] == threads]
            by = {}
            for x in r:
                by.setdefault(x["recipe"], []).append(x)
            if "defaults" not in by or "probe" not in by:
                continue
            image = 1 / by["probe"][0]["n_val"]
            floor = by["probe"][0]["val_acc"] - image - 1e-9
            worst = min(x["val_acc"] for x in by["defaults"])
            _line(
                f"{data} {threads}t: every seed >= probe - 1 image "
                f"({worst:.4f} >= {floor + 1e-9:.4f})",
                worst >= floor,
            )
            mean = {k: np.mean([x["val_acc"] for x in v]) for k, v in by.items()}
            secs = {k: np.mean([x["seconds"] for x in v]) for k, v in by.items()}
            if data in FAR:
                best = max(mean.get("0.3.0", 0), mean.get("0.3.0 ue=6", 0))
                _line(
                    f"{data} {threads}t: mean >= best of 0.3.0 and ue=6 "
                    f"({mean['defaults']:.4f} >= {best:.4f})",
                    mean["defaults"] >= best - 1e-9,
                )
                if "0.3.0" in secs:
                    ratio = secs["defaults"] / secs["0.3.0"]
                    _line(
                        f"{data} {threads}t: time <= 2x 0.3.0 ({ratio:.2f})", ratio <= 2
                    )
            else:
                ratio = secs["defaults"] / secs["probe"]
                _line(
                    f"{data} {threads}t: time <= 1.3x probe ({ratio:.2f})", ratio <= 1.3
                )


def _line(text, ok):
    print(f"  {'PASS' if ok else 'MISS'}  {text}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data")
    parser.add_argument("--data", nargs="+", default=list(DATA))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--recipes", nargs="+", default=DEFAULT_RECIPES)
    parser.add_argument("--threads", nargs="+", type=int, default=[2])
    parser.add_argument("--weights", default="IMAGENET1K_V1")
    parser.add_argument("--release-path", default="/tmp/skfinetune-0.3.0")
    parser.add_argument("--log", default="benchmarks/results/recipe.jsonl")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker(json.loads(args.worker))
    table_of = {**RECIPES, **{k: ("here", v) for k, v in candidates().items()}}
    log = Path(args.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for threads in args.threads:
        for data in args.data:
            for seed in args.seeds:
                for name in args.recipes:
                    code, params = table_of[name]
                    if params is None and seed != args.seeds[0]:
                        continue  # deterministic
                    job = dict(
                        data=data,
                        recipe=name,
                        code=code,
                        seed=seed,
                        threads=threads,
                        params=params,
                        weights=args.weights,
                        root=args.root,
                    )
                    row = run(job, args.release_path)
                    rows.append(row)
                    with log.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(
                        f"  {data} {threads}t {name} seed {seed}: "
                        f"{row['val_acc']:.4f} in {row['seconds']:.1f} s "
                        f"(phase 2: {row.get('unfrozen_epochs_')})",
                        flush=True,
                    )
            table(rows, data, threads, args.recipes)
    targets(rows)


if __name__ == "__main__":
    main()
