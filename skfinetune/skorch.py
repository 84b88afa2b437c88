"""skorch interop: skfinetune's two-phase schedule as a skorch callback.

``pip install skorch``.  For users who already train with skorch's
``NeuralNetClassifier``: :class:`FineTuner` freezes a model's backbone (counted in
skfinetune's blocks, found by the same rules as for ``FineTuneClassifier``'s
backbones: torchvision, timm and other modules), trains the new head for
``frozen_epochs``, then unfreezes the blocks that ``freeze_depth`` leaves
(``"auto"`` included) at ``unfrozen_lr`` with layer-wise decay — with frozen
BatchNorm layers kept in inference mode throughout, as ``FineTuneClassifier`` does.
"""

try:
    from skorch.callbacks import Callback
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("skfinetune.skorch needs skorch: pip install skorch.") from None

from numbers import Integral, Real

from torch import nn

from ._backbones import classifier_blocks
from ._optim import layer_decay_groups
from ._training import frozen_block_count

_BATCHNORM = nn.modules.batchnorm._BatchNorm


class FineTuner(Callback):
    """Fine-tune a torchvision model in skorch the way skfinetune does.

    Phase 1 (``frozen_epochs`` epochs): only the model's new head (the last
    ``nn.Linear`` of its head: ``head``, else ``fc``/``classifier``/``heads``/
    ``head``, else its last ``nn.Linear``; a timm model's ``get_classifier()``)
    trains, at the net's ``lr``.  Phase 2 (the remaining epochs of
    ``max_epochs``): the backbone's blocks from ``freeze_depth`` on train too, at
    ``unfrozen_lr`` (the head and last block) decayed by ``layer_decay`` per block
    towards the input.  Frozen blocks
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
    freeze_depth : int, "auto" or "all", default=0
        Blocks (input side first, skfinetune's counting: see the user guide) that
        stay frozen in phase 2; ``"all"`` trains only the head throughout;
        ``"auto"`` freezes the blocks that ``layer_decay`` gives less than a tenth
        of ``unfrozen_lr``, as ``FineTuneClassifier`` does.
    unfrozen_lr : float or None, default=None
        Learning rate of every parameter group in phase 2; ``None``: a tenth of
        the net's ``lr``.
    train_batchnorm : bool, default=False
        Whether unfrozen BatchNorm layers update their statistics in phase 2.
    layer_decay : float, default=1.0
        Block ``i`` of the trainable blocks (counted back from the head) learns at
        ``unfrozen_lr * layer_decay ** i`` in phase 2 (the optimizer is rebuilt
        with one parameter group per block when it is below 1).
    head : str or None, default=None
        Dotted path of the model's head, for layouts the rules above miss.

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
    skfinetune.FineTuneClassifier : A scikit-learn estimator with its own recipe
        (the linear probe, then phase 2 where it gains), features computed once,
        and scikit-learn's checks.
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
        layer_decay=1.0,
        head=None,
    ):
        self.frozen_epochs = frozen_epochs
        self.freeze_depth = freeze_depth
        self.unfrozen_lr = unfrozen_lr
        self.train_batchnorm = train_batchnorm
        self.layer_decay = layer_decay
        self.head = head

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
        if depth not in ("all", "auto") and (
            not isinstance(depth, Integral) or not 0 <= depth <= n_blocks
        ):
            raise ValueError(
                f"freeze_depth={depth!r} is out of range: the model has {n_blocks} "
                f"blocks (use 0..{n_blocks}, 'auto' or 'all')."
            )
        if not (isinstance(self.layer_decay, Real) and 0 < self.layer_decay <= 1):
            raise ValueError(
                f"layer_decay must be a float in (0, 1]; got {self.layer_decay!r}."
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
        self.blocks_, self.head_ = classifier_blocks(model, self.head)
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
        if self.phase_ == "frozen":
            return len(self.blocks_)
        return frozen_block_count(
            self.freeze_depth, len(self.blocks_), self.layer_decay
        )

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
                if self.layer_decay < 1:
                    groups = layer_decay_groups(
                        self.head_.parameters(),
                        self.blocks_[n_frozen:],
                        lr,
                        self.layer_decay,
                    )
                    optimizer = net.optimizer_
                    net.optimizer_ = type(optimizer)(groups, **optimizer.defaults)
                else:
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
