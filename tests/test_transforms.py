"""_transforms: centre crop, augmentation, batch preparation."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torchvision.transforms import v2

from skfinetune._vision.transforms import (
    BatchPreparer,
    augmentation_options,
    center_crop,
    device_generator,
    random_affine_crop,
    to_float,
)


def test_center_crop_matches_torchvision():
    x = torch.rand(2, 3, 37, 37)
    torch.testing.assert_close(center_crop(x, 32), v2.CenterCrop(32)(x))
    x = torch.rand(1, 3, 256, 256)
    torch.testing.assert_close(center_crop(x, 224), v2.CenterCrop(224)(x))


def test_to_float_scales_and_expands():
    x = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    out = to_float(x)
    assert out.shape == (1, 3, 2, 2) and out.dtype == torch.float32
    assert torch.all(out == 1)


def test_augmentation_options():
    assert augmentation_options("auto", images=False) is None
    assert augmentation_options("auto")["horizontal_flip"] is True
    assert augmentation_options(False) is None
    assert augmentation_options({"rotation": 0})["shift"] == 0.1
    with pytest.raises(ValueError, match="rotation"):
        augmentation_options({"rotation": -1})


def test_identity_augmentation_is_the_centre_crop():
    x = torch.rand(3, 3, 40, 40)
    options = {"rotation": 0, "shift": 0, "zoom": 0, "horizontal_flip": False}
    out = random_affine_crop(x, 40, options, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_flip_only_mirrors():
    x = torch.rand(64, 1, 8, 8)
    options = {"rotation": 0, "shift": 0, "zoom": 0, "horizontal_flip": True}
    out = random_affine_crop(x, 8, options, torch.Generator().manual_seed(0))
    flipped = [
        torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x, strict=True)
    ]
    same = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert 10 < sum(flipped) < 54


def test_augmentation_repeats_with_the_same_generator():
    x = torch.rand(4, 3, 36, 36)
    options = augmentation_options(True)
    a = random_affine_crop(x, 32, options, torch.Generator().manual_seed(1))
    b = random_affine_crop(x, 32, options, torch.Generator().manual_seed(1))
    c = random_affine_crop(x, 32, options, torch.Generator().manual_seed(2))
    assert a.shape == (4, 3, 32, 32)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


class Transfers(TorchDispatchMode):
    """Records every operation whose outputs lie on another device than its
    inputs: a copy between host and device (blocking on a GPU unless pinned)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = lambda tree: {  # noqa: E731
            t.device for t in tree_leaves(tree) if isinstance(t, torch.Tensor)
        }
        inputs, outputs = tensors((args, kwargs or {})), tensors(out)
        if inputs and outputs and inputs != outputs:
            self.seen.append(str(func))
        return out


def test_augmentation_is_drawn_on_the_images_device():
    """Images on another device (here ``meta``) are augmented there: no random
    numbers or matrices come from the host in a training batch."""
    x = torch.zeros(4, 3, 40, 40, device="meta")
    generator = device_generator(x.device, 0)
    assert generator is None  # meta has no generator of its own: its default one
    with Transfers() as transfers:
        out = random_affine_crop(x, 32, augmentation_options(True), generator)
    assert out.is_meta and out.shape == (4, 3, 32, 32)
    assert transfers.seen == []
    cpu = device_generator(torch.device("cpu"), 3)
    assert cpu.device.type == "cpu"
    assert torch.equal(
        torch.rand(2, generator=cpu), torch.rand(2, generator=cpu.manual_seed(3))
    )


def test_batch_preparer_normalises_and_never_augments_at_inference():
    prep = BatchPreparer(
        4,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        torch.device("cpu"),
        augmentation_options(True),
        channels_last=True,
    )
    raw = torch.full((2, 3, 6, 6), 255, dtype=torch.uint8)
    out = prep(raw)
    assert out.shape == (2, 3, 4, 4)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, torch.ones_like(out))
    trained = prep(raw, train=True, generator=torch.Generator().manual_seed(0))
    assert trained.shape == (2, 3, 4, 4)
