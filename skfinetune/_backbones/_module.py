"""A user's own ``nn.Module`` as the backbone, with the weights it holds.

``fit`` deep-copies the module (the user's object never changes).  Its head is
found by ``_rules.find_head`` (``head=`` names it; else a standard attribute; else
its last ``nn.Linear``).  A module that offers timm's interface
(``group_matcher``, ``reset_classifier``: any ``timm.create_model`` result) is
treated as timm's: its classifier is reset, its blocks are timm's groups and its
``pretrained_cfg`` gives the preprocessing.  Otherwise preprocessing is what the
estimator's ``image_size``, ``mean`` and ``std`` say, ImageNet's 224 px (resized
to 256 first), mean and std by default — state them for weights trained
otherwise.
"""

import copy

import joblib
from torch import nn

from ._interface import (
    Backbone,
    Preprocessing,
    default_or_file,
    load_state_dict_file,
    weights_key,
)
from ._rules import ChildBlocks, GroupBlocks, cut_head, find_head
from ._timm import is_timm_model, preprocessing_from_cfg, remove_classifier


def _from_torchvision(module):
    return type(module).__module__.startswith("torchvision.models")


class ModuleBackbone(Backbone):
    """An ``nn.Module`` with its own weights (or those of a state-dict file)."""

    def __init__(self, module, weights, head=None):
        self.module = module
        self.weights = weights
        self.head = head
        self.description = type(module).__name__

    def _is_timm(self):
        return self.head is None and is_timm_model(self.module)

    def check(self):
        if not default_or_file(self.weights):
            raise ValueError(
                "weights must be None or 'DEFAULT' (keep the module's weights) or a "
                "path to a state-dict file when backbone is an nn.Module; got "
                f"{self.weights!r}."
            )

    def preprocessing(self):
        cfg = getattr(self.module, "pretrained_cfg", None)
        if self._is_timm() and cfg:
            return preprocessing_from_cfg(cfg)
        return Preprocessing()

    def load(self, pretrained):
        model = copy.deepcopy(self.module)
        if pretrained and self.weights not in (None, "DEFAULT"):
            load_state_dict_file(model, self.weights, self.description)
        return model

    def cut_head(self, model):
        if self._is_timm():
            return remove_classifier(model)
        path, n_features = cut_head(model, self.head, last_linear=True)
        rule = ChildBlocks(path, open_largest=not _from_torchvision(model))
        return n_features, rule

    def cache_key(self):
        return (
            "module",
            joblib.hash(self.module),
            weights_key(self.weights),
            self.head,
        )

    def check_saveable(self):
        raise TypeError(
            f"the backbone is a custom nn.Module ({self.description}), which save() "
            "cannot rebuild from JSON without running code. Either pass a torchvision"
            " model name (e.g. 'resnet18') or a timm name ('timm/convnext_atto') as "
            "backbone to use save()/load(), or keep the weights with "
            "torch.save(estimator.module_.state_dict(), path) and rebuild your "
            "module yourself, or use joblib.dump(estimator, path) (pickle: only "
            "load files you trust)."
        )


def classifier_blocks(model, head=None):
    """``(blocks, layer)`` of a classification model whose last layer (``layer``,
    an ``nn.Linear`` for the user's classes) trains in every phase: the blocks
    ``freeze_depth`` counts, found by the same rules as for a module backbone,
    without that layer's parameters (pretrained layers of the old head before it,
    as MobileNetV3's, stay a block)."""
    if head is None and is_timm_model(model):
        layer = model.get_classifier()
        blocks = GroupBlocks()(model)
        where = "reset_classifier(n_classes)"
    else:
        path, head_module = find_head(model, head, last_linear=True)
        linears = [m for m in head_module.modules() if isinstance(m, nn.Linear)]
        layer = linears[-1] if linears else head_module
        blocks = ChildBlocks(path, open_largest=not _from_torchvision(model))(model)
        where = f"model.{path} = nn.Linear(in_features, n_classes)"
    if not isinstance(layer, nn.Linear):
        raise ValueError(
            f"The head of {type(model).__name__} must end in an nn.Linear, the new "
            f"layer for your classes; got {type(layer).__name__}. Replace it, e.g. "
            f"{where}."
        )
    new = {id(p) for p in layer.parameters()}
    for block in blocks:
        if any(id(p) in new for p in block.params):
            block.params = [p for p in block.params if id(p) not in new]
            block.modules = [
                m
                for top in block.modules
                for m in top.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm)
            ]
    return [b for b in blocks if b.params], layer
