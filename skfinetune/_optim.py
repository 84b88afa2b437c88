"""Optimizers, their parameter groups and the learning-rate schedule of a phase.

``make_optimizer`` builds SGD, Adam or AdamW (fused kernels where the installed
torch has them for the parameters' device) or a user's optimizer class;
``layer_decay_groups`` gives each trainable block its rate, decayed by depth from
the head (``layer_decay``); ``warmup_cosine`` is the schedule of ``"cosine"``.
"""

import math

import torch

_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


def make_optimizer(optimizer, groups, learning_rate, momentum, weight_decay=0.0):
    """``"sgd"``/``"adam"``/``"adamw"`` or a ``torch.optim.Optimizer`` subclass."""
    if isinstance(optimizer, str):
        cls = _OPTIMIZERS[optimizer]
        kwargs = {"lr": learning_rate, "weight_decay": weight_decay}
        if cls is torch.optim.SGD:
            kwargs["momentum"] = momentum
            return cls(groups, **kwargs)
        groups = list(groups)
        if _fused_supported(groups):
            try:  # one kernel for all parameters: AdamW's step 13 -> 3 ms
                return cls(groups, fused=True, **kwargs)
            except (RuntimeError, TypeError, ValueError):
                pass
        return cls(groups, **kwargs)
    if weight_decay:
        return optimizer(groups, lr=learning_rate, weight_decay=weight_decay)
    return optimizer(groups, lr=learning_rate)


#: The first torch with fused Adam/AdamW kernels for each device type (before
#: it, torch accepts ``fused=True`` on the CPU and fails at the first step).
_FUSED_SINCE = {"cuda": (2, 0), "cpu": (2, 4), "mps": (2, 5)}


def _torch_version():
    return tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])


def _fused_supported(groups):
    """Whether the installed torch has fused Adam kernels for the parameters'
    device."""
    params = [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]
    kinds = {p.device.type for p in params}
    if len(kinds) != 1:
        return False
    since = _FUSED_SINCE.get(kinds.pop())
    return since is not None and _torch_version() >= since


def warmup_cosine(optimizer, n_steps, warmup_fraction=0.1):
    """Linear warm-up over the first ``warmup_fraction`` of ``n_steps``, then a
    cosine decay to zero: every parameter group's rate scaled by the same factor."""
    warmup = max(1, int(round(n_steps * warmup_fraction)))

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, n_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def layer_decay_groups(head_params, trainable_blocks, learning_rate, layer_decay):
    """Optimizer parameter groups: the head at ``learning_rate``, the trainable
    blocks at ``learning_rate * layer_decay ** depth`` (depth 0: the last one)."""
    groups = [{"params": list(head_params), "lr": learning_rate}]
    for depth, block in enumerate(reversed(trainable_blocks)):
        groups.append(
            {"params": list(block.params), "lr": learning_rate * layer_decay**depth}
        )
    return groups
