"""GPU benchmark: FineTuneClassifier vs a plain bf16 PyTorch loop, images/s.

Synthetic 224 px images (uint8, stored at 256 px as the weights' resize size says),
batch 256, MobileNetV2 and ResNet-50; three jobs each: train with the backbone
frozen, train it unfrozen, predict.  The plain loop is the fast one people write:
data resident on the GPU, bf16 autocast, channels_last, SGD, no augmentation; ours
runs with ``augment=False`` too and reads its per-epoch images/s from ``history_``
(the first epoch, with warm-up, is left out on both sides).  Finishes within
5 minutes on one H200.

``python benchmarks/gpu_throughput.py`` on a CUDA machine;
``python benchmarks/gpu_throughput.py --smoke`` runs a tiny CPU version to check the
script itself.
"""

import sys
import time

import numpy as np
import torch
from torch import nn

from skfinetune import FineTuneClassifier

SMOKE = "--smoke" in sys.argv
DEVICE = torch.device("cpu" if SMOKE else "cuda")
SIZE, STORE = (32, 36) if SMOKE else (224, 256)
BATCH = 8 if SMOKE else 256
N = 2 * BATCH if SMOKE else 20 * BATCH
EPOCHS = 2 if SMOKE else 3


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def plain(name, X, y, phase):
    """images/s of the plain loop for ``phase`` in frozen, unfrozen, predict."""
    import torchvision

    model = torchvision.models.get_model(name, weights=None)
    head_attr = "fc" if hasattr(model, "fc") else "classifier"
    head = getattr(model, head_attr)
    in_features = (
        head.in_features if isinstance(head, nn.Linear) else head[-1].in_features
    )
    setattr(
        model,
        head_attr,
        nn.Sequential(
            nn.Linear(in_features, 1024), nn.ReLU(), nn.Dropout(0.2), nn.Linear(1024, 2)
        ),
    )
    model.to(DEVICE, memory_format=torch.channels_last)
    data = torch.as_tensor(X).permute(0, 3, 1, 2).to(DEVICE)  # GPU-resident uint8
    target = torch.as_tensor(y).to(DEVICE)
    mean = torch.tensor([0.485, 0.456, 0.406], device=DEVICE).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=DEVICE).view(1, 3, 1, 1)
    off = (STORE - SIZE) // 2
    amp = torch.autocast(
        DEVICE.type, dtype=torch.bfloat16, enabled=DEVICE.type == "cuda"
    )

    def batch(i):
        x = data[i : i + BATCH, :, off : off + SIZE, off : off + SIZE].float() / 255
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    head_params = getattr(model, head_attr).parameters()
    if phase == "predict":
        model.eval()
        rates = []
        for _ in range(EPOCHS):
            sync()
            start = time.perf_counter()
            with torch.inference_mode(), amp:
                for i in range(0, N, BATCH):
                    model(batch(i)).float().softmax(1)
            sync()
            rates.append(N / (time.perf_counter() - start))
        return max(rates[1:])
    frozen = phase == "frozen"
    for p in model.parameters():
        p.requires_grad_(not frozen)
    for p in getattr(model, head_attr).parameters():
        p.requires_grad_(True)
    params = head_params if frozen else model.parameters()
    optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    model.train()
    if frozen:
        model.eval()
        getattr(model, head_attr).train()
    rates = []
    for _ in range(EPOCHS):
        sync()
        start = time.perf_counter()
        for i in torch.randperm(N // BATCH).tolist():
            with amp:
                loss = criterion(
                    model(batch(i * BATCH)), target[i * BATCH : (i + 1) * BATCH]
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync()
        rates.append(N / (time.perf_counter() - start))
    return max(rates[1:])


def ours(name, X, y, phase):
    params = dict(
        weights=None,
        batch_size=BATCH,
        image_size=SIZE,
        augment=False,
        device=DEVICE.type,
        random_state=0,
        frozen_optimizer="sgd",
        train_batchnorm=False,
    )
    if phase == "predict":
        clf = FineTuneClassifier(name, frozen_epochs=0, unfrozen_epochs=0, **params)
        clf.fit(X[:BATCH], y[:BATCH])
        rates = []
        for _ in range(EPOCHS):
            sync()
            start = time.perf_counter()
            clf.predict_proba(X)
            sync()
            rates.append(N / (time.perf_counter() - start))
        return max(rates[1:])
    if phase == "frozen":  # backbone forward every epoch, as the plain loop does
        clf = FineTuneClassifier(
            name, frozen_epochs=EPOCHS, unfrozen_epochs=0, feature_cache=False, **params
        )
    else:
        clf = FineTuneClassifier(
            name,
            frozen_epochs=0,
            unfrozen_epochs=EPOCHS,
            unfrozen_optimizer="sgd",
            **params,
        )
    clf.fit(X, y)
    return max(h["images_per_second"] for h in clf.history_[1:])


def main():
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA GPU here; run with --smoke for a CPU check of the script")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(N, STORE, STORE, 3), dtype=np.uint8)
    y = np.arange(N) % 2
    name_of = torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu"
    print(f"{name_of}, torch {torch.__version__}, {N} images, batch {BATCH}, {SIZE} px")
    header = ("model", "job", "plain img/s", "ours img/s", "ours/plain")
    print(f"{header[0]:<13}{header[1]:<10}" + "".join(f"{h:>12}" for h in header[2:]))
    for name in ("mobilenet_v2", "resnet50"):
        for phase in ("frozen", "unfrozen", "predict"):
            a = plain(name, X, y, phase)
            b = ours(name, X, y, phase)
            print(f"{name:<13}{phase:<10}{a:12.0f}{b:12.0f}{b / a:12.2f}", flush=True)
    if DEVICE.type == "cuda":
        ours_cached = FineTuneClassifier(
            "mobilenet_v2",
            weights=None,
            batch_size=BATCH,
            image_size=SIZE,
            frozen_epochs=10,
            unfrozen_epochs=0,
            device="cuda",
            random_state=0,
        )
        start = time.perf_counter()
        ours_cached.fit(X, y)
        seconds = time.perf_counter() - start
        print(f"ours, feature cache, 10 frozen epochs: {seconds:.1f} s")


if __name__ == "__main__":
    main()
