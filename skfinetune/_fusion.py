"""Convolution + inference-mode BatchNorm computed as one convolution.

A BatchNorm layer in inference mode is a per-channel affine map, so a convolution
followed by it equals one convolution with scaled weights and a bias.  Folding them
saves a full pass over the activations (forward and backward), which on the CPU is
memory-bound work.  In training, the fold is computed from the live parameters at
every forward, so the convolution's weights and the BatchNorm's scale and shift keep
training; only the running statistics, which inference mode leaves untouched anyway,
are read.  In inference, where nothing changes during a pass, it is computed once,
when the view is made.

Only pairs inside ``nn.Sequential`` containers are folded, where the BatchNorm is
applied to the convolution's output by construction.  Folding never changes the
fitted network: ``folded`` returns a *view*, a copy of the module tree that shares
every parameter and buffer with it, in which the pairs are replaced.  Training
steps through the view update the network's own tensors; concurrent ``predict``
calls each use their own view.
"""

import copy

import torch
from torch import nn


def _folded_weights(conv, bn):
    """The weight and bias of the one convolution that computes ``bn(conv(x))``."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    bias = -bn.running_mean * scale
    if bn.bias is not None:
        bias = bias + bn.bias
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv.weight * scale.reshape(-1, 1, 1, 1), bias


class FoldedConvBN(nn.Module):
    """``bn(conv(x))`` for a BatchNorm in inference mode, as one convolution whose
    weights are folded at every forward (from parameters that may be training)."""

    def __init__(self, conv, bn):
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x):
        weight, bias = _folded_weights(self.conv, self.bn)
        return self.conv._conv_forward(x, weight, bias)


class FrozenConvBN(nn.Module):
    """``bn(conv(x))`` in a network that does not change while the view is used
    (inference): the weights are folded once, when the view is made."""

    def __init__(self, conv, bn):
        super().__init__()
        self.conv = conv
        self.bn = bn  # kept: the view still holds every parameter of the network
        with torch.no_grad():
            weight, bias = _folded_weights(conv, bn)
        self.register_buffer("weight", weight, persistent=False)
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, x):
        return self.conv._conv_forward(x, self.weight, self.bias)


def shallow_copy(module):
    """A copy of ``module`` and its sub-modules that shares their parameters and
    buffers: the copy's own structure (``_modules``), mode (``training``) and
    tensor dictionaries can change without touching the original (the
    dictionaries are copies holding the same tensors)."""
    twin = copy.copy(module)
    twin._parameters = dict(module._parameters)
    twin._buffers = dict(module._buffers)
    twin._modules = {
        name: None if child is None else shallow_copy(child)
        for name, child in module._modules.items()
    }
    return twin


def detached_copy(module):
    """A copy of ``module`` for use outside training (export): the same tensor
    storage, but parameters of its own (``Parameter`` objects wrapping detached
    tensors), so that converting it (``.to()``, ``.float()``), which replaces a
    parameter's data in place, never changes the original."""
    twin = shallow_copy(module)
    for sub in twin.modules():
        sub._parameters = {
            name: None
            if p is None
            else nn.Parameter(p.detach(), requires_grad=p.requires_grad)
            for name, p in sub._parameters.items()
        }
    return twin


def folded(module, keep_modes=False, detached=False):
    """A view of ``module`` in which every ``Conv2d`` -> inference-mode ``BatchNorm2d``
    pair inside an ``nn.Sequential`` computes as one convolution.

    The view shares every parameter and buffer with ``module`` (gradients reach its
    parameters, BatchNorm layers in training mode update its running statistics) but
    has its own structure and modes: ``module`` itself is never changed, so several
    threads can predict with one fitted network at once.  The view takes the
    modes ``module`` has with ``keep_modes=True`` (training), else inference mode.
    With ``detached``, the view's parameters are its own objects
    (:func:`detached_copy`): for export, where the view is converted.
    """
    view = detached_copy(module) if detached else shallow_copy(module)
    if keep_modes:
        return fold(view)
    return fold(view.eval(), frozen=True)


def fold(view, frozen=False):
    """Fold, in place, the pairs of ``view`` (a copy made by ``folded`` or
    ``shallow_copy``) whose BatchNorm is in inference mode; returns ``view``.

    With ``frozen``, the folded weights are computed once, now: for a view
    used where nothing trains (``folded`` without ``keep_modes``)."""
    for parent in list(view.modules()):
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
                pair = FrozenConvBN if frozen else FoldedConvBN
                parent._modules[conv_key] = pair(conv, bn)
                parent._modules[bn_key] = nn.Identity()
    return view
