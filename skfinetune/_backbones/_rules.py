"""Where a network's head is, and how its backbone splits into blocks.

Documented in the user guide ("Choosing a backbone"):

* **Head.** The classification head is the module at ``head`` (a dotted path) if
  given, else the first of the attributes ``fc``, ``classifier``, ``heads`` and
  ``head`` that the model has, else (a module of another layout) its last
  ``nn.Linear`` in definition order.  Its *last* ``nn.Linear`` (and any dropout
  right before it) is replaced by ``nn.Identity``, so the backbone outputs the
  features that layer used to receive; pretrained layers before it (MobileNetV3's
  and VGG's hidden dense layers, ConvNeXt's LayerNorm) stay part of the backbone.
  A head without a ``Linear`` (SqueezeNet's 1x1 convolution) is replaced by global
  average pooling.
* **Blocks by children** (:class:`ChildBlocks`, torchvision models and modules):
  the model's top-level children in definition order; a trunk container named
  ``features``, ``layers``, ``trunk_output``, ``blocks`` or ``encoder`` is opened
  one level (its children, or the children of its ``layers``) — for a module of
  another layout, its ``ModuleList``/``Sequential`` child with the most children
  instead (EfficientNet-PyTorch's ``_blocks``); a bare normalisation layer joins
  the block before it (ResNet's ``conv1`` + ``bn1``); what remains of the old head
  is the last block; loose parameters (ViT's class token) join the next block.
* **Blocks by groups** (:class:`GroupBlocks`, timm models): timm's coarse groups,
  ``model.group_matcher(coarse=True)`` — the stem, each stage (or block), then
  what matches no group (final norms), as timm's layer-decay optimiser groups
  them.
"""

from dataclasses import dataclass, field

from torch import nn

HEAD_ATTRIBUTES = ("fc", "classifier", "heads", "head")
TRUNK_NAMES = ("features", "layers", "trunk_output", "blocks", "encoder")
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


@dataclass
class Block:
    """One unit of ``freeze_depth``: modules (for train/eval) and parameters."""

    name: str
    modules: list = field(default_factory=list)
    params: list = field(default_factory=list)


# ------------------------------------------------------------------------- head
def find_head(model, path=None, last_linear=False):
    """``(path, module)`` of the classification head: ``path`` if given, else the
    first of ``HEAD_ATTRIBUTES``, else (with ``last_linear``) the last
    ``nn.Linear``."""
    name = type(model).__name__
    if path is not None:
        try:
            return path, model.get_submodule(path)
        except AttributeError:
            children = [n for n, _ in model.named_children()]
            raise ValueError(
                f"head={path!r} is not a sub-module of {name} (its top-level "
                f"children: {children})."
            ) from None
    for attr in HEAD_ATTRIBUTES:
        head = getattr(model, attr, None)
        if isinstance(head, nn.Module):
            return attr, head
    if last_linear:
        linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        if linears:
            return linears[-1], model.get_submodule(linears[-1])
    raise ValueError(
        f"Cannot find the classification head of {name}: it has none of the "
        f"attributes {HEAD_ATTRIBUTES}"
        + (" and no nn.Linear" if last_linear else "")
        + "; name it with head='...' (a dotted path, e.g. head='_fc')."
    )


def _replace_child(parent, name, module):
    if isinstance(parent, (nn.Sequential, nn.ModuleList)) and name.isdigit():
        parent[int(name)] = module
    else:
        setattr(parent, name, module)


def _set(model, path, module):
    parent_name, _, child = path.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    _replace_child(parent, child, module)
    return parent, child


def cut_head(model, path=None, last_linear=False):
    """Replace the classification layer by Identity (see the module docstring);
    return ``(head_path, n_features)``."""
    path, head = find_head(model, path, last_linear)
    modules = list(head.named_modules())
    linears = [(n, m) for n, m in modules if isinstance(m, nn.Linear)]
    if linears:
        last_name, last = linears[-1]
        where = f"{path}.{last_name}" if last_name else path
        parent, child = _set(model, where, nn.Identity())
        # dropout right before the replaced layer belongs to the old head
        if isinstance(parent, nn.Sequential):
            keys = list(parent._modules)
            i = keys.index(child) - 1
            while i >= 0 and isinstance(parent._modules[keys[i]], nn.Dropout):
                parent._modules[keys[i]] = nn.Identity()
                i -= 1
        return path, last.in_features
    convs = [m for _, m in modules if isinstance(m, nn.Conv2d)]
    if convs:
        _set(model, path, nn.AdaptiveAvgPool2d(1))
        return path, convs[-1].in_channels
    raise ValueError(
        f"The head {path!r} of {type(model).__name__} has neither a Linear nor a "
        "Conv2d layer to replace."
    )


# ----------------------------------------------------------------------- blocks
def _has_params(module):
    return any(True for _ in module.parameters())


def _trunk_children(name, module):
    if isinstance(module, (nn.Sequential, nn.ModuleList)):
        return [(f"{name}.{k}", m) for k, m in module.named_children()]
    layers = getattr(module, "layers", None)
    if isinstance(layers, (nn.Sequential, nn.ModuleList)):
        return [(f"{name}.layers.{k}", m) for k, m in layers.named_children()]
    return [(name, module)]


def _largest_container(model, head_attr):
    """The name of the ``ModuleList``/``Sequential`` child with the most children
    (at least 2), or ``None``."""
    best, size = None, 1
    for name, child in model.named_children():
        if name != head_attr and isinstance(child, (nn.Sequential, nn.ModuleList)):
            if len(child) > size:
                best, size = name, len(child)
    return best


def _join_loose_parameters(model, blocks):
    """Parameters in no block (ViT's class token) join the next block in order."""
    owned = {id(p) for b in blocks for p in b.params}
    first_index = {}
    for b_index, b in enumerate(blocks):
        for p in b.params:
            first_index.setdefault(id(p), b_index)
    pending = []
    for _, p in model.named_parameters():
        if id(p) in owned:
            for q in pending:
                blocks[first_index[id(p)]].params.append(q)
            pending = []
        else:
            pending.append(p)
    if pending and blocks:
        blocks[-1].params.extend(pending)
    return blocks


class ChildBlocks:
    """Blocks from the model's children (module docstring); ``head_attr`` is the
    top-level attribute that held the head, ``open_largest`` opens the largest
    container when no child has a trunk name."""

    def __init__(self, head_attr, open_largest=False):
        self.head_attr = head_attr.split(".")[0]
        self.open_largest = open_largest

    def __call__(self, model):
        trunks = set(TRUNK_NAMES) & {n for n, _ in model.named_children()}
        if not trunks and self.open_largest:
            trunks = {_largest_container(model, self.head_attr)}
        candidates = []
        for name, child in model.named_children():
            if child is None or name == self.head_attr:
                continue
            if name in trunks:
                candidates.extend(_trunk_children(name, child))
            else:
                candidates.append((name, child))
        head = getattr(model, self.head_attr, None)
        if head is not None:
            candidates.append((self.head_attr, head))

        blocks = []
        for name, module in candidates:
            if not _has_params(module):
                continue
            if isinstance(module, _NORM_TYPES) and blocks:
                blocks[-1].modules.append(module)
                blocks[-1].params.extend(module.parameters())
                blocks[-1].name += "+" + name
            else:
                blocks.append(Block(name, [module], list(module.parameters())))
        return _join_loose_parameters(model, blocks)


class GroupBlocks:
    """Blocks from timm's coarse parameter groups (``group_matcher(coarse=True)``).

    A block's modules are the largest sub-modules whose parameters all lie in it
    (for train/eval); its name, their names joined by ``+``.
    """

    def __call__(self, model):
        from timm.models import group_parameters

        groups = group_parameters(model, model.group_matcher(coarse=True))
        named = dict(model.named_parameters())
        group_of = {}
        blocks = []
        for index, lid in enumerate(sorted(groups)):
            for name in groups[lid]:
                group_of[id(named[name])] = index
            blocks.append(Block("", [], [named[n] for n in groups[lid]]))

        def claim(prefix, module):
            ids = {group_of.get(id(p)) for p in module.parameters()}
            if len(ids) == 1 and None not in ids:
                block = blocks[ids.pop()]
                block.modules.append(module)
                block.name += ("+" if block.name else "") + prefix
                return
            for name, child in module.named_children():
                claim(f"{prefix}.{name}" if prefix else name, child)

        for name, child in model.named_children():
            claim(name, child)
        for block in blocks:
            if not block.name:  # parameters held by the model itself
                block.name = "+".join(
                    n
                    for n, p in model.named_parameters(recurse=False)
                    if any(p is q for q in block.params)
                )
        return [b for b in blocks if b.params]
