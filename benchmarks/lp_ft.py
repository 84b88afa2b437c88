"""LP-FT candidates for phase 1 and 2, beside the linear probe and the defaults.

For each shared data set and seed (MobileNetV2 ``IMAGENET1K_V1``, 224 px):

- ``probe``: ``LogisticRegressionCV`` on the frozen pooled features (the probe
  fine-tuning should beat; deterministic, so printed once per set);
- ``defaults``: ``FineTuneClassifier`` with the defaults of the time (a hidden
  layer head trained by Adam, then 3 epochs of phase 2; ``recipe.py`` calls them
  "hidden head");
- ``lp-ft``: phase 1 replaced by that probe, fitted on the cached features and
  copied into a linear head (``hidden_layer_sizes=()``, ``dropout=0``), then the
  default phase 2 from it (Kumar et al., "Fine-Tuning can Distort Pretrained
  Features", ICLR 2022); ``lp-ft phase 1`` is that network before phase 2;
- ``defaults wise a``: the same interpolation between the defaults' own phase-1
  network and their final one;
- ``lp-ft wise a``: the weights ``a`` of the way from the phase-1 to the
  fine-tuned network (WiSE-FT, Wortsman et al., CVPR 2022), a = 0.5, 0.7, 0.85:
  no inference cost.

Prints one JSON line per fit; about 12 minutes for 5 seeds of both sets on 2 CPU
cores.  Run from the repository root::

    python benchmarks/lp_ft.py --seeds 0 1 2 3 4
"""

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV

from skfinetune import FineTuneClassifier, PretrainedFeatures, load_image_folder

DATA = {"hymenoptera": "hymenoptera_data", "flowers": "tf_flowers_mini"}


def _probe():
    return LogisticRegressionCV(max_iter=2000)


class Snapshot(FineTuneClassifier):
    """The defaults, keeping a copy of the network after phase 1."""

    def _train_head(self, trainer, *args):
        score = super()._train_head(trainer, *args)
        self.phase1_state = copy.deepcopy(trainer.net.state_dict())
        return score


class LPFT(FineTuneClassifier):
    """Phase 1: the probe, copied into the linear head; phase 2 unchanged."""

    def _train_head(self, trainer, data, y, split, cache, keys, seed):
        features = trainer.features(data).cpu().numpy()
        start = time.perf_counter()
        probe = _probe().fit(features, y.cpu().numpy())
        self.probe_seconds = time.perf_counter() - start
        weight, bias = probe.coef_, probe.intercept_
        if weight.shape[0] == 1:  # binary: the two logits' difference
            weight = np.vstack([-weight / 2, weight / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2])
        layer = trainer.net.head[-1]
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(weight))
            layer.bias.copy_(torch.as_tensor(bias))
        self.phase1_state = copy.deepcopy(trainer.net.state_dict())
        return None


def _with_state(clf, state):
    twin = copy.deepcopy(clf)
    twin.module_.load_state_dict(state)
    return twin


def _interpolated(clf, alpha):
    end, start = clf.module_.state_dict(), clf.phase1_state
    return _with_state(
        clf,
        {
            k: alpha * end[k] + (1 - alpha) * start[k]
            if end[k].is_floating_point()
            else end[k]
            for k in end
        },
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data")
    parser.add_argument("--data", nargs="+", default=list(DATA))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--no-lp-ft", action="store_true", help="only the defaults and their wise"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)  # sklearn's notices
    for name in args.data:
        root = Path(args.root) / DATA[name]
        Xtr, ytr = load_image_folder(root / "train")
        Xva, yva = load_image_folder(root / "val")
        features = PretrainedFeatures(weights="IMAGENET1K_V1").fit(Xtr)
        probe = _probe().fit(features.transform(Xtr), ytr)
        print(
            json.dumps(
                {
                    "data": name,
                    "recipe": "probe",
                    "acc": probe.score(features.transform(Xva), yva),
                }
            ),
            flush=True,
        )
        for seed in args.seeds:
            common = dict(
                weights="IMAGENET1K_V1",
                random_state=seed,
                frozen_optimizer="adam",
                unfrozen_epochs=3,
                label_smoothing=0.1,
            )
            start = time.perf_counter()
            clf = Snapshot(**common, hidden_layer_sizes=(1024,), dropout=0.2)
            clf.fit(Xtr, ytr)
            row = {"data": name, "seed": seed, "defaults": clf.score(Xva, yva)}
            row["defaults_s"] = time.perf_counter() - start
            for alpha in (0.5, 0.7, 0.85):
                row[f"defaults wise {alpha}"] = _interpolated(clf, alpha).score(
                    Xva, yva
                )
            if args.no_lp_ft:
                print(json.dumps(row), flush=True)
                continue
            start = time.perf_counter()
            lpft = LPFT(**common, hidden_layer_sizes=(), dropout=0.0).fit(Xtr, ytr)
            row["lp-ft_s"] = time.perf_counter() - start
            row["lp-ft probe_s"] = lpft.probe_seconds
            row["lp-ft"] = lpft.score(Xva, yva)
            row["lp-ft phase 1"] = _with_state(lpft, lpft.phase1_state).score(Xva, yva)
            for alpha in (0.5, 0.7, 0.85):
                row[f"lp-ft wise {alpha}"] = _interpolated(lpft, alpha).score(Xva, yva)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
