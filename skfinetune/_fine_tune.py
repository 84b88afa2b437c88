"""The fine-tuning estimators' base: ``fit`` as the recipe reads.

:class:`BaseFineTune` adds to :class:`~skfinetune._base.BaseBackbone` the order of
a fine-tuning ``fit`` — validate, encode the targets, build the network with a
new head, run the recipe (``_recipe``), write the fitted state once — with small
hooks for what differs per task, in the way scikit-learn's
``BaseMultilayerPerceptron`` serves ``MLPClassifier`` and ``MLPRegressor``:

========================  ==========================================================
``_encode_targets``       check ``y``, set the fitted target attributes, return the
                          training targets (class codes, indicators, scaled values)
``_n_outputs``            the new head's output size for those targets
``_criterion``            the training loss (early stopping watches the same one)
``_probe_criterion``      the loss of the ``"lbfgs"`` probe (default: the same)
``_score``                the validation score recorded in ``history_``
``_stratify``             labels for a stratified validation split, or ``None``
========================  ==========================================================
"""

import warnings
from numbers import Integral, Real
from types import SimpleNamespace

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._base import BaseBackbone
from ._device import Compute
from ._recipe import Recipe, Task
from ._training import (
    EarlyStopping,
    Trainer,
    frozen_block_count,
)
from ._validation import check_bool, check_float, check_history, check_int


def _optimizer_constraint(*extra):
    return [StrOptions({"sgd", "adam", "adamw", *extra}), callable]


def make_head(n_features, n_outputs, hidden_layer_sizes, dropout):
    """Dense layers with ReLU and dropout, then the output layer."""
    layers = []
    width = n_features
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    if not hidden_layer_sizes and dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class BaseFineTune(BaseBackbone):
    """Two-phase fine-tuning of a pretrained backbone with a new head.

    Subclasses implement the hooks listed in the module docstring and their own
    prediction methods; ``fit`` is shared.
    """

    _parameter_constraints = {
        **BaseBackbone._parameter_constraints,
        "hidden_layer_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "freeze_depth": [
            Interval(Integral, 0, None, closed="left"),
            StrOptions({"all", "auto"}),
        ],
        "frozen_epochs": [Interval(Integral, 0, None, closed="left")],
        "unfrozen_epochs": [
            Interval(Integral, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "frozen_optimizer": _optimizer_constraint("lbfgs"),
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "frozen_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "unfrozen_optimizer": _optimizer_constraint(),
        "unfrozen_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "layer_decay": [Interval(Real, 0, 1, closed="right")],
        "frozen_schedule": [StrOptions({"constant", "cosine"})],
        "unfrozen_schedule": [StrOptions({"constant", "cosine"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "feature_cache": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    _fitted_checks = {
        "history_": check_history,
        "interrupted_": check_bool,
        "unfrozen_epochs_": check_int(0),
        "alpha_": check_float(0),
        "probe_score_": check_float(optional=True),
    }

    #: Key of the validation score in ``history_``.
    _score_name = "valid_score"

    # ------------------------------------------------------------------- hooks
    def _encode_targets(self, y, n_samples, warm):
        raise NotImplementedError

    def _n_outputs(self, targets):
        raise NotImplementedError

    def _criterion(self, targets, device):
        raise NotImplementedError

    def _score(self, outputs, targets):
        raise NotImplementedError

    def _errors(self, outputs, targets):
        """How many samples ``outputs`` predict wrong (``None``: no such count)."""
        return None

    def _probe_criterion(self, targets, device):
        """The loss of the ``"lbfgs"`` head fit (phase 1)."""
        return self._criterion(targets, device)

    def _stratify(self, targets):
        return None

    def _flip_at_predict(self, data):
        return self._family.flip_at_predict(self, data)

    def _new_head(self, n_outputs):
        """``new_head(n_features)`` for ``build_network``: the head of the
        parameters ``hidden_layer_sizes`` and ``dropout``."""
        return lambda n_features: make_head(
            n_features, n_outputs, tuple(self.hidden_layer_sizes), self.dropout
        )

    def _head_for(self, tensors):
        """The saved head: its output size is that of its last layer's tensors."""
        layers = [
            key
            for key in tensors
            if key.startswith("head.") and key.split(".")[1].isdigit()
        ]
        if not layers:
            raise ValueError("The file holds no head tensors (head.0.weight, ...).")
        last = max(layers, key=lambda key: int(key.split(".")[1]))
        return self._new_head(tensors[last].shape[0])

    # --------------------------------------------------------------------- fit
    def _check_params(self):
        source = super()._check_params()
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (str, bytes)) or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive ints; got {sizes!r}."
            )
        self._family.check_augmentation(self)
        return source

    def _fit(self, X, y):
        """Fine-tune: check, read, build, run the recipe, write the result once.
        Whatever fails leaves the estimator as it was (a warm start's weights as
        they were reached)."""
        source = self._check_params()
        compute = Compute.resolve(self.device, self.precision)
        warm = self.warm_start and hasattr(self, "module_")
        before = dict(self.__dict__)
        memory_error = None
        try:
            state, result = self._run_recipe(X, y, source, compute, warm)
        except MemoryError as exc:  # raised below, from a frame without the
            memory_error = exc.with_traceback(None)  # network: a retry has room
        except BaseException:
            self._restore_fitted(before)
            raise
        if memory_error is not None:
            self._restore_fitted(before)
            raise memory_error
        self._set_fitted(**state)
        if result.interrupted:
            warnings.warn(
                "Training was interrupted (KeyboardInterrupt); the estimator keeps"
                f" the weights reached after {len(self.history_)} epoch(s) and "
                "can predict.",
                UserWarning,
                stacklevel=3,
            )
        return self

    def _run_recipe(self, X, y, source, compute, warm):
        """``(fitted state, FitResult)`` of one fit."""
        data, size = self._start_fit(X, source, warm=warm)
        targets = self._encode_targets(y, len(data), warm)
        seed = self._seed()
        with compute.scope(self.retain_memory), compute.fork_rng():
            torch.manual_seed(seed)
            if warm:
                net, history = self.module_, list(self.history_)
                features_key = getattr(self, "_features_key", None)
            else:
                head = self._new_head(self._n_outputs(targets))
                net, _ = self._new_network(source, size, head)
                history = []
                features_key = self._features_key_for(
                    source, seed, size, compute, self._input
                )
            blocks = net.blocks()
            n_frozen = frozen_block_count(
                self.freeze_depth, len(blocks), self.layer_decay, source.description
            )
            net.to(compute.device, memory_format=self._family.memory_format)
            trainer = self._trainer(
                compute, net, size, data, targets, blocks, history, seed
            )
            recipe = Recipe(
                SimpleNamespace(**self.get_params(deep=False)),
                self._task(),
                trainer.feeder,
                seed,
                type(self).__name__,
            )
            cache = None if warm else self._feature_cache(features_key)
            result = recipe.run(trainer, data, targets, n_frozen, cache, size)
        state = dict(
            module_=net,
            history_=result.history,
            n_backbone_blocks_=len(blocks),
            **{self._family.size_attribute: size},
            device_=compute.device,
            interrupted_=result.interrupted,
            _features_key=None if result.backbone_trained else features_key,
            **result.fitted,
        )
        return state, result

    def _task(self):
        return Task(
            probe_criterion=self._probe_criterion,
            score=self._score,
            stratify=self._stratify,
            errors=self._errors,
        )

    def _trainer(self, compute, net, size, data, targets, blocks, history, seed):
        fits = [h["fit"] for h in history]
        return self._runner(
            compute,
            net,
            size,
            Trainer,
            augmentation=self._family.augmentation(self, data),
            blocks=blocks,
            generator=torch.Generator().manual_seed(seed),
            criterion=self._criterion(targets, compute.device),
            score=self._score,
            score_name=self._score_name,
            history=history,
            fit_index=max(fits, default=0) + 1,
            verbose=self.verbose,
            stopper=(
                # with "auto" the held-out score decides (the trial's evidence)
                EarlyStopping(
                    self.n_iter_no_change, by_score=self.unfrozen_epochs == "auto"
                )
                if self.early_stopping
                else None
            ),
            train_batchnorm=self._family.train_batchnorm(self),
        )
