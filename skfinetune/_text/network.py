"""The network of a text encoder: :class:`TextEncoder` (token ids and attention
mask in, one pooled embedding per text out) and its blocks
(:class:`EncoderBlocks`: the embeddings, then each layer)."""

from torch import nn

from .._backbones import Block


class TextEncoder(nn.Module):
    """A transformers encoder: ``(batch, 2, length)`` token ids and attention
    mask in, one pooled embedding per text out."""

    def __init__(self, model, pooling):
        super().__init__()
        self.model = model
        self.pooling = pooling

    def forward(self, x):
        ids, mask = x[:, 0], x[:, 1]
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)


def _layers(model):
    """``(path, ModuleList)`` of the encoder's layers: the module list with
    ``num_hidden_layers`` entries (the longest one where the configuration does
    not say)."""
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    lists = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module)
    ]
    if not lists:
        raise ValueError(
            f"{type(model).__name__} has no list of layers (nn.ModuleList); pass a "
            "transformers encoder such as BertModel."
        )
    exact = [item for item in lists if len(item[1]) == n]
    return (exact or sorted(lists, key=lambda item: -len(item[1])))[0]


class EncoderBlocks:
    """The blocks of a :class:`TextEncoder`: the embeddings (every parameter
    before the layers), then each layer; parameters after the layers (a final
    norm) join the last one."""

    def __call__(self, encoder):
        model = encoder.model
        path, layers = _layers(model)
        in_layers = {id(p) for p in layers.parameters()}
        first, rest = [], []
        seen_layers = False
        for param in model.parameters():
            if id(param) in in_layers:
                seen_layers = True
            elif seen_layers:
                rest.append(param)
            else:
                first.append(param)
        blocks = [Block("embeddings", [], first)] if first else []
        for i, layer in enumerate(layers):
            blocks.append(Block(f"{path}.{i}", [layer], list(layer.parameters())))
        blocks[-1].params += rest
        return blocks
