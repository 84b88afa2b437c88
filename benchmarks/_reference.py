"""A plain PyTorch two-phase fine-tune, written the way a strong engineer would.

The same model (MobileNetV2 + a 1024-unit head), the same hyperparameters (Adam 1e-3
for the head, then SGD 1e-4 with momentum 0.9 for everything) and the same
augmentation (random affine: rotation 15, shift 0.1, zoom 0.1, horizontal flip) as
FineTuneClassifier's defaults, in torchvision's usual Dataset + DataLoader +
transforms style: every epoch decodes and transforms every image, and the frozen
phase runs the frozen backbone forward every epoch.  The frozen backbone is in eval
mode; in phase 2 ``model.train()`` trains BatchNorm as people usually write it, or,
with ``train_batchnorm=False``, keeps it in inference mode as FineTuneClassifier's
default does.
"""

import time

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.models import MobileNet_V2_Weights, get_model


class Files(Dataset):
    def __init__(self, paths, targets, transform):
        self.paths, self.targets, self.transform = paths, targets, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as image:
            image = image.convert("RGB")
        return self.transform(image), self.targets[i]


def _set_batchnorm_eval(model):
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def fine_tune(
    train_paths,
    train_labels,
    val_paths,
    val_labels,
    *,
    frozen_epochs=3,
    unfrozen_epochs=3,
    batch_size=32,
    seed=0,
    channels_last=False,
    device="cpu",
    bf16=False,
    weights=MobileNet_V2_Weights.IMAGENET1K_V1,
    train_batchnorm=True,
):
    """Fit on the train files, return ``(val_accuracy, per-phase stats)``."""
    torch.manual_seed(seed)
    device = torch.device(device)
    classes = sorted(set(train_labels))
    index = {c: i for i, c in enumerate(classes)}
    ytr = [index[c] for c in train_labels]
    yva = [index[c] for c in val_labels]

    model = get_model("mobilenet_v2", weights=weights)
    model.classifier = nn.Sequential(
        nn.Linear(1280, 1024),
        nn.ReLU(inplace=True),
        nn.Dropout(0.2),
        nn.Linear(1024, len(classes)),
    )
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    normalize = transforms.Normalize(
        weights.transforms().mean, weights.transforms().std
    )
    train_tf = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1)),
            transforms.RandomHorizontalFlip(),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            normalize,
        ]
    )
    eval_tf = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            normalize,
        ]
    )
    loader = DataLoader(
        Files(train_paths, ytr, train_tf),
        batch_size=batch_size,
        shuffle=True,
        num_workers=0,
    )
    criterion = nn.CrossEntropyLoss()
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    stats = {}

    def run_epochs(phase, epochs, optimizer):
        start, seen = time.perf_counter(), 0
        for _ in range(epochs):
            model.train()
            if phase == "frozen":
                model.features.eval()
            elif not train_batchnorm:
                _set_batchnorm_eval(model)
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with amp:
                    loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                seen += len(y)
        seconds = time.perf_counter() - start
        stats[phase] = {"seconds": seconds, "images_per_second": seen / seconds}

    for p in model.features.parameters():
        p.requires_grad_(False)
    if frozen_epochs:
        run_epochs(
            "frozen",
            frozen_epochs,
            torch.optim.Adam(model.classifier.parameters(), lr=1e-3),
        )
    for p in model.parameters():
        p.requires_grad_(True)
    if unfrozen_epochs:
        run_epochs(
            "unfrozen",
            unfrozen_epochs,
            torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9),
        )

    start = time.perf_counter()
    model.eval()
    correct = 0
    val = DataLoader(Files(val_paths, yva, eval_tf), batch_size=batch_size)
    with torch.inference_mode(), amp:
        for x, y in val:
            x = x.to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            correct += (model(x).argmax(1).cpu() == y).sum().item()
    stats["predict"] = {"seconds": time.perf_counter() - start}
    return correct / len(yva), stats
