"""skorch interop: skfinetune's two-phase schedule as a skorch callback.

``pip install skfinetune[skorch]``.  For users who already train with skorch's
``NeuralNetClassifier``: :class:`FineTuner` freezes a torchvision model's backbone
(counted in skfinetune's blocks), trains the new head for ``frozen_epochs``, then
unfreezes the blocks from ``freeze_depth`` on at ``unfrozen_lr`` — with frozen
BatchNorm layers kept in inference mode throughout, as ``FineTuneClassifier`` does.
"""

try:
    from skorch.callbacks import Callback
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "skfinetune.skorch needs skorch: pip install skorch (or skfinetune[skorch])."
    ) from None

from numbers import Integral, Real

from torch import nn

from ._vision.backbones import find_blocks, find_head

_BATCHNORM = nn.modules.batchnorm._BatchNorm


def split_backbone(model):
    """``(blocks, head)`` of a torchvision classification model whose last
    ``nn.Linear`` (in its ``fc``/``classifier``/``heads``/``head``) is the new layer
    for the user's classes: the backbone's blocks in skfinetune's counting
    (``freeze_depth``) and that layer."""
    attr, head_module = find_head(model)
    linears = [m for m in head_module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(
            f"FineTuner needs the model's head ({attr!r}) to end in an nn.Linear, "
            f"the new layer for your classes; got {type(head_module).__name__}. "
            f"Replace it, e.g. model.{attr} = nn.Linear(in_features, n_classes)."
        )
    head = linears[-1]
    blocks = find_blocks(model, attr)
    last = blocks[-1]  # the head attribute: the new layer and what remains before it
    new = {id(p) for p in head.parameters()}
    remainder = [p for p in last.params if id(p) not in new]
    if remainder:  # pretrained layers of the old head (MobileNetV3, VGG)
        last.params = remainder
        last.modules = [m for m in head_module.modules() if isinstance(m, _BATCHNORM)]
    else:
        blocks.pop()
    return blocks, head


class FineTuner(Callback):
    """Fine-tune a torchvision model in skorch the way skfinetune does.

    Phase 1 (``frozen_epochs`` epochs): only the model's new head (the last
    ``nn.Linear`` of its ``fc``/``classifier``/``heads``/``head``) trains, at the
    net's ``lr``.  Phase 2 (the remaining epochs of ``max_epochs``): the backbone's
    blocks from ``freeze_depth`` on train too, at ``unfrozen_lr``.  Frozen blocks
    stay in inference mode (their BatchNorm statistics and dropout untouched), and
    so do all BatchNorm layers unless ``train_batchnorm=True`` — a pretrained
    network's statistics are better than those of small batches of new images.
    The phase of each epoch is recorded in ``net.history`` (``"phase"``).

    Epochs are counted over the net's whole history, so ``partial_fit`` after
    phase 1 continues in phase 2.

    Parameters
    ----------
    frozen_epochs : int, default=3
        Epochs with only the head trainable.
    freeze_depth : int or "all", default=0
        Blocks (input side first, skfinetune's counting: see the user guide) that
        stay frozen in phase 2; ``"all"`` trains only the head throughout.
    unfrozen_lr : float or None, default=None
        Learning rate of every parameter group in phase 2; ``None``: a tenth of
        the net's ``lr``.
    train_batchnorm : bool, default=False
        Whether unfrozen BatchNorm layers update their statistics in phase 2.

    Attributes
    ----------
    blocks_ : list
        The backbone's blocks (for ``freeze_depth``).
    head_ : torch.nn.Linear
        The layer trained in both phases.
    phase_ : str
        ``"frozen"`` or ``"unfrozen"``: the phase of the current (last) epoch.

    See Also
    --------
    skfinetune.FineTuneClassifier : The same recipe, with features computed once
        for the head epochs (several times faster) and scikit-learn's checks.
    skorch.callbacks.Freezer : Freeze parameters by name.

    Examples
    --------
    >>> import numpy as np, torch, torchvision
    >>> from skorch import NeuralNetClassifier
    >>> from skfinetune.skorch import FineTuner
    >>> model = torchvision.models.resnet18(weights=None)  # pretrained in practice
    >>> model.fc = torch.nn.Linear(model.fc.in_features, 2)
    >>> net = NeuralNetClassifier(
    ...     model, criterion=torch.nn.CrossEntropyLoss, max_epochs=3, lr=0.01,
    ...     train_split=None, verbose=0,
    ...     callbacks=[FineTuner(frozen_epochs=2, freeze_depth=3)],
    ... )
    >>> X = np.random.default_rng(0).normal(size=(8, 3, 32, 32)).astype("float32")
    >>> y = np.arange(8) % 2
    >>> net.fit(X, y).history[:, "phase"]
    ['frozen', 'frozen', 'unfrozen']
    """

    def __init__(
        self,
        frozen_epochs=3,
        freeze_depth=0,
        unfrozen_lr=None,
        train_batchnorm=False,
    ):
        self.frozen_epochs = frozen_epochs
        self.freeze_depth = freeze_depth
        self.unfrozen_lr = unfrozen_lr
        self.train_batchnorm = train_batchnorm

    def initialize(self):
        self._remove_hooks()
        self.phase_ = None
        return self

    def _check_params(self, n_blocks):
        if not isinstance(self.frozen_epochs, Integral) or self.frozen_epochs < 0:
            raise ValueError(
                f"frozen_epochs must be an int >= 0; got {self.frozen_epochs!r}."
            )
        depth = self.freeze_depth
        if depth != "all" and (
            not isinstance(depth, Integral) or not 0 <= depth <= n_blocks
        ):
            raise ValueError(
                f"freeze_depth={depth!r} is out of range: the model has {n_blocks} "
                f"blocks (use 0..{n_blocks} or 'all')."
            )
        if self.unfrozen_lr is not None and not (
            isinstance(self.unfrozen_lr, Real) and self.unfrozen_lr > 0
        ):
            raise ValueError(
                f"unfrozen_lr must be a positive float or None; got "
                f"{self.unfrozen_lr!r}."
            )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        model = net.module_
        self.blocks_, self.head_ = split_backbone(model)
        self._check_params(len(self.blocks_))
        self._remove_hooks()
        self.phase_ = None  # (re)apply the phase at the first epoch of this call
        self.inference_modules_ = set()
        # set back to inference mode right before each forward: skorch puts the
        # whole module in train mode at every training step
        block_modules = {m for block in self.blocks_ for m in block.modules}
        self.hooks_ = [
            module.register_forward_pre_hook(self._keep_inference_mode)
            for module in model.modules()
            if isinstance(module, _BATCHNORM) or module in block_modules
        ]

    def _n_frozen(self):
        if self.phase_ == "frozen" or self.freeze_depth == "all":
            return len(self.blocks_)
        return self.freeze_depth

    def _keep_inference_mode(self, module, args):
        if module.training and id(module) in self.inference_modules_:
            module.eval()

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        epoch = len(net.history)  # the row of this epoch is already there
        phase = "frozen" if epoch <= self.frozen_epochs else "unfrozen"
        if phase != self.phase_:
            self.phase_ = phase
            n_frozen = self._n_frozen()
            for i, block in enumerate(self.blocks_):
                for p in block.params:
                    p.requires_grad_(i >= n_frozen)
            for p in self.head_.parameters():
                p.requires_grad_(True)
            inference = [m for b in self.blocks_[:n_frozen] for m in b.modules]
            if not self.train_batchnorm or phase == "frozen":
                inference += [
                    m for m in net.module_.modules() if isinstance(m, _BATCHNORM)
                ]
            self.inference_modules_ = {id(m) for m in inference}
            if phase == "unfrozen":
                lr = self.unfrozen_lr if self.unfrozen_lr is not None else net.lr / 10
                for group in net.optimizer_.param_groups:
                    group["lr"] = lr
        net.history.record("phase", phase)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        for p in net.module_.parameters():
            p.requires_grad_(True)
        self._remove_hooks()

    def _remove_hooks(self):
        for hook in getattr(self, "hooks_", []):
            hook.remove()
        self.hooks_ = []
