"""The fine-tuning recipe of ``fit``, apart from the estimator: phase 1, phase 2,
the held-out part, the evidence that decides phase 2, early stopping, and what an
interrupt or an out-of-memory error leaves.

:meth:`Recipe.run` trains a network it is given on data it is given and returns a
:class:`FitResult`; it writes no estimator state (the estimator writes the result
once).  What it needs of the task comes as a :class:`Task` (the losses, the
validation score, the errors the evidence counts, the labels to stratify by);
what it needs of the estimator's parameters, as a read-only namespace of them.

The order:

1. the data held in memory, unless phase 1 needs no image (every feature in
   ``memory`` and phase 2 not certain to run);
2. the held-out part (``validation_fraction`` of the training data, stratified
   where it can be), wherever something is decided on it: early stopping,
   ``unfrozen_epochs="auto"``, the probe's ``alpha="auto"``;
3. phase 1, the head with the backbone frozen: with ``frozen_optimizer="lbfgs"``
   the linear probe on the features (``_probe``: its penalty chosen on the
   held-out part), else epochs on the features (or on augmented images with
   ``feature_cache=False``);
4. phase 2, blocks from ``freeze_depth`` on with the head, at the lower rate:
   ``unfrozen_epochs`` epochs, or with ``"auto"`` the trial below;
5. the best weights of early stopping put back, every block frozen, the network
   in inference mode: also after an interrupt (``KeyboardInterrupt`` ends the
   fit early, with the weights reached).  Out of memory is a ``MemoryError``
   that names the settings to change, raised after the frames holding the
   network and the batches are gone.

``unfrozen_epochs="auto"`` decides phase 2 by evidence: phase 1 trained on the
rest is epoch 0 of a validation curve on the held-out part.  Phase 2 is tried
only where the held-out part could show it paying: phase 1 errs on at least
``MIN_HELD_OUT_ERRORS`` held-out samples (a regressor always tries).  The trial
trains phase 2 on the rest, scores the held-out part after every epoch, and stops
after ``n_iter_no_change`` epochs without a better score (a tie is no better),
or at ``AUTO_MAX_UNFROZEN_EPOCHS``.  Its best epoch is the length; epoch 0 (the
probe) means no phase 2.  Then the final model is fitted on all the training data
(the probe again, warm-started, and that many epochs of phase 2), unless
``early_stopping=True``, which keeps the held-out part out of training and the
trial's best weights as the model.
"""

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ._device import is_out_of_memory
from ._optim import layer_decay_groups, make_optimizer, warmup_cosine
from ._probe import MAX_SPLITS, MIN_HELD_OUT, fit_probe
from ._training import EarlyStopping, set_trainable

#: The fewest held-out errors of phase 1 for which ``unfrozen_epochs="auto"``
#: tries phase 2: with fewer, even a phase 2 that fixed every one of them and
#: broke none would not tell itself from luck at the 5 % level (a one-sided sign
#: test: 4 of 4 has p = 0.0625, 5 of 5 p = 0.031).
MIN_HELD_OUT_ERRORS = 5
#: The longest phase-2 trial of ``unfrozen_epochs="auto"``.
AUTO_MAX_UNFROZEN_EPOCHS = 10
#: Fewer training samples than this hold no part out for the probe's penalty
#: or for ``"auto"`` (``alpha`` is then 1, and phase 2 does not run).
MIN_SAMPLES_TO_HOLD_OUT = 10


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
    errors : callable
        ``errors(outputs, targets)`` -> how many samples are predicted wrong, or
        ``None`` where nothing is simply right or wrong (a regression).
    """

    probe_criterion: object
    score: object
    stratify: object
    errors: object


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
        auto = p.unfrozen_epochs == "auto"
        head_on_features = p.feature_cache and p.frozen_epochs > 0
        keys = data.cache_keys() if cache is not None and head_on_features else None
        # decoded into memory at once unless phase 1 needs no image: its features
        # all stored, and phase 2 not certain to run (it holds them when it does)
        features_only = keys is not None and (
            p.unfrozen_epochs == 0 or (auto and cache.has_all(keys))
        )
        data = self.feeder.for_training(data, images_needed=not features_only)
        y = torch.as_tensor(targets, device=trainer.device)
        train, held = self.split(targets)
        trial = auto and len(held) > 0
        if trial and trainer.stopper is None:  # the trial's own (by score)
            trainer.stopper = EarlyStopping(p.n_iter_no_change, by_score=True)
        # the final model sees every training sample, unless early stopping keeps
        # the held-out part out of training
        everything = np.arange(len(targets))
        final = train if p.early_stopping else everything
        probe = feats = None
        if p.frozen_epochs > 0:
            probe, feats = self._train_head(
                trainer, data, y, train, held, cache, keys, result
            )
        # the probe was fitted on the training part: again on every sample,
        # unless early stopping keeps the held-out part out of training
        refit = probe is not None and len(held) > 0 and not p.early_stopping
        if refit and not trial:  # (after the trial, with "auto")
            refit_probe(self.task, trainer, feats, y, probe)
        if not auto:
            result.fitted["unfrozen_epochs_"] = p.unfrozen_epochs
            if p.unfrozen_epochs > 0:
                data = self.feeder.for_training(data)  # as is, if already held
                valid = held if p.early_stopping else held[:0]
                self._fine_tune(
                    trainer,
                    data,
                    y,
                    (final, valid),
                    n_frozen,
                    p.unfrozen_epochs,
                    result,
                )
            return
        epochs, before = 0, None
        if trial and worth_trying(self.task, trainer, feats, y, held, p.frozen_epochs):
            data = self.feeder.for_training(data)
            epochs, before = self._trial(
                trainer, data, y, train, held, n_frozen, result
            )
        result.fitted["unfrozen_epochs_"] = epochs
        if epochs == 0:  # phase 1 (restored by run) is the model: the backbone
            result.backbone_trained = False  # is the pretrained one
        if p.early_stopping:
            return  # the trial's best weights (restored by run) are the model
        if trial:
            trainer.stopper = None
        if before is not None:  # phase 1 as it was before the trial
            trainer.net.load_state_dict(before)
            result.backbone_trained = False
        if refit:
            refit_probe(self.task, trainer, feats, y, probe)
        if epochs > 0:
            self._fine_tune(
                trainer, data, y, (everything, held[:0]), n_frozen, epochs, result
            )

    def _trial(self, trainer, data, y, train, held, n_frozen, result):
        """Phase 2 on ``train``, scored on ``held`` after every epoch, for at most
        ``AUTO_MAX_UNFROZEN_EPOCHS``; returns the best epoch (0: phase 1) and the
        network's state before the trial."""
        stopper = trainer.stopper
        if stopper.updates == 0:  # phase 1 left no held-out score: take it now
            h = torch.as_tensor(held, device=trainer.device)
            loss, score = trainer.validate(trainer.outputs(data, held), y[h])
            stopper.update(loss, trainer.net, score)
        before = {k: v.detach().clone() for k, v in trainer.net.state_dict().items()}
        updates = stopper.updates
        self._fine_tune(
            trainer,
            data,
            y,
            (train, held),
            n_frozen,
            AUTO_MAX_UNFROZEN_EPOCHS,
            result,
            phase="trial",
        )
        return max(stopper.best_update - updates + 1, 0), before

    def _train_head(self, trainer, data, y, train, held, cache, keys, result):
        """Phase 1 on ``train``: the backbone frozen; on its features computed
        once (or found in ``memory``) unless ``feature_cache=False``; with
        ``"lbfgs"``, the head fitted to convergence on them (``_probe``), its
        penalty chosen on ``held``.  Returns the probe's penalty (``None``
        without ``"lbfgs"``) and the features of every sample (``None`` without
        them)."""
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
            scheduler = make_scheduler(
                p.frozen_schedule, optimizer, trainer, train, p.frozen_epochs
            )
        if not p.feature_cache and not probe:
            trainer.image_phase(
                "frozen",
                data,
                y,
                train,
                held,
                p.frozen_epochs,
                optimizer,
                len(blocks),
                scheduler=scheduler,
            )
            return None, None
        start = time.perf_counter()
        if keys is None:
            feats = trainer.features(data)
        else:
            feats = cache.features(
                keys, lambda i: trainer.features(data, i).cpu().numpy()
            )
            feats = torch.from_numpy(feats).to(trainer.device)
        if not probe:
            trainer.frozen_phase_on_features(
                feats,
                y,
                train,
                held,
                p.frozen_epochs,
                optimizer,
                feature_seconds=time.perf_counter() - start,
                scheduler=scheduler,
            )
            return None, feats
        targets = y.cpu().numpy()
        device = trainer.device
        splits = [
            (torch.as_tensor(a, device=device), torch.as_tensor(b, device=device))
            for a, b in probe_splits(
                targets,
                train,
                held,
                p.validation_fraction,
                self.task.stratify,
                self.seed,
            )
        ]
        alpha, score = fit_probe(
            net.head,
            feats,
            y,
            self.task.probe_criterion(targets[train], trainer.device),
            self.task.score,
            p.alpha,
            splits,
        )
        result.fitted.update(alpha_=alpha, probe_score_=score)
        trainer.record_probe(feats, y, train, held, time.perf_counter() - start)
        return alpha, feats

    def _fine_tune(
        self, trainer, data, y, split, n_frozen, epochs, result, phase="unfrozen"
    ):
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
        scheduler = make_scheduler(
            p.unfrozen_schedule, optimizer, trainer, split[0], epochs
        )
        if trainable:  # the backbone changes from here on
            result.backbone_trained = True
        trainer.image_phase(
            phase,
            data,
            y,
            *split,
            epochs,
            optimizer,
            n_frozen,
            scheduler=scheduler,
        )

    # ------------------------------------------------------------- helpers
    def split(self, targets):
        """Training and held-out indices: a held-out part wherever something is
        decided on it (early stopping, ``unfrozen_epochs="auto"``, the probe's
        ``alpha="auto"``) and there are ``MIN_SAMPLES_TO_HOLD_OUT`` samples (or
        early stopping asks for it)."""
        p = self.params
        idx = np.arange(len(targets))
        decides = p.unfrozen_epochs == "auto" or (
            p.frozen_optimizer == "lbfgs" and p.alpha == "auto" and p.frozen_epochs > 0
        )
        if not p.early_stopping and not (
            decides and len(idx) >= MIN_SAMPLES_TO_HOLD_OUT
        ):
            return idx, idx[:0]
        return hold_out(targets, p.validation_fraction, self.task.stratify, self.seed)


def hold_out(targets, fraction, stratify, seed):
    """Training and held-out indices: ``fraction`` held out, stratified by
    ``stratify(targets)`` where it can be."""
    idx = np.arange(len(targets))
    labels = stratify(targets)
    if labels is not None:
        try:
            return train_test_split(
                idx, test_size=fraction, random_state=seed, stratify=labels
            )
        except ValueError:
            pass
    return train_test_split(idx, test_size=fraction, random_state=seed)


def make_scheduler(schedule, optimizer, trainer, train, epochs):
    """The learning-rate schedule of a phase (``None``: constant)."""
    if schedule == "constant":
        return None
    return warmup_cosine(optimizer, trainer.n_steps(len(train), epochs))


def worth_trying(task, trainer, feats, y, held, frozen_epochs):
    """Whether phase 1 errs on enough held-out samples for phase 2 to show a
    gain (``MIN_HELD_OUT_ERRORS``; a task with no errors to count tries)."""
    if frozen_epochs == 0 or feats is None:
        return True
    h = torch.as_tensor(held, device=trainer.device)
    with torch.no_grad():
        outputs = trainer.head_outputs(feats[h]).float()
    errors = task.errors(outputs, y[h])
    return errors is None or errors >= MIN_HELD_OUT_ERRORS


def probe_splits(targets, train, held, fraction, stratify, seed):
    """The probe's splits: ``(train, held)`` first, then random ones of the
    same size until ``MIN_HELD_OUT`` held-out predictions (at most
    ``MAX_SPLITS``); none without a held-out part."""
    if not len(held):
        return []
    n_splits = min(MAX_SPLITS, -(-MIN_HELD_OUT // len(held)))
    more = [hold_out(targets, fraction, stratify, seed + k) for k in range(1, n_splits)]
    return [(train, held), *more]


def refit_probe(task, trainer, feats, y, alpha):
    """The probe again on every sample, at the penalty chosen (warm-started: a
    few L-BFGS iterations)."""
    fit_probe(
        trainer.net.head,
        feats,
        y,
        task.probe_criterion(y.cpu().numpy(), trainer.device),
        task.score,
        alpha,
    )
