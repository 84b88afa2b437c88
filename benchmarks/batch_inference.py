"""predict over a folder of N JPEG files: throughput and peak memory, N = 1,000 and
8,000, beside a plain PyTorch loop and the command line, side by side in one run.

Fits the default MobileNetV2 (``IMAGENET1K_V1``, head only) on hymenoptera once
and saves it; writes 8,000 JPEG files (the 397 hymenoptera photos copied round
robin under new names, so decoding costs what real photos cost); then, each in a
fresh process so that its peak memory is its own:

- ``python``: ``load`` + ``load_image_folder(folder, labels=False)`` +
  ``predict_proba``;
- ``cli``: ``python -m skfinetune predict MODEL FOLDER -o out.csv`` (run in the
  process through its ``main``);
- ``plain``: the same network (``module_``) in a hand-written loop as the PyTorch
  tutorials write it: a ``Dataset`` of paths with torchvision's ``Resize(256)``,
  ``CenterCrop(224)``, ``ToTensor``, ``Normalize``, a ``DataLoader`` with 2 worker
  processes, batch 32, ``torch.inference_mode()``.

Prints images/s and peak RSS (MiB, sampled every 20 ms: the process, and the
process with its worker processes) for each, the growth of peak memory from 1,000
to 8,000 files, and the ratios.  About 6 minutes on 2 CPU cores.

Run from the repository root: ``python benchmarks/batch_inference.py [DATA_DIR]``.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIZES = (1_000, 8_000)


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


def _children(pid):
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _sample_peak(peak, done):
    """Peak RSS of this process and, separately, of it plus its worker processes
    (``ru_maxrss`` would report the parent's peak: it survives fork and exec)."""
    me = os.getpid()
    while not done.wait(0.02):
        own = _rss(me)
        peak["own"] = max(peak["own"], own)
        peak["total"] = max(peak["total"], own + sum(map(_rss, _children(me))))


def child(mode, model, folder):
    """One measurement, in its own process; prints a JSON line."""
    peak = {"own": 0, "total": 0}
    done = threading.Event()
    sampler = threading.Thread(target=_sample_peak, args=(peak, done), daemon=True)
    sampler.start()
    start = time.perf_counter()
    if mode == "python":
        import skfinetune

        clf = skfinetune.load(model)
        X = skfinetune.load_image_folder(folder, labels=False)
        n = len(clf.predict_proba(X))
    elif mode == "cli":
        from skfinetune._cli import main

        main(["predict", model, folder, "-o", os.path.join(folder, "..", "out.csv")])
        with open(os.path.join(folder, "..", "out.csv")) as f:
            n = sum(1 for _ in f) - 1
    else:
        n = _plain_loop(model, folder)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    print(
        json.dumps(
            {
                "mode": mode,
                "n": n,
                "seconds": seconds,
                "peak_mib": peak["own"] / 2**20,
                "with_workers_mib": peak["total"] / 2**20,
            }
        )
    )


def _plain_loop(model, folder):
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    import skfinetune

    net = skfinetune.load(model).module_.eval()
    paths = sorted(str(p) for p in Path(folder).rglob("*.jpg"))
    prepare = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )

    class Paths(Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            with Image.open(paths[i]) as image:
                return prepare(image.convert("RGB"))

    out = []
    with torch.inference_mode():
        for batch in DataLoader(Paths(), batch_size=32, num_workers=2):
            out.append(torch.softmax(net(batch), dim=1))
    return len(torch.cat(out))


def _make_folder(root, photos, n):
    folder = root / f"n{n}" / "images"
    folder.mkdir(parents=True)
    for i in range(n):
        shutil.copyfile(photos[i % len(photos)], folder / f"img{i:05d}.jpg")
    return folder


def main():
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import print_table

    from skfinetune import FineTuneClassifier, load_image_folder, save

    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hymenoptera_data")
    X_train, y_train = load_image_folder(data / "train")
    X_val, _ = load_image_folder(data / "val")
    work = Path(tempfile.mkdtemp(prefix="skfinetune-batch-"))
    try:
        clf = FineTuneClassifier(
            weights="IMAGENET1K_V1", unfrozen_epochs=0, random_state=0
        ).fit(X_train, y_train)
        model = str(save(clf, work / "model.safetensors"))
        photos = [*X_train, *X_val]
        rows = []
        for n in SIZES:
            folder = _make_folder(work, photos, n)
            for mode in ("python", "cli", "plain"):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", mode, model, str(folder)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = json.loads(done.stdout.strip().splitlines()[-1])
                assert row["n"] == n, row
                row["img_per_s"] = n / row["seconds"]
                rows.append(row)
                print(json.dumps(row), flush=True)
            shutil.rmtree(folder.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(
        rows, ["mode", "n", "seconds", "img_per_s", "peak_mib", "with_workers_mib"]
    )
    by = {(r["mode"], r["n"]): r for r in rows}
    for mode in ("python", "cli", "plain"):
        small, large = by[(mode, SIZES[0])], by[(mode, SIZES[1])]
        growth = large["with_workers_mib"] / small["with_workers_mib"] - 1
        print(f"{mode}: peak RSS {SIZES[0]} -> {SIZES[1]} files: {growth:+.1%}")
    for n in SIZES:
        python, cli, plain = (
            by[(m, n)]["img_per_s"] for m in ("python", "cli", "plain")
        )
        print(
            f"n={n}: python / plain = {python / plain:.2f}x, "
            f"cli / python = {cli / python:.2f}x"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
