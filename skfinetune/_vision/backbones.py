"""Backbones: a name (or module) and weights -> feature extractor, new head, blocks.

The rules implemented here are documented in ``docs/user_guide.md``:

* **Head.** The classification head is the first of the attributes ``fc``,
  ``classifier``, ``heads`` and ``head`` that the model has.  Its *last*
  ``nn.Linear`` (and any dropout right before it) is replaced by ``nn.Identity``, so
  the backbone outputs the features that layer used to receive; pretrained layers
  before it (MobileNetV3's and VGG's hidden dense layers, ConvNeXt's LayerNorm) stay
  part of the backbone.  A head without a ``Linear`` (SqueezeNet's 1x1 convolution)
  is replaced by global average pooling.  Auxiliary heads (Inception, GoogLeNet) are
  removed.
* **Blocks.** ``freeze_depth`` counts the backbone's natural blocks from the input
  side.  The blocks are the model's top-level children in order; a trunk container
  named ``features``, ``layers``, ``trunk_output``, ``blocks`` or ``encoder`` is
  opened one level (its children, or the children of its ``layers``); a bare
  normalisation layer joins the block before it (ResNet's ``conv1`` + ``bn1`` form
  the stem); what remains of the old head is the last block; loose parameters
  (ViT's class token and position embedding) join the next block in definition
  order.
"""

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models._api import WeightsEnum

HEAD_ATTRIBUTES = ("fc", "classifier", "heads", "head")
TRUNK_NAMES = ("features", "layers", "trunk_output", "blocks", "encoder")
AUX_ATTRIBUTES = ("AuxLogits", "aux1", "aux2")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def classification_model_names():
    """Names of torchvision's classification models (``list_models``)."""
    return torchvision.models.list_models(module=torchvision.models)


@dataclass
class Block:
    """One unit of ``freeze_depth``: modules (for train/eval) and parameters."""

    name: str
    modules: list = field(default_factory=list)
    params: list = field(default_factory=list)


@dataclass
class Preprocessing:
    """What the weights' own ``transforms()`` say about the input."""

    crop_size: int = 224
    resize_size: int = 256
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD


class FineTuneNet(nn.Module):
    """Backbone (features) followed by the new head.

    ``head_attr`` names the torchvision model's old head attribute, so that the
    backbone's blocks can be found again at any time (``blocks()``): they are
    derived from the module, never stored beside it.
    """

    def __init__(self, backbone, head, head_attr):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.head_attr = head_attr

    def forward(self, x):
        return self.head(self.backbone(x))

    def blocks(self):
        """The backbone's blocks, input side first (what ``freeze_depth`` counts)."""
        return find_blocks(self.backbone, self.head_attr)


def _weights_enum(name):
    try:
        return torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None


def _looks_like_path(weights):
    if isinstance(weights, os.PathLike):
        return True
    return os.sep in weights or weights.endswith((".pt", ".pth", ".bin", ".ckpt"))


def resolve_weights(backbone, weights):
    """Return ``(enum_member_or_None, path_or_None)`` for the ``weights`` parameter.

    Raises ``ValueError`` for names torchvision does not know for this backbone.
    """
    if weights is None:
        return None, None
    if isinstance(weights, (str, os.PathLike)) and _looks_like_path(weights):
        return None, Path(weights)
    if isinstance(backbone, nn.Module):
        if weights == "DEFAULT":
            return None, None
        if isinstance(weights, str) and os.path.isfile(weights):
            return None, Path(weights)
        raise ValueError(
            "weights must be None, 'DEFAULT' (keep the module's weights) or a path to "
            f"a state-dict file when backbone is an nn.Module; got {weights!r}."
        )
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
    """Input size and normalisation from the weights' ``transforms()``."""
    if weights_enum is None and isinstance(backbone, str):
        enum = _weights_enum(backbone)
        weights_enum = None if enum is None else enum.DEFAULT
    if weights_enum is None:
        return Preprocessing()
    t = weights_enum.transforms()
    crop = int(t.crop_size[0])
    resize = int(t.resize_size[0]) if t.resize_size else crop
    return Preprocessing(crop, resize, tuple(t.mean), tuple(t.std))


def _load_state_dict_file(model, path, name):
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"weights file {str(path)!r} is not a readable PyTorch state dict: {exc}"
        ) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(
            f"weights file {str(path)!r} holds a {type(state).__name__}, not a state "
            "dict (save one with torch.save(model.state_dict(), path))."
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ValueError(
            f"weights file {str(path)!r} does not fit backbone {name}: {detail}"
        ) from None


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


def load_model(backbone, weights_enum, weights_path):
    """Instantiate the torchvision model (or copy the given module) with weights."""
    if isinstance(backbone, nn.Module):
        model = copy.deepcopy(backbone)
        name = type(backbone).__name__
    else:
        name = repr(backbone)
        try:
            model = torchvision.models.get_model(backbone, weights=weights_enum)
        except Exception as exc:
            if weights_enum is None:
                raise
            raise RuntimeError(
                _unreachable_weights(backbone, weights_enum, exc)
            ) from exc
    if weights_path is not None:
        _load_state_dict_file(model, weights_path, name)
    return model


def _strip_aux(model):
    if hasattr(model, "aux_logits"):
        model.aux_logits = False
    for attr in AUX_ATTRIBUTES:
        if getattr(model, attr, None) is not None:
            setattr(model, attr, None)


def find_head(model):
    """``(attr, module)``: the model's classification head, the first of
    ``HEAD_ATTRIBUTES`` it has."""
    for attr in HEAD_ATTRIBUTES:
        head = getattr(model, attr, None)
        if isinstance(head, nn.Module):
            return attr, head
    raise ValueError(
        f"Cannot find the classification head of {type(model).__name__}: it has "
        f"none of the attributes {HEAD_ATTRIBUTES}."
    )


def _cut_head(model):
    """Replace the classification layer by Identity; return ``(attr, n_features)``."""
    attr, head = find_head(model)
    if isinstance(head, nn.Linear):
        setattr(model, attr, nn.Identity())
        return attr, head.in_features
    modules = list(head.named_modules())
    linears = [(n, m) for n, m in modules if isinstance(m, nn.Linear)]
    if linears:
        last_name, last = linears[-1]
        parent_name, _, child = last_name.rpartition(".")
        parent = head.get_submodule(parent_name) if parent_name else head
        _replace_child(parent, child, nn.Identity())
        # dropout right before the replaced layer belongs to the old head
        if isinstance(parent, nn.Sequential):
            keys = list(parent._modules)
            i = keys.index(child) - 1
            while i >= 0 and isinstance(parent._modules[keys[i]], nn.Dropout):
                parent._modules[keys[i]] = nn.Identity()
                i -= 1
        return attr, last.in_features
    convs = [m for _, m in modules if isinstance(m, nn.Conv2d)]
    if convs:
        setattr(model, attr, nn.AdaptiveAvgPool2d(1))
        return attr, convs[-1].in_channels
    raise ValueError(
        f"The head {attr!r} of {type(model).__name__} has neither a Linear nor a "
        "Conv2d layer to replace."
    )


def _replace_child(parent, name, module):
    if isinstance(parent, (nn.Sequential, nn.ModuleList)) and name.isdigit():
        parent[int(name)] = module
    else:
        setattr(parent, name, module)


def _has_params(module):
    return any(True for _ in module.parameters())


def _trunk_children(name, module):
    if isinstance(module, (nn.Sequential, nn.ModuleList)):
        return [(f"{name}.{k}", m) for k, m in module.named_children()]
    layers = getattr(module, "layers", None)
    if isinstance(layers, (nn.Sequential, nn.ModuleList)):
        return [(f"{name}.layers.{k}", m) for k, m in layers.named_children()]
    return [(name, module)]


def find_blocks(model, head_attr):
    """Split a (head-cut) torchvision model into blocks, input side first."""
    candidates = []
    for name, child in model.named_children():
        if child is None or name == head_attr:
            continue
        if name in TRUNK_NAMES:
            candidates.extend(_trunk_children(name, child))
        else:
            candidates.append((name, child))
    head = getattr(model, head_attr)
    candidates.append((head_attr, head))

    blocks = []
    for name, module in candidates:
        if not _has_params(module):
            continue
        is_bare_norm = isinstance(module, _NORM_TYPES)
        if is_bare_norm and blocks:
            blocks[-1].modules.append(module)
            blocks[-1].params.extend(module.parameters())
            blocks[-1].name += "+" + name
        else:
            blocks.append(Block(name, [module], list(module.parameters())))

    # loose parameters (not inside any block) join the next block in order
    owned = {id(p) for b in blocks for p in b.params}
    first_index = {}
    for b_index, b in enumerate(blocks):
        for p in b.params:
            first_index.setdefault(id(p), b_index)
    pending = []
    for _, p in model.named_parameters():
        if id(p) in owned:
            target = first_index[id(p)]
            for q in pending:
                blocks[target].params.append(q)
            pending = []
        else:
            pending.append(p)
    if pending and blocks:
        blocks[-1].params.extend(pending)
    return blocks


def build_network(backbone, weights_enum, weights_path, new_head=None):
    """Return ``(net, n_features)``: the model with its classification layer cut,
    followed by ``new_head(n_features)`` (``None``: no head, the pooled features)."""
    model = load_model(backbone, weights_enum, weights_path)
    _strip_aux(model)
    head_attr, n_features = _cut_head(model)
    head = nn.Identity() if new_head is None else new_head(n_features)
    return FineTuneNet(model, head, head_attr), n_features
