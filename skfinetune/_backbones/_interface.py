"""What the engine knows of a backbone, whatever its source.

A :class:`Backbone` says where a pretrained network comes from (torchvision, timm,
a user's module): ``check`` refuses unknown names and weights before any data is
read; ``preprocessing`` gives the input size, crop ratio, normalisation and
interpolation its weights were trained with; ``build`` returns the network as a
:class:`FineTuneNet` (the pretrained feature extractor, then a new head) whose
blocks (what ``freeze_depth`` and ``layer_decay`` count) are derived from the
module by a picklable rule; ``cache_key`` says what the pretrained features depend
on; ``check_saveable`` says whether ``skfinetune.save`` can rebuild it from JSON.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ._network import FineTuneNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Preprocessing:
    """How the weights expect their input: the network's square input
    (``crop_size``), the side images are resized to first (``resize_size``, then
    centre-cropped), normalisation and resampling."""

    crop_size: int = 224
    resize_size: int = 256
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"


class Backbone:
    """One source of pretrained networks (see the module docstring)."""

    #: How messages name the backbone, e.g. ``'mobilenet_v2'``.
    description = "backbone"

    def check(self):
        """Raise ``ValueError``/``TypeError``/``ImportError`` for what cannot be
        built, before any data is read."""

    def preprocessing(self):
        raise NotImplementedError

    def load(self, pretrained):
        """The source's model with its weights (``pretrained``) or randomly
        initialised (to be filled by ``skfinetune.load``)."""
        raise NotImplementedError

    def cut_head(self, model):
        """Remove the classification layer in place; return ``(n_features,
        block_rule)``."""
        raise NotImplementedError

    def build(self, new_head=None, pretrained=True):
        """``(net, n_features)``: the model without its classification layer,
        followed by ``new_head(n_features)`` (``None``: the pooled features)."""
        model = self.load(pretrained)
        n_features, rule = self.cut_head(model)
        head = nn.Identity() if new_head is None else new_head(n_features)
        return FineTuneNet(model, head, rule), n_features

    def cache_key(self):
        """What the pretrained features depend on, for the ``memory`` cache."""
        raise NotImplementedError

    def check_saveable(self):
        """Raise ``TypeError`` when ``skfinetune.save`` cannot rebuild it."""


# ----------------------------------------------------------------- weights files
def looks_like_path(weights):
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (
        os.sep in weights
        or weights.endswith((".pt", ".pth", ".bin", ".ckpt", ".safetensors"))
    )


def is_weights_file(weights):
    """Whether ``weights`` names a file: a path-like, a string that looks like a
    path (a folder separator, a weights suffix), or the name of an existing file."""
    return looks_like_path(weights) or (
        isinstance(weights, str) and os.path.isfile(weights)
    )


def default_or_file(weights):
    """Whether ``weights`` is what timm names and modules take: ``None``,
    ``"DEFAULT"`` or a weights file."""
    return weights is None or weights == "DEFAULT" or is_weights_file(weights)


def weights_key(weights):
    """``weights`` (``None``, ``"DEFAULT"`` or a file) as part of a cache key."""
    return weights if weights is None or weights == "DEFAULT" else file_key(weights)


def file_key(path):
    """A weights file as part of a cache key: its path and modification time."""
    path = os.fspath(path)
    return (path, os.path.getmtime(path)) if os.path.isfile(path) else path


def read_state_dict(path):
    """The state dict in ``path``: safetensors, or a ``torch.save`` file (read with
    ``weights_only=True``: no code runs), optionally nested under ``state_dict``
    or ``model``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"weights file {str(path)!r} is not a readable PyTorch state dict "
            f"(torch.save or safetensors): {str(exc).strip().splitlines()[0]}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(
            f"weights file {str(path)!r} holds a {type(state).__name__}, not a state "
            "dict (save one with torch.save(model.state_dict(), path))."
        )
    return state


def load_state_dict_file(model, path, description, drop_prefixes=()):
    """Load ``path`` into ``model`` (strict), leaving out the keys under
    ``drop_prefixes`` (a classification layer the model no longer has)."""
    state = read_state_dict(path)
    if drop_prefixes:
        state = {
            k: v
            for k, v in state.items()
            if not any(k == p or k.startswith(p + ".") for p in drop_prefixes)
        }
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ValueError(
            f"weights file {str(path)!r} does not fit backbone {description}: {detail}"
        ) from None
