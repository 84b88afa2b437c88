"""The network an estimator trains: a pretrained backbone, then a new head, and
the blocks ``freeze_depth`` counts (derived by a rule, never stored)."""

from torch import nn

from ._rules import ChildBlocks


class FineTuneNet(nn.Module):
    """Backbone (features) followed by the new head.

    ``block_rule`` (a picklable callable) splits the backbone into its blocks
    whenever they are needed (``blocks()``): they are derived from the module,
    never stored beside it.
    """

    def __init__(self, backbone, head, block_rule):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.block_rule = block_rule

    def forward(self, x):
        return self.head(self.backbone(x))

    def blocks(self):
        """The backbone's blocks, input side first (what ``freeze_depth`` counts)."""
        return self.block_rule(self.backbone)

    def __setstate__(self, state):
        super().__setstate__(state)
        if "block_rule" not in self.__dict__:  # pickled by skfinetune <= 0.2
            self.block_rule = ChildBlocks(self.__dict__.pop("head_attr"))
