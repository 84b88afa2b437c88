"""Convolution + inference-mode BatchNorm computed as one convolution.

A BatchNorm layer in inference mode is a per-channel affine map, so a convolution
followed by it equals one convolution with scaled weights and a bias.  Folding them
saves a full pass over the activations (forward and backward), which on the CPU is
memory-bound work.  The fold is computed from the live parameters at every forward,
so the convolution's weights and the BatchNorm's scale and shift keep training; only
the running statistics, which inference mode leaves untouched anyway, are read.

Only pairs inside ``nn.Sequential`` containers are folded, where the BatchNorm is
applied to the convolution's output by construction.  ``fold_batchnorm`` returns a
handle whose ``restore()`` (or the end of its ``with`` block) puts the original
modules back.
"""

import torch
from torch import nn


class FoldedConvBN(nn.Module):
    """``bn(conv(x))`` for a BatchNorm in inference mode, as one convolution."""

    def __init__(self, conv, bn):
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x):
        conv, bn = self.conv, self.bn
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        bias = -bn.running_mean * scale
        if bn.bias is not None:
            bias = bias + bn.bias
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        weight = conv.weight * scale.reshape(-1, 1, 1, 1)
        return conv._conv_forward(x, weight, bias)


class _Folds:
    def __init__(self, replaced):
        self.replaced = replaced

    def __len__(self):
        return len(self.replaced)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()

    def restore(self):
        for parent, conv_key, bn_key, conv, bn in self.replaced:
            parent._modules[conv_key] = conv
            parent._modules[bn_key] = bn
        self.replaced = []


def fold_batchnorm(module):
    """Fold every ``Conv2d`` -> inference-mode ``BatchNorm2d`` pair in Sequentials."""
    replaced = []
    for parent in list(module.modules()):
        if not isinstance(parent, nn.Sequential):
            continue
        keys = list(parent._modules)
        for conv_key, bn_key in zip(keys, keys[1:], strict=False):
            conv, bn = parent._modules[conv_key], parent._modules[bn_key]
            if (
                type(conv) is nn.Conv2d
                and type(bn) is nn.BatchNorm2d
                and not bn.training
                and bn.track_running_stats
                and conv.out_channels == bn.num_features
            ):
                parent._modules[conv_key] = FoldedConvBN(conv, bn)
                parent._modules[bn_key] = nn.Identity()
                replaced.append((parent, conv_key, bn_key, conv, bn))
    return _Folds(replaced)
