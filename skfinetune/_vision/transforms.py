"""Per-batch tensor transforms: scaling, augmentation, centre crop, normalisation.

They run on whole batches on the training device (the GPU when there is one), so
augmentation never starves it and images are decoded only once per ``fit``.
"""

import math

import torch
import torch.nn.functional as F

#: Augmentation used by ``augment=True``: the options of the classic
#: ``ImageDataGenerator`` recipe (rotation, shift, zoom, horizontal flip).
DEFAULT_AUGMENTATION = {
    "rotation": 15.0,
    "shift": 0.1,
    "zoom": 0.1,
    "horizontal_flip": True,
}


def augmentation_options(augment, images=True):
    """``augment`` parameter -> dict of options, or ``None`` when switched off.

    ``"auto"`` means the default augmentation for images and none for data whose
    features need not be pixels that may rotate or flip (``images=False``: 2-D
    rows).
    """
    if augment == "auto":
        augment = images
    if augment is False or augment is None:
        return None
    if augment is True:
        return dict(DEFAULT_AUGMENTATION)
    unknown = set(augment) - set(DEFAULT_AUGMENTATION)
    if unknown:
        raise ValueError(
            f"Unknown augment option(s) {sorted(unknown)}; expected keys among "
            f"{sorted(DEFAULT_AUGMENTATION)}."
        )
    options = {**DEFAULT_AUGMENTATION, **augment}
    for key in ("rotation", "shift", "zoom"):
        value = options[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(
                f"augment[{key!r}] must be a non-negative number; got {value!r}."
            )
    if options["zoom"] >= 1:
        raise ValueError(f"augment['zoom'] must be < 1; got {options['zoom']!r}.")
    return options


def to_float(x):
    """uint8 (0-255) or float (0-1) batch -> float32 3-channel batch in [0, 1]."""
    x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x


def center_crop(x, size):
    """The centre ``size x size`` pixels, as torchvision's ``CenterCrop``."""
    height, width = x.shape[-2:]
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return x[..., top : top + size, left : left + size]


def device_generator(device, seed):
    """A generator of random numbers on ``device`` seeded with ``seed``; ``None``
    where the device kind has none of its own (its default one is then used)."""
    try:
        return torch.Generator(device=device).manual_seed(seed)
    except RuntimeError:
        return None


def random_affine_crop(x, size, options, generator):
    """Random rotation, shift, zoom and flip, then the centre crop, in one resample.

    The random numbers are drawn on ``x``'s device, from ``generator`` (on that
    device; ``None``: the device's default one) so that runs repeat and no batch
    waits for a copy from the host.
    """
    n, _, height, _ = x.shape
    u = torch.rand(n, 5, generator=generator, device=x.device).mul_(2).sub_(1)
    angle = u[:, 0] * math.radians(options["rotation"])
    scale = (1 + u[:, 1] * options["zoom"]) * (size / height)
    shift_x = u[:, 2] * 2 * options["shift"]
    shift_y = u[:, 3] * 2 * options["shift"]
    flip = torch.ones(n, device=x.device)
    if options["horizontal_flip"]:
        flip = torch.where(u[:, 4] < 0, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift_x], dim=1),
            torch.stack([sin * flip, cos, shift_y], dim=1),
        ],
        dim=1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, (n, x.shape[1], size, size), align_corners=False)
    return F.grid_sample(
        x, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


class BatchPreparer:
    """Raw stored batch -> network input, for training or for inference."""

    def __init__(self, size, mean, std, device, augmentation, channels_last):
        self.size = size
        self.device = device
        self.augmentation = augmentation
        self.channels_last = channels_last
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)

    def __call__(self, raw, train=False, generator=None):
        if self.device.type == "cuda" and raw.device.type == "cpu":
            # pinned (by the loader, or here on the fit's GPU), then copied on
            # the compute stream without waiting
            with torch.cuda.device(self.device):
                if not raw.is_pinned():
                    raw = raw.pin_memory()
                x = raw.to(self.device, non_blocking=True)
        else:
            x = raw.to(self.device)
        x = to_float(x)
        if train and self.augmentation is not None:
            x = random_affine_crop(x, self.size, self.augmentation, generator)
        else:
            x = center_crop(x, self.size)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x
