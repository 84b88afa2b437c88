"""_fusion: convolution + inference-mode BatchNorm folded into one convolution."""

import copy

import torch
import torchvision
from torch import nn

from skfinetune._fusion import FoldedConvBN, fold_batchnorm


def _model():
    model = torchvision.models.mobilenet_v3_small(weights=None)
    model.train()
    with torch.no_grad():  # give the BatchNorms non-trivial statistics
        for _ in range(3):
            model(torch.randn(4, 3, 64, 64))
    return model.eval()


def test_folded_network_computes_the_same():
    model = _model()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        with fold_batchnorm(model) as folds:
            assert len(folds) == 34
            folded = model(x)
    torch.testing.assert_close(folded, expected, rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, FoldedConvBN) for m in model.modules())


def test_gradients_reach_conv_and_batchnorm_parameters():
    model = _model()
    twin = copy.deepcopy(model)
    x = torch.randn(2, 3, 64, 64)
    model(x).sum().backward()
    with fold_batchnorm(twin):
        twin(x).sum().backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-4, msg=name)
    torch.testing.assert_close(  # running statistics untouched
        twin.features[0][1].running_mean, model.features[0][1].running_mean
    )


def test_batchnorm_in_training_mode_is_not_folded():
    block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    block.train()
    with fold_batchnorm(block) as folds:
        assert len(folds) == 0
    block.eval()
    with fold_batchnorm(block) as folds:
        assert len(folds) == 1
        assert isinstance(block[0], FoldedConvBN) and isinstance(block[1], nn.Identity)
    assert isinstance(block[0], nn.Conv2d) and isinstance(block[1], nn.BatchNorm2d)
