"""A fit on a busy CPU: alone, beside a busy torch process, beside a second fit.

The workload is the unfrozen phase of ``FineTuneClassifier`` (MobileNetV2, ImageNet
weights when cached, 224 px, batch 16, 64 generated images, 2 epochs), in a fresh
process each time; the figure is its training throughput (images/s from
``history_``).  Printed: each scenario's throughput and its ratio to the idle one.
Targets (issue 9): two concurrent fits each >= 0.4x the idle throughput (0.8x their
fair share).

Run from the repository root::

    python benchmarks/contention.py                      # this tree
    python benchmarks/contention.py --pythonpath OTHER   # another checkout, to compare

About 3 minutes on 2 CPU cores, more when the machine is slow under contention.
"""

import argparse
import json
import os
import subprocess
import sys
import time

COMPETITOR = """
import torch
a = torch.randn(1500, 1500)
while True:
    a = (a @ a).clamp_(-1, 1)
"""


def worker():
    import numpy as np
    import torch

    import skfinetune._runtime as runtime
    from skfinetune import FineTuneClassifier

    chosen = []
    if hasattr(runtime, "choose_threads"):  # trees before issue 9 have none
        choose = runtime.choose_threads
        runtime.choose_threads = lambda: chosen.append(choose()) or chosen[-1]

    try:
        from torchvision.models import MobileNet_V2_Weights

        url = MobileNet_V2_Weights.IMAGENET1K_V1.url
        cache = os.path.join(torch.hub.get_dir(), "checkpoints", url.rsplit("/", 1)[-1])
        weights = "IMAGENET1K_V1" if os.path.exists(cache) else None
    except ImportError:
        weights = None
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(64, 224, 224, 3), dtype=np.uint8)
    y = np.arange(64) % 2
    clf = FineTuneClassifier(
        weights=weights,
        frozen_epochs=0,
        unfrozen_epochs=2,
        batch_size=16,
        image_size=224,
        random_state=0,
    )
    start = time.perf_counter()
    clf.fit(X, y)
    rate = np.mean([h["images_per_second"] for h in clf.history_])
    print(
        json.dumps(
            {
                "img_s": float(rate),
                "fit_s": time.perf_counter() - start,
                "threads": chosen[0] if chosen else torch.get_num_threads(),
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            }
        ),
        flush=True,
    )


def launch(env, *args):
    return subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.PIPE, text=True
    )


def result(proc):
    out, _ = proc.communicate()
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythonpath", default=None)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = os.path.abspath(args.pythonpath)
    me = os.path.abspath(__file__)
    rows = []

    alone = result(launch(env, me, "--worker"))
    rows.append(("alone", alone["img_s"], alone))

    competitor = launch(dict(os.environ), "-c", COMPETITOR)
    time.sleep(3)  # let it get going
    try:
        busy = result(launch(env, me, "--worker"))
    finally:
        competitor.kill()
        competitor.wait()
    rows.append(("beside a busy torch process", busy["img_s"], busy))

    pair = [launch(env, me, "--worker") for _ in range(2)]
    both = [result(p) for p in pair]
    for i, r in enumerate(both):
        rows.append((f"two fits at once, fit {i + 1}", r["img_s"], r))

    tree = args.pythonpath or "this tree"
    print(f"\n{tree}: {os.cpu_count()} CPUs")
    print("| scenario | img/s | x idle | threads | OMP_WAIT_POLICY |")
    print("|---|---|---|---|---|")
    for name, rate, r in rows:
        print(
            f"| {name} | {rate:.2f} | {rate / alone['img_s']:.2f} "
            f"| {r['threads']} | {r['omp_wait_policy']} |"
        )


if __name__ == "__main__":
    main()
