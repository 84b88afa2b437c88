"""A fit on a busy CPU: alone, beside a busy torch process, beside a second fit.

The workload is the unfrozen phase of ``FineTuneClassifier`` (MobileNetV2, ImageNet
weights when cached, 224 px, batch 16, 64 generated images, 2 epochs), in a fresh
process each time; the figure is its training throughput (images/s from
``history_``).  Printed: each scenario's throughput and its ratio to the idle one.
Targets: two concurrent fits each >= 0.4x the idle throughput (0.8x their
fair share).

``--small`` measures what a test suite does instead: a loop of 20 small fits and
predicts (SqueezeNet 1.1, random initialisation, 32 px, 24 images, 5 + 5 epochs
of Adam: about a second each), alone and beside one busy core (a pure-Python
loop), with the threads chosen per call and pinned to one; the figure is the
loop's wall time, and its ratio to the idle loop's.  Target: within 2x of idle
beside the busy core.

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

#: One busy core: a CPU-bound pure-Python loop.
BUSY_CORE = "while True: pass"


def small_worker():
    """A loop of small fits and predicts, as a test suite runs them."""
    import numpy as np
    import torch

    from skfinetune import FineTuneClassifier

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(24, 24, 24, 3), dtype=np.uint8)
    y = np.arange(24) % 2
    params = dict(
        backbone="squeezenet1_1",
        weights=None,
        image_size=32,
        hidden_layer_sizes=(64,),
        frozen_optimizer="adam",
        frozen_epochs=5,
        unfrozen_epochs=5,
        unfrozen_optimizer="adam",
        unfrozen_learning_rate=1e-3,
        device="cpu",
    )
    FineTuneClassifier(**params, random_state=0).fit(X, y)  # warm-up
    start = time.perf_counter()
    for seed in range(20):
        FineTuneClassifier(**params, random_state=seed).fit(X, y).predict(X)
    print(
        json.dumps(
            {
                "loop_s": time.perf_counter() - start,
                "threads": torch.get_num_threads(),
                "pinned": os.environ.get("SKFINETUNE_NUM_THREADS"),
            }
        ),
        flush=True,
    )


def small(env, me):
    """The small-fit loop alone and beside one busy core, threads chosen or
    pinned to one."""
    pinned = dict(env, SKFINETUNE_NUM_THREADS="1")
    rows = [("alone, threads chosen", result(launch(env, me, "--small-worker")))]
    competitor = launch(dict(os.environ), "-c", BUSY_CORE)
    time.sleep(2)
    try:
        rows.append(
            (
                "beside a busy core, threads chosen",
                result(launch(env, me, "--small-worker")),
            )
        )
        rows.append(
            (
                "beside a busy core, pinned to 1",
                result(launch(pinned, me, "--small-worker")),
            )
        )
    finally:
        competitor.kill()
        competitor.wait()
    rows.append(("alone, pinned to 1", result(launch(pinned, me, "--small-worker"))))
    idle = rows[0][1]["loop_s"]
    print(f"\n{os.cpu_count()} CPUs: 20 small fits + predicts")
    print("| scenario | loop s | x idle time |")
    print("|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['loop_s']:.1f} | {r['loop_s'] / idle:.2f} |")


def worker():
    import numpy as np
    import torch

    import skfinetune._runtime as runtime
    from skfinetune import FineTuneClassifier

    chosen = []
    if hasattr(runtime, "choose_threads"):  # trees before the thread choice have none
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
    parser.add_argument("--small-worker", action="store_true")
    parser.add_argument("--small", action="store_true", help="the small-fit loop")
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    if args.small_worker:
        small_worker()
        return
    env = dict(os.environ)
    env.pop("SKFINETUNE_NUM_THREADS", None)  # threads chosen, unless a row pins
    if args.pythonpath:
        env["PYTHONPATH"] = os.path.abspath(args.pythonpath)
    me = os.path.abspath(__file__)
    if args.small:
        small(env, me)
        return
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
