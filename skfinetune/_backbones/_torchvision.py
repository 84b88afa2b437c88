"""torchvision's classification models by name (``backbone="mobilenet_v2"``).

Weights in torchvision's vocabulary: ``"DEFAULT"``, an enum name such as
``"IMAGENET1K_V1"`` or member, ``None`` (random initialisation), or a path to a
state-dict file of the architecture.  Preprocessing from the weights'
``transforms()``; head and blocks by the children rules of ``_rules``.  Auxiliary
heads (Inception, GoogLeNet) are removed.
"""

import os
from pathlib import Path

import torch
import torchvision
from torchvision.models._api import WeightsEnum

from ._interface import (
    Backbone,
    Preprocessing,
    file_key,
    is_weights_file,
    load_state_dict_file,
    looks_like_path,
)
from ._rules import ChildBlocks, cut_head

AUX_ATTRIBUTES = ("AuxLogits", "aux1", "aux2")


def classification_model_names():
    """Names of torchvision's classification models (``list_models``)."""
    return torchvision.models.list_models(module=torchvision.models)


def _weights_enum(name):
    try:
        return torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None


def resolve_weights(backbone, weights):
    """Return ``(enum_member_or_None, path_or_None)`` for the ``weights`` parameter
    of torchvision model ``backbone``; a ``ValueError`` for names torchvision does
    not know for it."""
    if weights is None:
        return None, None
    if looks_like_path(weights):
        return None, Path(weights)
    enum = _weights_enum(backbone)
    if isinstance(weights, WeightsEnum):
        if enum is None or not isinstance(weights, enum):
            raise ValueError(
                f"weights={weights} are not weights of backbone {backbone!r}."
            )
        return weights, None
    if not isinstance(weights, str):
        raise TypeError(
            "weights must be None, a torchvision weights name or enum member, or a "
            f"path; got {type(weights).__name__}."
        )
    if enum is None:
        if os.path.isfile(weights):
            return None, Path(weights)
        raise ValueError(f"torchvision has no pretrained weights for {backbone!r}.")
    try:
        return enum.verify(weights), None
    except (KeyError, ValueError):
        if os.path.isfile(weights):  # a file in the working folder, e.g. "tuned"
            return None, Path(weights)
        known = ["DEFAULT"] + [w.name for w in enum]
        raise ValueError(
            f"Unknown weights {weights!r} for backbone {backbone!r}; expected one "
            f"of {known}, None, or a path to a state-dict file."
        ) from None


def preprocessing_for(backbone, weights_enum):
    """Input size and normalisation from the weights' ``transforms()`` (the
    architecture's default weights when none are given)."""
    if weights_enum is None and isinstance(backbone, str):
        enum = _weights_enum(backbone)
        weights_enum = None if enum is None else enum.DEFAULT
    if weights_enum is None:
        return Preprocessing()
    t = weights_enum.transforms()
    crop = int(t.crop_size[0])
    resize = int(t.resize_size[0]) if t.resize_size else crop
    return Preprocessing(crop, resize, tuple(t.mean), tuple(t.std))


def _checkpoint_file(weights_enum):
    return (
        Path(torch.hub.get_dir()) / "checkpoints" / weights_enum.url.rsplit("/", 1)[-1]
    )


def cached_weights(weights_enum):
    """Names of the weights of ``weights_enum``'s architecture whose checkpoint is
    in torch's hub cache (loadable offline)."""
    return [w.name for w in type(weights_enum) if _checkpoint_file(w).is_file()]


def _unreachable_weights(backbone, weights_enum, exc):
    """The error text when ``weights_enum`` cannot be loaded: the file and folder,
    and which other weights of the architecture are in the cache."""
    file = _checkpoint_file(weights_enum)
    text = (
        f"Could not load weights {weights_enum} for {backbone!r} ({exc}). "
        f"Offline, put the file {file.name} into {file.parent}."
    )
    if weights_enum is type(weights_enum).DEFAULT:
        text += f" (weights='DEFAULT' means {weights_enum.name} for {backbone!r}.)"
    others = [
        name for name in cached_weights(weights_enum) if name != weights_enum.name
    ]
    if others:
        names = " or ".join(f"weights={name!r}" for name in others)
        text += (
            f" Weights of the same architecture are in the cache: pass {names} "
            "to use them."
        )
    return text


def weights_to_json(value):
    """A torchvision weights enum member as text (``"Enum.MEMBER"``), else None."""
    if isinstance(value, WeightsEnum):
        return f"{type(value).__name__}.{value.name}"
    return None


def weights_from_json(text):
    return torchvision.models.get_weight(text)


class TorchvisionBackbone(Backbone):
    """A torchvision classification model by name."""

    def __init__(self, name, weights):
        self.name = name
        self.weights = weights
        self.description = repr(name)

    def check(self):
        if self.name not in classification_model_names():
            raise ValueError(
                f"Unknown backbone {self.name!r}; expected a torchvision "
                "classification model name (torchvision.models.list_models()), "
                "e.g. 'mobilenet_v2', 'resnet18', 'efficientnet_b0', a timm model "
                "as 'timm/<name>' (e.g. 'timm/convnext_atto'), or an nn.Module."
            )
        self._resolved = resolve_weights(self.name, self.weights)

    def _weights(self):
        if not hasattr(self, "_resolved"):
            self.check()
        return self._resolved

    def preprocessing(self):
        return preprocessing_for(self.name, self._weights()[0])

    def load(self, pretrained):
        enum, path = self._weights() if pretrained else (None, None)
        try:
            model = torchvision.models.get_model(self.name, weights=enum)
        except Exception as exc:
            if enum is None:
                raise
            raise RuntimeError(_unreachable_weights(self.name, enum, exc)) from exc
        if path is not None:
            load_state_dict_file(model, path, self.description)
        return model

    def cut_head(self, model):
        if hasattr(model, "aux_logits"):
            model.aux_logits = False
        for attr in AUX_ATTRIBUTES:
            if getattr(model, attr, None) is not None:
                setattr(model, attr, None)
        path, n_features = cut_head(model)
        return n_features, ChildBlocks(path)

    def cache_key(self):
        weights = self.weights
        if weights is not None and not isinstance(weights, str):
            weights = str(weights)
        if is_weights_file(weights):
            weights = file_key(weights)
        return ("torchvision", self.name, weights)
