"""GPU benchmark: FineTuneClassifier beside plain PyTorch loops, images/s.

MobileNetV2 and ResNet-50 (random initialisation), 224 px (stored at 256 px as
the ImageNet weights' resize says), in bfloat16 autocast and in float32.  For each,
the same jobs run through the estimator and through a plain loop written the way
people write a fast one (``torch.autocast``, channels_last, fused AdamW), each
clock read after a ``torch.cuda.synchronize``:

- ``fit frozen``: the head trained, the backbone frozen and run every epoch
  (``feature_cache=False``; with the cache the backbone runs once);
- ``fit auto``: phase 2 as the defaults train it: the blocks that
  ``freeze_depth="auto"`` leaves frozen are frozen in the plain loop too, and
  BatchNorm stays in inference mode in both (like for like);
- ``fit all`` (plain only): every layer trained, BatchNorm in training mode: the
  loop most people write, for reference;
- ``predict``: class probabilities.

Each job runs from memory (uint8 images already decoded) and from JPEG files
(decoded every epoch: the estimator with ``cache_size=0``; the plain loop with a
``DataLoader`` of PIL-decoding workers).  Images/s are the best epoch after the
first (warm-up).  ``--time-limit`` stops between jobs and prints what was measured.

``python benchmarks/gpu_throughput.py`` on a CUDA machine (about 5 minutes on one
H200); ``python benchmarks/gpu_throughput.py --smoke`` runs every job at a tiny size
on the CPU (MobileNetV2, float32, unless ``--models``/``--precisions`` say
otherwise): a check of the script that CI runs; its figures mean nothing.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from skfinetune import FineTuneClassifier
from skfinetune._backbones import classifier_blocks
from skfinetune._training import frozen_block_count

PRECISIONS = {"bf16": torch.bfloat16, "fp32": None}


class Settings:
    def __init__(self, args):
        self.smoke = args.smoke
        self.device = torch.device("cpu" if args.smoke else "cuda")
        self.size, self.store = (32, 36) if args.smoke else (224, 256)
        self.batch = args.batch_size or (8 if args.smoke else 256)
        self.n = 2 * self.batch if args.smoke else 20 * self.batch
        self.epochs = 2 if args.smoke else 3
        self.workers = 0 if args.smoke else min(8, os.cpu_count() or 1)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def _timed_epochs(s, run_epoch):
    """The best images/s over the epochs after the first."""
    rates = []
    for _ in range(s.epochs):
        s.sync()
        start = time.perf_counter()
        n = run_epoch()
        s.sync()
        rates.append(n / (time.perf_counter() - start))
    return max(rates[1:])


# ------------------------------------------------------------------ plain loops
def _plain_model(s, name):
    import torchvision

    model = torchvision.models.get_model(name, weights=None)
    head_attr = "fc" if hasattr(model, "fc") else "classifier"
    head = getattr(model, head_attr)
    n_in = head.in_features if isinstance(head, nn.Linear) else head[-1].in_features
    setattr(
        model,
        head_attr,
        nn.Sequential(
            nn.Linear(n_in, 1024), nn.ReLU(), nn.Dropout(0.2), nn.Linear(1024, 2)
        ),
    )
    return model.to(s.device, memory_format=torch.channels_last), head_attr


class _Files(torch.utils.data.Dataset):
    def __init__(self, paths, y, s):
        self.paths, self.y, self.s = paths, y, s

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as image:
            image = image.convert("RGB").resize((self.s.store, self.s.store))
        array = np.asarray(image, dtype=np.uint8).copy()
        return torch.from_numpy(array).permute(2, 0, 1), self.y[i]


def _plain_batches(s, X, y, paths, shuffle):
    """Raw uint8 batches on the device: from resident memory, or from files."""
    if paths is None:
        data = torch.as_tensor(X).permute(0, 3, 1, 2).to(s.device)
        target = torch.as_tensor(y).to(s.device)
        order = torch.randperm(s.n // s.batch) if shuffle else range(s.n // s.batch)
        for i in order:
            b = slice(int(i) * s.batch, (int(i) + 1) * s.batch)
            yield data[b], target[b]
        return
    loader = torch.utils.data.DataLoader(
        _Files(paths, y, s),
        batch_size=s.batch,
        shuffle=shuffle,
        num_workers=s.workers,
        pin_memory=s.device.type == "cuda",
        persistent_workers=False,
    )
    for xb, yb in loader:
        yield xb.to(s.device, non_blocking=True), yb.to(s.device, non_blocking=True)


def plain(s, name, job, precision, X, y, paths=None):
    model, head_attr = _plain_model(s, name)
    mean = torch.tensor([0.485, 0.456, 0.406], device=s.device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=s.device).view(1, 3, 1, 1)
    off = (s.store - s.size) // 2
    dtype = PRECISIONS[precision]
    amp = torch.autocast(
        s.device.type, dtype=dtype or torch.float32, enabled=dtype is not None
    )

    def prepare(raw):
        x = raw[:, :, off : off + s.size, off : off + s.size].float() / 255
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    if job == "predict":
        model.eval()

        def epoch():
            n = 0
            with torch.inference_mode(), amp:
                for raw, _ in _plain_batches(s, X, y, paths, shuffle=False):
                    model(prepare(raw)).float().softmax(1)
                    n += len(raw)
            return n

        return _timed_epochs(s, epoch)
    head = getattr(model, head_attr)
    if job == "all":
        trainable, model_mode = list(model.parameters()), "train"
    else:
        blocks, _ = classifier_blocks(model)
        n_frozen = len(blocks)
        if job == "auto":  # the blocks the defaults leave frozen
            n_frozen = frozen_block_count("auto", len(blocks), 0.8, name)
        for p in model.parameters():
            p.requires_grad_(False)
        for block in blocks[n_frozen:]:
            for p in block.params:
                p.requires_grad_(True)
        for p in head.parameters():
            p.requires_grad_(True)
        trainable = [p for p in model.parameters() if p.requires_grad]
        model_mode = "eval"
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=s.device.type == "cuda")
    criterion = nn.CrossEntropyLoss()
    model.train(model_mode == "train")
    head.train()  # dropout as ours

    def epoch():
        n = 0
        loss_sum = torch.zeros((), device=s.device)
        for raw, target in _plain_batches(s, X, y, paths, shuffle=True):
            with amp:
                loss = criterion(model(prepare(raw)), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            n += len(raw)
        loss_sum.item()
        return n

    return _timed_epochs(s, epoch)


# ------------------------------------------------------------------------- ours
def ours(s, name, job, precision, X, y, paths=None):
    params = dict(
        weights=None,
        batch_size=s.batch,
        image_size=s.size,
        augment=False,
        device=str(s.device),
        precision="bfloat16" if precision == "bf16" else "float32",
        random_state=0,
        train_batchnorm=False,  # BatchNorm in inference mode, as with weights
        hidden_layer_sizes=(1024,),
        cache_size=0 if paths is not None else 2048,
    )
    data = X if paths is None else paths
    if job == "predict":
        clf = FineTuneClassifier(name, frozen_epochs=0, unfrozen_epochs=0, **params)
        clf.fit(X[: s.batch], y[: s.batch])

        def epoch():
            clf.predict_proba(data)
            return len(data)

        return _timed_epochs(s, epoch)
    if job == "frozen":
        clf = FineTuneClassifier(
            name,
            frozen_epochs=s.epochs,
            unfrozen_epochs=0,
            feature_cache=False,
            frozen_optimizer="adamw",
            frozen_learning_rate=1e-4,
            **params,
        )
    else:
        clf = FineTuneClassifier(
            name, frozen_epochs=0, unfrozen_epochs=s.epochs, **params
        )
    clf.fit(data, y)
    return max(h["images_per_second"] for h in clf.history_[1:])


def _write_jpegs(X, folder):
    paths = []
    for i, array in enumerate(X):
        path = Path(folder) / f"{i:05d}.jpg"
        Image.fromarray(array).save(path, quality=90)
        paths.append(str(path))
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, on the CPU")
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--precisions", nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=540, help="seconds")
    args = parser.parse_args()
    if args.models is None:  # the smoke run checks every job, on one model
        args.models = ["mobilenet_v2"] if args.smoke else ["mobilenet_v2", "resnet50"]
    if args.precisions is None:  # bfloat16 on a CPU is slow, and not the point
        args.precisions = ["fp32"] if args.smoke else list(PRECISIONS)
    s = Settings(args)
    if s.device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here; --smoke checks the script on the CPU")
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(s.n, s.store, s.store, 3), dtype=np.uint8)
    y = np.arange(s.n) % 2
    device_name = torch.cuda.get_device_name() if s.device.type == "cuda" else "cpu"
    print(
        f"{device_name}, torch {torch.__version__}, {s.n} images, batch {s.batch}, "
        f"{s.size} px, {s.workers} loader workers (plain, from files)"
    )
    print("| model | precision | job | data | plain img/s | ours img/s | ours/plain |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        paths = _write_jpegs(X, folder)
        for name in args.models:
            for precision in args.precisions:
                for job in ("frozen", "auto", "all", "predict"):
                    for source in ("memory", "files"):
                        if time.perf_counter() - started > args.time_limit:
                            print(f"time limit of {args.time_limit:.0f} s reached")
                            return
                        files = paths if source == "files" else None
                        a = plain(s, name, job, precision, X, y, files)
                        b = None
                        if job != "all":  # ours always keeps some blocks frozen
                            b = ours(s, name, job, precision, X, y, files)
                        ratio = "" if b is None else f"{b / a:.2f}"
                        print(
                            f"| {name} | {precision} | {job} | {source} | {a:.0f} "
                            f"| {'' if b is None else f'{b:.0f}'} | {ratio} |",
                            flush=True,
                        )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
