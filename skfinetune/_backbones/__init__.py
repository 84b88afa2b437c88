"""Backbones: one seam between the engine and the sources of pretrained networks.

The engine (``_base``, ``_inference``, ``_persistence``) imports this package
only: :func:`make_backbone` turns an estimator's ``backbone`` (and ``weights``,
``head``) into a :class:`Backbone` of the right source, and everything else goes
through that interface (``_interface``).  One module per source:

==================  ============================================================
``_torchvision``    a torchvision model name, ``"mobilenet_v2"``
``_timm``           a timm name, ``"timm/convnext_atto"`` (optional extra)
``_module``         an ``nn.Module`` with its weights (a timm module included)
==================  ============================================================

``_rules`` holds the rules for heads and blocks that the sources share.
"""

from torch import nn

from ._interface import IMAGENET_MEAN, IMAGENET_STD, Backbone, Preprocessing
from ._module import ModuleBackbone, classifier_blocks
from ._network import FineTuneNet
from ._rules import Block
from ._timm import PREFIX as TIMM_PREFIX
from ._timm import TimmBackbone
from ._torchvision import TorchvisionBackbone, weights_from_json, weights_to_json

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Backbone",
    "Block",
    "FineTuneNet",
    "Preprocessing",
    "classifier_blocks",
    "make_backbone",
    "weights_from_json",
    "weights_to_json",
]


def make_backbone(backbone, weights, head=None):
    """The :class:`Backbone` for an estimator's ``backbone``, ``weights`` and
    ``head`` parameters (not yet checked: call ``check()``).

    A plain name is torchvision's; a timm model needs the ``"timm/"`` prefix (the
    two libraries share names such as ``resnet18`` with other weights and
    preprocessing, so a name never silently changes library).
    """
    if isinstance(backbone, nn.Module):
        return ModuleBackbone(backbone, weights, head)
    if head is not None:
        raise ValueError(
            f"head={head!r} names the head of an nn.Module backbone; the heads of "
            f"named models (backbone={backbone!r}) are known. Leave head=None."
        )
    if backbone.startswith(TIMM_PREFIX):
        return TimmBackbone(backbone, weights)
    return TorchvisionBackbone(backbone, weights)
