"""The two training phases, early stopping and batched inference.

Phase 1 ("frozen") trains the head with the whole backbone frozen.  Without
augmentation in that phase (``feature_cache=True``) the backbone runs once over the
training images and the head trains on the stored features, so more frozen epochs
cost almost nothing.  Phase 2 ("unfrozen") trains the blocks from ``freeze_depth`` on,
and the head, at the unfrozen learning rate.

Frozen blocks run in inference mode in both phases: BatchNorm uses and keeps its
running statistics, dropout is off.  With ``train_batchnorm=False`` (the default for
pretrained weights) every BatchNorm layer does so; unfrozen ones still learn their
scale and shift.  While a phase runs, convolutions followed by an inference-mode
BatchNorm compute as one folded convolution (``fusion``), in a view of the network
that shares its tensors.

The trainer knows nothing of the task: the estimator gives it the loss
(``criterion``, the very loss early stopping watches, class weights included) and a
validation score (accuracy, R², ...), as its hooks decide.
"""

import math
import time

import numpy as np
import torch
from torch import nn

from ._fusion import fold, shallow_copy
from ._inference import Runner
from ._progress import EpochProgress
from ._runtime import rechoose_threads
from ._vision.transforms import device_generator

#: Batches whose items are sorted by length together (texts), in training.
GROUPED_BATCHES = 50

#: ``freeze_depth="auto"`` freezes the blocks whose phase-2 rate (``layer_decay``
#: to the power of their depth from the head) falls below this share of the peak.
AUTO_FREEZE_RATE = 0.1


def frozen_block_count(freeze_depth, n_blocks, layer_decay, description="the model"):
    """How many blocks (input side first) ``freeze_depth`` keeps frozen in phase 2.

    ``"auto"``: the blocks whose phase-2 rate, ``layer_decay ** depth`` of the peak
    (depth counted from the head), falls below ``AUTO_FREEZE_RATE``: they would
    barely move, and not training them saves their backward pass.
    """
    if freeze_depth == "auto":
        if layer_decay >= 1:
            return 0
        n_trained = math.floor(math.log(AUTO_FREEZE_RATE) / math.log(layer_decay)) + 1
        return max(0, n_blocks - n_trained)
    if freeze_depth == "all":
        return n_blocks
    if freeze_depth > n_blocks:
        raise ValueError(
            f"freeze_depth={freeze_depth} is out of range: backbone {description} "
            f"has {n_blocks} blocks (use 0..{n_blocks}, 'auto' or 'all')."
        )
    return freeze_depth


def set_trainable(blocks, n_frozen):
    """Freeze ``blocks[:n_frozen]``, unfreeze the rest; return the trainable blocks."""
    for i, block in enumerate(blocks):
        for p in block.params:
            p.requires_grad_(i >= n_frozen)
    return blocks[n_frozen:]


def set_train_mode(net, blocks, n_frozen, train_batchnorm):
    """Train mode, except frozen blocks, which stay in inference mode, and every
    BatchNorm layer unless ``train_batchnorm``."""
    net.train()
    if n_frozen >= len(blocks):
        net.backbone.eval()
        return
    for block in blocks[:n_frozen]:
        for module in block.modules:
            module.eval()
    if not train_batchnorm:
        for module in net.backbone.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


class EarlyStopping:
    """Best validation result so far, its weights, and the epochs since it.

    By default the best is the lowest validation loss; with ``by_score=True``
    the highest validation score, the earlier epoch on a tie (the evidence of
    ``unfrozen_epochs="auto"``: an epoch has to pay to be kept).
    ``best_update`` counts the updates before the best one (0: the first).

    The snapshot of the best weights re-copies only parameters changed since the
    last one (their version counters moved), and the small buffers: with stored
    features only the head trains, so an improving head epoch does not copy the
    whole backbone again.
    """

    def __init__(self, patience, by_score=False):
        self.patience = patience
        self.by_score = by_score
        self.best = None
        self.best_state = None
        self._versions = {}
        self.bad_epochs = 0
        self.updates = 0
        self.best_update = None

    def start_phase(self):
        self.bad_epochs = 0

    def update(self, loss, net, score=None):
        key = score if self.by_score else -loss
        self.updates += 1
        if self.best is None or key > self.best:
            self.best = key
            self.best_update = self.updates - 1
            self._snapshot(net)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def _snapshot(self, net):
        if self.best_state is None:
            self.best_state = {}
        frozen = {name for name, p in net.named_parameters() if not p.requires_grad}
        for key, tensor in net.state_dict().items():
            # a frozen parameter changes only through an in-place write, which bumps
            # its version; trainable ones always copy (fused optimizer kernels write
            # without bumping it), and so do buffers (BatchNorm kernels update their
            # running statistics without bumping it either; they are small)
            version = (tensor.data_ptr(), tensor._version)
            if key not in frozen or self._versions.get(key) != version:
                self.best_state[key] = tensor.detach().clone()
                self._versions[key] = version

    def restore(self, net):
        if self.best_state is not None:
            net.load_state_dict(self.best_state)


class Trainer(Runner):
    """Runs the phases of one ``fit``: a :class:`Runner` that also trains.

    Parameters (beyond the Runner's)
    --------------------------------
    blocks : list of Block
        The backbone's blocks, input side first.
    generator : torch.Generator
        Shuffling, and augmentation on the CPU (a generator on the device, seeded
        from it, draws augmentation elsewhere).
    criterion : callable
        ``criterion(outputs, targets)`` -> scalar loss; validated with it too.
    score : callable
        ``score(outputs, targets)`` -> float, recorded as ``score_name``.
    history : list
        The trainer's own list of epochs (a fit's earlier epochs first, for a
        warm start), to which each epoch's entry is appended; ``fit_index`` is
        recorded with it.  The trainer writes no estimator state: the recipe
        returns this list.
    stopper : EarlyStopping or None
    train_batchnorm : bool
    """

    def __init__(
        self,
        *,
        net,
        blocks,
        prepare,
        compute,
        feeder,
        batch_size,
        generator,
        criterion,
        score,
        score_name,
        history,
        fit_index=1,
        verbose=0,
        stopper=None,
        train_batchnorm=True,
        units=("images", "img"),
    ):
        super().__init__(
            net=net,
            prepare=prepare,
            compute=compute,
            feeder=feeder,
            batch_size=batch_size,
            verbose=verbose,
            units=units,
        )
        self.blocks = blocks
        self.generator = generator  # on the CPU: the order of the batches
        # augmentation draws on the device, so that batches wait for no copy
        self.augment_generator = (
            generator
            if self.device.type == "cpu"
            else device_generator(
                self.device, int(torch.randint(2**62, (1,), generator=generator))
            )
        )
        self.criterion = criterion
        self.score = score
        self.score_name = score_name
        self.history = history
        self.fit_index = fit_index
        self.stopper = stopper
        self.train_batchnorm = train_batchnorm

    # ----------------------------------------------------------------- helpers
    def _batches(self, indices, shuffle, lengths=None):
        """Shuffled batches as ``(numpy indices, the same on the device)``.

        With ``lengths`` (texts), the shuffled items are sorted by length within
        each run of ``GROUPED_BATCHES`` batches, so that a batch pads to little
        more than its own items (as ``group_by_length`` in Hugging Face's
        ``Trainer``).  The order goes to the device once per epoch, so batches
        need no transfer.
        """
        if shuffle:
            order = torch.randperm(len(indices), generator=self.generator).numpy()
            indices = indices[order]
            if lengths is not None:
                run = GROUPED_BATCHES * self.batch_size
                indices = np.concatenate(
                    [
                        chunk[np.argsort(-lengths[chunk], kind="stable")]
                        for chunk in np.split(indices, range(run, len(indices), run))
                    ]
                )
        on_device = torch.as_tensor(indices, dtype=torch.long).to(self.device)
        for start in self._batch_starts(len(indices), shuffle):
            stop = start + self.batch_size
            yield indices[start:stop], on_device[start:stop]

    def _batch_starts(self, n, shuffle):
        """Where each batch of ``n`` images starts; when shuffling (training), a
        last batch of one image is left out: it breaks BatchNorm in train mode."""
        starts = range(0, n, self.batch_size)
        if shuffle and n > 1 and n - starts[-1] == 1:
            starts = starts[:-1]
        return starts

    def _step(self, optimizer, module, x, y):
        """One optimisation step of ``module`` (the head, or the whole network)."""
        with self.compute.autocast():
            loss = self.criterion(module(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def validate(self, outputs, y):
        """``(loss, score)`` of ``outputs`` against ``y``."""
        with torch.inference_mode():
            outputs = outputs.float()
            return self.criterion(outputs, y).item(), self.score(outputs, y)

    def _record(
        self, phase, epoch, n_epochs, loss_sum, n_seen, seconds, valid, label=None
    ):
        entry = {
            "fit": self.fit_index,
            "phase": phase,
            "epoch": epoch,
            "total_epoch": len(self.history) + 1,
            "train_loss": float(loss_sum) / max(n_seen, 1),
            "seconds": seconds,
            "images_per_second": n_seen / seconds if seconds > 0 else float("nan"),
        }
        if self.device.type == "cpu":
            entry["threads"] = torch.get_num_threads()
        if valid is not None:
            entry["valid_loss"], entry[self.score_name] = valid
        self.history.append(entry)
        if self.verbose:
            text = label or f"[{phase:>8}] epoch {epoch:>3}/{n_epochs}"
            text += f"  train_loss={entry['train_loss']:.4f}"
            if valid is not None:
                text += f"  valid_loss={valid[0]:.4f}  {self.score_name}={valid[1]:.4f}"
            rate = entry["images_per_second"]
            text += f"  {seconds:6.1f}s  {rate:7.1f} {self.units[1]}/s"
            print(text, flush=True)
        stop = False
        if valid is not None and self.stopper is not None:
            stop = self.stopper.update(valid[0], self.net, valid[1])
        return stop

    # ------------------------------------------------------------------ phases
    def frozen_phase_on_features(
        self,
        feats,
        y,
        train_idx,
        valid_idx,
        epochs,
        optimizer,
        feature_seconds=0.0,
        scheduler=None,
    ):
        """Head training on stored backbone features.

        ``feature_seconds``, the time spent computing ``feats``, counts towards the
        first epoch's ``seconds``; ``scheduler`` steps after every step.
        """
        if self.stopper is not None:
            self.stopper.start_phase()
        head = self.net.head
        for epoch in range(1, epochs + 1):
            start = time.perf_counter() - (feature_seconds if epoch == 1 else 0.0)
            head.train()
            loss_sum = torch.zeros((), device=self.device)
            n_seen = 0
            for batch, b in self._batches(train_idx, shuffle=True):
                loss = self._step(optimizer, head, feats[b], y[b])
                if scheduler is not None:
                    scheduler.step()
                loss_sum += loss * len(batch)
                n_seen += len(batch)
            head.eval()
            valid = None
            if len(valid_idx):
                v = torch.as_tensor(valid_idx, device=self.device)
                valid = self.validate(self.head_outputs(feats[v]), y[v])
            loss_total = loss_sum.item()  # waits for the device: then the clock
            seconds = time.perf_counter() - start
            if self._record(
                "frozen", epoch, epochs, loss_total, n_seen, seconds, valid
            ):
                break

    def record_probe(self, feats, y, train_idx, valid_idx, seconds):
        """The history entry of a head fitted at once on ``feats`` (one epoch)."""
        self.net.head.eval()
        with torch.no_grad():
            t = torch.as_tensor(train_idx, device=self.device)
            loss = self.criterion(self.head_outputs(feats[t]).float(), y[t])
            valid = None
            if len(valid_idx):
                v = torch.as_tensor(valid_idx, device=self.device)
                valid = self.validate(self.head_outputs(feats[v]), y[v])
        if self.stopper is not None:
            self.stopper.start_phase()
        label = "[   probe] linear head fitted at once (L-BFGS)"
        self._record(
            "frozen", 1, 1, loss.item() * len(t), len(t), seconds, valid, label
        )

    def n_steps(self, n_train, epochs):
        """Optimisation steps of ``epochs`` over ``n_train`` images."""
        return len(self._batch_starts(n_train, shuffle=True)) * epochs

    def image_phase(
        self,
        phase,
        data,
        y,
        train_idx,
        valid_idx,
        epochs,
        optimizer,
        n_frozen,
        scheduler=None,
    ):
        """Training on images: augmented batches through (part of) the backbone;
        ``scheduler`` (if any) steps after every optimisation step."""
        if self.stopper is not None:
            self.stopper.start_phase()
        whole_backbone_frozen = n_frozen >= len(self.blocks)
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            rechoose_threads()
            set_train_mode(self.net, self.blocks, n_frozen, self.train_batchnorm)
            # BatchNorms in inference mode (and only they) fold into their convs
            view = fold(shallow_copy(self.net))
            loss_sum = torch.zeros((), device=self.device)
            n_seen = 0
            label = f"[{phase:>8}] epoch {epoch:>3}/{epochs}"
            with EpochProgress(
                self.verbose, label, len(train_idx), units=self.units
            ) as progress:
                batches = list(
                    self._batches(
                        train_idx, shuffle=True, lengths=getattr(data, "lengths", None)
                    )
                )
                loaded = self.feeder.loaded(data, batches)
                for (batch, on_device), raw in zip(batches, loaded, strict=True):
                    x = self.prepare(raw, train=True, generator=self.augment_generator)
                    yb = y[on_device]
                    if whole_backbone_frozen:
                        with torch.no_grad(), self.compute.autocast():
                            x = view.backbone(x).float()
                        loss = self._step(optimizer, view.head, x, yb)
                    else:
                        loss = self._step(optimizer, view, x, yb)
                    if scheduler is not None:
                        scheduler.step()
                    loss_sum += loss * len(batch)
                    n_seen += len(batch)
                    progress.update(len(batch))
            self.net.eval()
            valid = None
            if len(valid_idx):
                outputs = self.outputs(data, valid_idx)
                valid = self.validate(
                    outputs, y[torch.as_tensor(valid_idx, device=self.device)]
                )
            loss_total = loss_sum.item()  # waits for the device: then the clock
            seconds = time.perf_counter() - start
            if self._record(phase, epoch, epochs, loss_total, n_seen, seconds, valid):
                break
