"""The fine-tuning recipe of ``fit``, apart from the estimator: phase 1, phase 2,
the validation split, early stopping, and what an interrupt or an out-of-memory
error leaves.

:meth:`Recipe.run` trains a network it is given on data it is given and returns a
:class:`FitResult`; it writes no estimator state (the estimator writes the result
once).  What it needs of the task comes as a :class:`Task` (the loss, the
validation score, the labels to stratify by); what it needs of the estimator's
parameters, as a read-only namespace of them.

The order:

1. the data held in memory, unless phase 1 needs no image (every feature in
   ``memory`` and phase 2 not certain to run);
2. the validation split (``early_stopping`` only), stratified where it can be;
3. phase 1, the head with the backbone frozen: with ``frozen_optimizer="lbfgs"``
   the linear probe on the features (``_probe``), else epochs on the features
   (or on augmented images with ``feature_cache=False``);
4. phase 2's length: ``unfrozen_epochs``, or by the rule of ``"auto"``;
5. phase 2, blocks from ``freeze_depth`` on with the head, at the lower rate;
6. the best weights of early stopping put back, every block frozen, the network
   in inference mode: also after an interrupt (``KeyboardInterrupt`` ends the
   fit early, with the weights reached).  Out of memory is a ``MemoryError``
   that names the settings to change, raised after the frames holding the
   network and the batches are gone.
"""

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ._device import is_out_of_memory
from ._optim import layer_decay_groups, make_optimizer, warmup_cosine
from ._probe import fit_probe
from ._training import AUTO_UNFROZEN_EPOCHS, set_trainable


@dataclass(frozen=True)
class Task:
    """What the recipe needs of the task (the estimator's hooks).

    Attributes
    ----------
    probe_criterion : callable
        ``probe_criterion(targets, device)`` -> the loss of the L-BFGS probe
        (the training loss is the trainer's own).
    score : callable
        ``score(outputs, targets)`` -> float, the validation score.
    stratify : callable
        ``stratify(targets)`` -> labels for a stratified split, or ``None``.
    auto_skip_score : float or None
        ``unfrozen_epochs="auto"`` skips phase 2 when the probe's cross-validated
        score reaches it (``None``: never).
    """

    probe_criterion: object
    score: object
    stratify: object
    auto_skip_score: float | None = None


@dataclass
class FitResult:
    """What one run of the recipe leaves, for the estimator to write once."""

    #: Every epoch's entry (a warm start's earlier epochs first).
    history: list = field(default_factory=list)
    #: Fitted attributes the run decided (``unfrozen_epochs_``, and with the
    #: probe ``alpha_`` and ``probe_score_``).
    fitted: dict = field(default_factory=dict)
    #: Whether a ``KeyboardInterrupt`` ended the run early.
    interrupted: bool = False
    #: Whether any backbone weight trained (the pretrained features are stale).
    backbone_trained: bool = False


class Recipe:
    """Phase 1 then phase 2 of one fit (see the module docstring).

    Parameters
    ----------
    params : namespace
        The estimator's parameters (read only).
    task : Task
    feeder : Feeder
        Holds and places the data (``_feeding``).
    seed : int
        The fit's seed: the split and the probe's folds.
    name : str
        The estimator's class name, for messages.
    """

    def __init__(self, params, task, feeder, seed, name):
        self.params = params
        self.task = task
        self.feeder = feeder
        self.seed = seed
        self.name = name

    def run(self, trainer, data, targets, n_frozen, cache=None, crop=None):
        """Train ``trainer.net`` on ``data`` and ``targets``; returns a
        :class:`FitResult`.  ``cache`` is the feature cache of the pretrained
        backbone (``None`` without ``memory`` or on a warm start)."""
        result = FitResult(history=trainer.history)
        oom = None
        try:
            self._phases(trainer, data, targets, n_frozen, cache, result)
        except RuntimeError as exc:  # OutOfMemoryError is one
            if not is_out_of_memory(exc):
                raise
            oom = str(exc).strip().splitlines()[0] if str(exc) else "out of memory"
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            set_trainable(trainer.blocks, 0)
            if trainer.stopper is not None:
                trainer.stopper.restore(trainer.net)
            trainer.net.eval()
        if oom is not None:  # raised here: the error's frames are gone by now
            trainer.compute.empty_cache()
            raise MemoryError(
                f"{self.name}.fit ran out of memory on {trainer.device} with "
                f"batch_size={self.params.batch_size} at {crop} px ({oom}). Pass a "
                "smaller batch_size, a larger freeze_depth (fewer blocks to train), "
                "precision='auto' on a GPU with bfloat16, or a smaller image_size; "
                "the estimator is as it was before fit."
            )
        return result

    # -------------------------------------------------------------- phases
    def _phases(self, trainer, data, targets, n_frozen, cache, result):
        p = self.params
        head_on_features = p.feature_cache and p.frozen_epochs > 0
        keys = data.cache_keys() if cache is not None and head_on_features else None
        # decoded into memory at once unless phase 1 needs no image: its features
        # all stored, and phase 2 not certain to run (it holds them when it does)
        features_only = keys is not None and (
            p.unfrozen_epochs == 0
            or (p.unfrozen_epochs == "auto" and cache.has_all(keys))
        )
        data = self.feeder.for_training(data, images_needed=not features_only)
        y = torch.as_tensor(targets, device=trainer.device)
        split = self.split(targets)
        probe_score = None
        if p.frozen_epochs > 0:
            probe_score = self._train_head(trainer, data, y, split, cache, keys, result)
        epochs = self.unfrozen_epochs_for(probe_score)
        result.fitted["unfrozen_epochs_"] = epochs
        if epochs > 0:
            data = self.feeder.for_training(data)  # as is, if already held
            self._fine_tune(trainer, data, y, split, n_frozen, epochs, result)

    def unfrozen_epochs_for(self, probe_score):
        """Phase 2's length: ``unfrozen_epochs``, or by the rule of ``"auto"``:
        none when the probe's cross-validated score reaches the task's
        ``auto_skip_score`` (the frozen features already solve the task:
        fine-tuning them risked more than it gained), else
        ``AUTO_UNFROZEN_EPOCHS``."""
        if self.params.unfrozen_epochs != "auto":
            return self.params.unfrozen_epochs
        skip = self.task.auto_skip_score
        if skip is not None and probe_score is not None and probe_score >= skip:
            return 0
        return AUTO_UNFROZEN_EPOCHS

    def _train_head(self, trainer, data, y, split, cache, keys, result):
        """Phase 1: the backbone frozen; on its features computed once (or found
        in ``memory``) unless ``feature_cache=False``; with ``"lbfgs"``, the head
        fitted to convergence on them (``_probe``).  Returns the probe's
        cross-validated score (``None`` without ``"lbfgs"``)."""
        p = self.params
        net, blocks = trainer.net, trainer.blocks
        set_trainable(blocks, len(blocks))
        probe = p.frozen_optimizer == "lbfgs"
        if not probe:
            optimizer = make_optimizer(
                p.frozen_optimizer,
                net.head.parameters(),
                p.frozen_learning_rate,
                p.momentum,
                p.weight_decay,
            )
            scheduler = self._scheduler(
                p.frozen_schedule, optimizer, trainer, split, p.frozen_epochs
            )
        if not p.feature_cache and not probe:
            trainer.image_phase(
                "frozen",
                data,
                y,
                *split,
                p.frozen_epochs,
                optimizer,
                len(blocks),
                scheduler=scheduler,
            )
            return None
        start = time.perf_counter()
        if keys is None:
            feats = trainer.features(data)
        else:
            feats = cache.features(
                keys, lambda i: trainer.features(data, i).cpu().numpy()
            )
            feats = torch.from_numpy(feats).to(trainer.device)
        if probe:
            train = torch.as_tensor(split[0], device=trainer.device)
            targets = y.cpu().numpy()[split[0]]
            alpha, score = fit_probe(
                net.head,
                feats[train],
                y[train],
                self.task.probe_criterion(targets, trainer.device),
                self.task.score,
                p.alpha,
                self.task.stratify(targets),
                self.seed,
            )
            result.fitted.update(alpha_=alpha, probe_score_=score)
            trainer.record_probe(feats, y, *split, time.perf_counter() - start)
            return score
        trainer.frozen_phase_on_features(
            feats,
            y,
            *split,
            p.frozen_epochs,
            optimizer,
            feature_seconds=time.perf_counter() - start,
            scheduler=scheduler,
        )
        return None

    def _fine_tune(self, trainer, data, y, split, n_frozen, epochs, result):
        """Phase 2: blocks ``n_frozen`` and up with the head, at the lower rate."""
        p = self.params
        trainable = set_trainable(trainer.blocks, n_frozen)
        groups = layer_decay_groups(
            trainer.net.head.parameters(),
            trainable,
            p.unfrozen_learning_rate,
            p.layer_decay,
        )
        optimizer = make_optimizer(
            p.unfrozen_optimizer,
            groups,
            p.unfrozen_learning_rate,
            p.momentum,
            p.weight_decay,
        )
        scheduler = self._scheduler(
            p.unfrozen_schedule, optimizer, trainer, split, epochs
        )
        if trainable:  # the backbone changes from here on
            result.backbone_trained = True
        trainer.image_phase(
            "unfrozen",
            data,
            y,
            *split,
            epochs,
            optimizer,
            n_frozen,
            scheduler=scheduler,
        )

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _scheduler(schedule, optimizer, trainer, split, epochs):
        if schedule == "constant":
            return None
        return warmup_cosine(optimizer, trainer.n_steps(len(split[0]), epochs))

    def split(self, targets):
        """Training and validation indices (validation only with early stopping)."""
        idx = np.arange(len(targets))
        if not self.params.early_stopping:
            return idx, idx[:0]
        fraction = self.params.validation_fraction
        stratify = self.task.stratify(targets)
        if stratify is not None:
            try:
                return train_test_split(
                    idx, test_size=fraction, random_state=self.seed, stratify=stratify
                )
            except ValueError:
                pass
        return train_test_split(idx, test_size=fraction, random_state=self.seed)
