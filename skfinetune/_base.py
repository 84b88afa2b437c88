"""The shared engine: a pretrained backbone as a scikit-learn estimator.

:class:`BaseBackbone` owns what every estimator of the package does with a
pretrained network: checking the shared parameters, reading ``X``
(``ImageInput``), building the network, the one inference path (``_forward``:
feature cache, device, materialising decided in one place), pickling, cloning and
tags.  :class:`BaseFineTune` adds the order of a fine-tuning ``fit`` — validate,
encode targets, build the network with a new head, data, phase 1, phase 2, fitted
state — with small hooks for what differs per task, in the way scikit-learn's
``BaseMultilayerPerceptron`` serves ``MLPClassifier`` and ``MLPRegressor``:

========================  ==========================================================
``_encode_targets``       check ``y``, set the fitted target attributes, return the
                          training targets (class codes, indicators, scaled values)
``_n_outputs``            the new head's output size for those targets
``_criterion``            the training loss (early stopping watches the same one)
``_score``                the validation score recorded in ``history_``
``_stratify``             labels for a stratified validation split, or ``None``
========================  ==========================================================
"""

import inspect
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory
from torch import nn

from ._backbones import make_backbone
from ._cache import FeatureCache
from ._inference import Runner
from ._probe import fit_probe
from ._runtime import autocast_dtype, compute_scope, resolve_device
from ._training import (
    AUTO_UNFROZEN_EPOCHS,
    EarlyStopping,
    Trainer,
    frozen_block_count,
    layer_decay_groups,
    make_optimizer,
    set_trainable,
    warmup_cosine,
)
from ._vision.inputs import ImageInput
from ._vision.transforms import BatchPreparer, augmentation_options

_FEATURES_KEY_VERSION = "skfinetune-features-v3"
#: Fitted attributes of 2-D rows that a fit on images must not keep.
_ROW_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


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


class BaseBackbone(BaseEstimator):
    """A pretrained backbone behind a scikit-learn estimator.

    Not for direct use: subclasses set ``__init__`` (parameters only) and ``fit``.

    Fitted state is written by :meth:`_set_fitted` alone (``fit`` and
    :func:`skfinetune.load`); displays read images through :meth:`_images`.
    """

    _parameter_constraints = {
        "backbone": [str, nn.Module],
        "weights": "no_validation",  # checked by the backbone's source
        "head": [str, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), None],
        "image_shape": ["array-like", None],
        "mean": ["array-like", None],
        "std": ["array-like", None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "cache_size": [Interval(Real, 0, None, closed="left")],
        "memory": [None, str, HasMethods(["cache"])],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "retain_memory": ["boolean"],
        "device": [str],
        "random_state": ["random_state"],
    }

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        """Checks the declarative constraints cannot express; returns the checked
        backbone source (a ``_backbones.Backbone``, made anew by each fit)."""
        source = make_backbone(self.backbone, self.weights, self.head)
        source.check()
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str) or not (
                len(value) == 3
                and all(isinstance(v, Real) and math.isfinite(v) for v in value)
                and (name == "mean" or all(v > 0 for v in value))
            ):
                positive = ", all > 0," if name == "std" else ""
                raise ValueError(
                    f"{name} must be 3 numbers (red, green, blue){positive} on the "
                    f"0-1 scale, or None for the weights' own; got {value!r}."
                )
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if (
                len(shape) not in (2, 3)
                or not all(isinstance(s, Integral) and s > 0 for s in shape)
                or (len(shape) == 3 and shape[2] not in (1, 3))
            ):
                raise ValueError(
                    "image_shape must be (height, width) or (height, width, channels)"
                    f" with 1 or 3 channels; got {self.image_shape!r}."
                )
        if self.memory is not None:
            check_memory(self.memory)
        return source

    def _backbone_name(self):
        return make_backbone(self.backbone, self.weights, self.head).description

    # ------------------------------------------------------------ fitted state
    def _set_fitted(self, **state):
        """Write fitted attributes: the one place ``fit`` and ``load`` do.
        ``_input`` may be given as the plain dict of :meth:`_fitted_state`."""
        reader = state.get("_input")
        if isinstance(reader, dict):
            state["_input"] = ImageInput.from_dict(reader)
        for key, value in state.items():
            setattr(self, key, value)
        return self

    def _fitted_state(self):
        """The fitted attributes (all but parameters and ``module_``) as plain
        values, for :func:`skfinetune.save`."""
        params = self.get_params(deep=False)
        state = {}
        for key, value in vars(self).items():
            if key in params or key == "module_":
                continue
            state[key] = value.to_dict() if key == "_input" else value
        return state

    def _export_input(self):
        """What an exported graph does before the network (``to_onnx``):
        ``(stored_size, crop, mean, std, channels)``."""
        check_is_fitted(self)
        reader = self._input
        if reader.rows is not None:
            raise ValueError(
                f"{type(self).__name__} was fitted on 2-D rows of pixels; to_onnx "
                "exports estimators fitted on images (arrays, files or PIL images)."
            )
        return (
            reader.store_size,
            self.image_size_,
            reader.mean,
            reader.std,
            reader.channels or 3,
        )

    def _export_network(self):
        """The module an exported graph runs (the whole network)."""
        return self.module_

    def _export_outputs(self, outputs):
        """``{name: tensor}``: the exported graph's outputs from the network's
        (traced: torch operations only)."""
        raise NotImplementedError

    def _images(self, X):
        """``X`` read as the fitted estimator reads it (``ImageData``: images that
        load by index as stored, before normalisation); for displays."""
        check_is_fitted(self)
        return self._input.read(self, X)

    # ----------------------------------------------------------------- network
    def _start_fit(self, X, source, *, warm=False):
        """Preprocessing from the backbone's source, then read ``X`` (learning
        its kind unless ``warm``).  Returns ``(data, crop)``."""
        pre = source.preprocessing()
        crop = self.image_size or pre.crop_size
        if warm:
            return self._input.read(self, X), crop
        for attr in _ROW_ATTRIBUTES:  # learnt again below, from 2-D rows only
            self.__dict__.pop(attr, None)
        store = max(crop, int(round(crop * pre.resize_size / pre.crop_size)))
        self._set_fitted(
            _input=ImageInput(
                store,
                tuple(self.mean) if self.mean is not None else pre.mean,
                tuple(self.std) if self.std is not None else pre.std,
                self.image_shape,
                pre.interpolation,
            )
        )
        return self._input.fit(self, X), crop

    def _new_network(self, source, crop, new_head=None):
        """``(net, n_features)``: the pretrained network with ``new_head`` (or
        none), checked to accept ``crop`` pixels."""
        net, n_features = source.build(new_head)
        net.eval()
        try:
            with torch.inference_mode():
                # on the module's own device (a module backbone may be on a GPU)
                where = next(net.parameters()).device
                out = net.backbone(torch.zeros(1, 3, crop, crop, device=where))
        except Exception as exc:  # torch raises RuntimeError, AssertionError, ...
            raise ValueError(
                f"image_size={crop} does not suit backbone {source.description}: "
                f"{str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
            ) from None
        if out.ndim != 2 or out.shape[1] != n_features:
            raise ValueError(
                f"Backbone {source.description} outputs shape {tuple(out.shape)} "
                f"after its head is removed; expected (batch, {n_features}) — "
                "the input of its classification layer. Name the head with "
                "head='...' if another layer is the classifier."
            )
        return net, n_features

    def _seed(self):
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _memory(self):
        return None if self.memory is None else check_memory(self.memory)

    def _features_key_for(self, source, seed):
        """What the pretrained backbone's features depend on (``memory`` key), or
        ``None`` without ``memory``."""
        if self.memory is None:
            return None
        return (
            _FEATURES_KEY_VERSION,
            source.cache_key(),
            seed if self.weights is None else None,
            self.image_size_,
            self._input.store_size,
            self._input.interpolation,
            self.precision,
            self.device_.type,
        )

    def _feature_cache(self):
        """The per-image feature cache, while the backbone is the pretrained one."""
        key = getattr(self, "_features_key", None)
        if key is None or self.memory is None:
            return None
        return FeatureCache(self._memory(), key)

    # --------------------------------------------------------------- inference
    def _runner(self, device, cls=Runner, **kwargs):
        prepare = BatchPreparer(
            self.image_size_,
            self._input.mean,
            self._input.std,
            device,
            augmentation=kwargs.pop("augmentation", None),
            channels_last=True,
        )
        return cls(
            net=self.module_,
            prepare=prepare,
            device=device,
            amp_dtype=autocast_dtype(self.precision, device),
            batch_size=self.batch_size,
            **kwargs,
        )

    def _forward(self, X, *, head=True):
        """The one inference path: ``X`` -> the head's outputs (or, with
        ``head=False``, the backbone's features) as a float32 tensor on the CPU.

        Decides in one place: the feature cache (``memory``, while the backbone is
        pretrained), the device (the fitted one, or the CPU where a GPU-fitted
        model is used without one), and what is decoded into memory.
        """
        check_is_fitted(self)
        device = self._inference_device()
        data = self._input.read(self, X)
        if next(self.module_.parameters()).device != device:
            self.module_.to(device)
        runner = self._runner(device)
        with compute_scope(device, self.retain_memory):
            flip = head and self._flip_at_predict(data)
            cache = None if flip else self._feature_cache()
            keys = None if cache is None else data.cache_keys()
            if keys is None:
                data = data.for_inference(
                    device, self.cache_size * 2**20, self.batch_size
                )
                out = runner.outputs(data, flip=flip) if head else runner.features(data)
            else:
                feats = cache.features(
                    keys, lambda i: runner.features(data, i).cpu().numpy()
                )
                out = runner.head_outputs(feats) if head else torch.from_numpy(feats)
        return out.cpu()

    def _inference_device(self):
        """Where predict and transform run: ``device`` as set now (a device this
        machine lacks is the same ``ValueError`` as in ``fit``: a silent fall-back
        to the CPU would turn a GPU job into a far slower one unannounced);
        ``"auto"``: the fitted device, or the CPU where a model fitted on a GPU is
        used without one."""
        if self.device != "auto":
            return resolve_device(self.device)
        if self.device_.type == "cuda" and not torch.cuda.is_available():
            return torch.device("cpu")
        return self.device_

    def _flip_at_predict(self, data):
        """Whether predictions average each image with its mirror image."""
        return False

    # ------------------------------------------------------------ persistence
    def _network_for_loading(self, tensors):
        """The fitted network rebuilt from its ``tensors`` (for
        :func:`skfinetune.load` and unpickling), in inference mode, where the
        tensors are: built on the meta device, which skips the random
        initialisation, when every tensor of the network is in ``tensors``.  A
        ``RuntimeError`` when they do not fit the architecture."""
        source = make_backbone(self.backbone, self.weights, self.head)
        head = self._head_for(tensors)
        try:
            with torch.device("meta"):
                net, _ = source.build(head, pretrained=False)
            net.load_state_dict(tensors, assign=True)
            if any(t.is_meta for t in [*net.parameters(), *net.buffers()]):
                raise RuntimeError("tensors outside the state dict")
        except (RuntimeError, NotImplementedError, TypeError, ValueError):
            net, _ = source.build(head, pretrained=False)
            net.load_state_dict(tensors)
        return net.to(memory_format=torch.channels_last).eval()

    def _head_for(self, tensors):
        return None

    def __getstate__(self):
        """Plain values only — the network as a dict of numpy arrays (from the CPU,
        so a GPU-fitted model unpickles anywhere), the device as text, the input
        reader as a dict — so that pickle, joblib and skops store it without
        torch's own types (skops then trusts nothing but the estimator's class)."""
        state = dict(super().__getstate__())  # a copy: never change the estimator
        module = state.pop("module_", None)
        if module is not None:
            state["module_"] = {
                key: value.detach().to("cpu").float().numpy()
                if value.is_floating_point()
                else value.detach().to("cpu").numpy()
                for key, value in module.state_dict().items()
            }
        if isinstance(state.get("device_"), torch.device):
            state["device_"] = str(state["device_"])
        if isinstance(state.get("_input"), ImageInput):
            state["_input"] = state["_input"].to_dict()
        return state

    def __setstate__(self, state):
        state = dict(state)
        arrays = state.pop("module_", None)
        fitted = {k: state.pop(k) for k in ("_input", "device_") if k in state}
        super().__setstate__(state)
        for name, value in self._parameter_defaults().items():
            self.__dict__.setdefault(name, value)  # pickled before it existed
        if "device_" in fitted:
            fitted["device_"] = torch.device(fitted["device_"])
        if isinstance(arrays, nn.Module):  # pickled by skfinetune <= 0.2
            fitted["module_"] = arrays
        elif arrays is not None:
            tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
            fitted["module_"] = self._network_for_loading(tensors)
        self._set_fitted(**fitted)

    @classmethod
    def _parameter_defaults(cls):
        signature = inspect.signature(cls.__init__)
        return {
            name: p.default
            for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    def __sklearn_clone__(self):
        """Clone parameters; a module ``backbone`` is shared, not deep-copied.

        ``fit`` copies the module before changing anything, so clones (one per
        candidate and fold in a grid search) need no copy of its weights.
        """
        if not isinstance(self.backbone, nn.Module):
            return super().__sklearn_clone__()
        params = {
            name: clone(value, safe=False)
            for name, value in self.get_params(deep=False).items()
            if name != "backbone"
        }
        return type(self)(self.backbone, **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


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
        "augment": ["boolean", StrOptions({"auto"}), dict],
        "feature_cache": ["boolean"],
        "train_batchnorm": ["boolean", StrOptions({"auto"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "test_time_flip": ["boolean"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    #: Key of the validation score in ``history_``.
    _score_name = "valid_score"
    #: ``unfrozen_epochs="auto"`` skips phase 2 when the probe's cross-validated
    #: score reaches this (``None``: never skips).
    _AUTO_SKIP_SCORE = None

    # ------------------------------------------------------------------- hooks
    def _encode_targets(self, y, n_samples, warm):
        raise NotImplementedError

    def _n_outputs(self, targets):
        raise NotImplementedError

    def _criterion(self, targets, device):
        raise NotImplementedError

    def _score(self, outputs, targets):
        raise NotImplementedError

    def _probe_criterion(self, targets, device):
        """The loss of the ``"lbfgs"`` head fit (phase 1)."""
        return self._criterion(targets, device)

    def _stratify(self, targets):
        return None

    def _flip_at_predict(self, data):
        return self.test_time_flip and data.augment_by_default

    def _new_head(self, n_outputs):
        """``new_head(n_features)`` for ``build_network``: the head of the
        parameters ``hidden_layer_sizes`` and ``dropout``."""
        return lambda n_features: make_head(
            n_features, n_outputs, tuple(self.hidden_layer_sizes), self.dropout
        )

    def _head_for(self, tensors):
        """The saved head: its output size is that of its last layer's tensors."""
        last = max(
            (key for key in tensors if key.startswith("head.")),
            key=lambda key: int(key.split(".")[1]),
        )
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
        augmentation_options(self.augment)  # raises on bad options
        return source

    def _fit(self, X, y):
        """Fine-tune: the recipe every fine-tuning estimator shares."""
        source = self._check_params()
        device = resolve_device(self.device)
        autocast_dtype(self.precision, device)  # refuses what the device lacks
        warm = self.warm_start and hasattr(self, "module_")
        before = dict(self.__dict__)  # what an out-of-memory error goes back to
        data, crop = self._start_fit(X, source, warm=warm)
        targets = self._encode_targets(y, len(data), warm)
        seed = self._seed()
        cuda = [device.index] if device.type == "cuda" else []
        with (
            compute_scope(device, self.retain_memory),
            torch.random.fork_rng(devices=cuda),
        ):
            torch.manual_seed(seed)
            if not warm:
                net, _ = self._new_network(
                    source, crop, self._new_head(self._n_outputs(targets))
                )
                self._set_fitted(module_=net, history_=[])
            net = self.module_
            blocks = net.blocks()
            n_frozen = frozen_block_count(
                self.freeze_depth, len(blocks), self.layer_decay, source.description
            )
            net.to(device, memory_format=torch.channels_last)  # faster convolutions

            # fitted state exists before training, so an interrupt leaves a model
            self._set_fitted(
                n_backbone_blocks_=len(blocks),
                image_size_=crop,
                device_=device,
                interrupted_=False,
            )
            if not warm:  # key of the pristine backbone's features, for inference
                self._set_fitted(_features_key=self._features_key_for(source, seed))
            trainer = self._trainer(data, targets, blocks, device, seed)
            try:
                self._train(trainer, data, targets, n_frozen, warm, seed)
            except torch.OutOfMemoryError as exc:
                self.__dict__.clear()
                self.__dict__.update(before)  # as before fit: unfitted, or the
                # previous fit (with warm_start, its weights as they were reached)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                raise MemoryError(
                    f"{type(self).__name__}.fit ran out of memory on {device} with "
                    f"batch_size={self.batch_size} at {crop} px "
                    f"({str(exc).strip().splitlines()[0]}). Pass a smaller "
                    "batch_size, a larger freeze_depth (fewer blocks to train), "
                    "precision='auto' on a GPU with bfloat16, or a smaller "
                    "image_size; the estimator is as it was before fit."
                ) from None
            except KeyboardInterrupt:
                self._set_fitted(interrupted_=True)
                warnings.warn(
                    "Training was interrupted (KeyboardInterrupt); the estimator keeps"
                    f" the weights reached after {len(self.history_)} epoch(s) and "
                    "can predict.",
                    UserWarning,
                    stacklevel=3,
                )
            finally:
                set_trainable(blocks, 0)
                if trainer.stopper is not None:
                    trainer.stopper.restore(net)
                net.eval()
        return self

    def _trainer(self, data, targets, blocks, device, seed):
        augmentation = augmentation_options(
            self.augment, images=data.augment_by_default
        )
        fits = [h["fit"] for h in self.history_]
        return self._runner(
            device,
            Trainer,
            augmentation=augmentation,
            blocks=blocks,
            generator=torch.Generator().manual_seed(seed),
            criterion=self._criterion(targets, device),
            score=self._score,
            score_name=self._score_name,
            history=self.history_,
            fit_index=max(fits, default=0) + 1,
            verbose=self.verbose,
            stopper=(
                EarlyStopping(self.n_iter_no_change) if self.early_stopping else None
            ),
            train_batchnorm=self._train_batchnorm(),
        )

    def _train(self, trainer, data, targets, n_frozen, warm, seed):
        """Data held once, then phase 1 (head only), then phase 2 (unfrozen)."""
        cache = None if warm else self._feature_cache()
        head_on_features = self.feature_cache and self.frozen_epochs > 0
        keys = data.cache_keys() if cache is not None and head_on_features else None
        # decoded into memory at once unless phase 1 needs no image: its features
        # all stored, and phase 2 not certain to run (it holds them when it does)
        features_only = keys is not None and (
            self.unfrozen_epochs == 0
            or (self.unfrozen_epochs == "auto" and cache.has_all(keys))
        )
        if not features_only:
            data = self._held(data)
        data = data.placed(trainer.device)
        y = torch.as_tensor(targets, device=trainer.device)
        split = self._split(targets, seed)
        probe_score = None
        if self.frozen_epochs > 0:
            probe_score = self._train_head(trainer, data, y, split, cache, keys, seed)
        epochs = self._unfrozen_epochs_for(probe_score)
        self._set_fitted(unfrozen_epochs_=epochs)
        if epochs > 0:
            data = self._held(data).placed(trainer.device)  # as is, if already held
            self._fine_tune(trainer, data, y, split, n_frozen, epochs)

    def _held(self, data):
        """``data`` decoded into memory (within ``cache_size``), once."""
        return data.materialize(
            self.cache_size * 2**20, self.batch_size, self._memory()
        )

    def _unfrozen_epochs_for(self, probe_score):
        """Phase 2's length: ``unfrozen_epochs``, or by the rule of ``"auto"``:
        none when the probe's cross-validated score reaches ``_AUTO_SKIP_SCORE``
        (the frozen features already solve the task: fine-tuning them risked more
        than it gained), else ``AUTO_UNFROZEN_EPOCHS``."""
        if self.unfrozen_epochs != "auto":
            return self.unfrozen_epochs
        skip = self._AUTO_SKIP_SCORE
        if skip is not None and probe_score is not None and probe_score >= skip:
            return 0
        return AUTO_UNFROZEN_EPOCHS

    def _train_head(self, trainer, data, y, split, cache, keys, seed):
        """Phase 1: the backbone frozen; on its features computed once (or found
        in ``memory``) unless ``feature_cache=False``; with ``"lbfgs"``, the head
        fitted to convergence on them (``_probe``).  Returns the probe's
        cross-validated score (``None`` without ``"lbfgs"``)."""
        net, blocks = trainer.net, trainer.blocks
        set_trainable(blocks, len(blocks))
        probe = self.frozen_optimizer == "lbfgs"
        if not probe:
            optimizer = make_optimizer(
                self.frozen_optimizer,
                net.head.parameters(),
                self.frozen_learning_rate,
                self.momentum,
                self.weight_decay,
            )
            scheduler = self._scheduler(
                self.frozen_schedule, optimizer, trainer, split, self.frozen_epochs
            )
        if not self.feature_cache and not probe:
            trainer.image_phase(
                "frozen",
                data,
                y,
                *split,
                self.frozen_epochs,
                optimizer,
                len(blocks),
                scheduler=scheduler,
            )
            return
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
                self._probe_criterion(targets, trainer.device),
                self._score,
                self.alpha,
                self._stratify(targets),
                seed,
            )
            self._set_fitted(alpha_=alpha, probe_score_=score)
            trainer.record_probe(feats, y, *split, time.perf_counter() - start)
            return score
        trainer.frozen_phase_on_features(
            feats,
            y,
            *split,
            self.frozen_epochs,
            optimizer,
            feature_seconds=time.perf_counter() - start,
            scheduler=scheduler,
        )

    def _fine_tune(self, trainer, data, y, split, n_frozen, epochs):
        """Phase 2: blocks ``n_frozen`` and up with the head, at the lower rate."""
        trainable = set_trainable(trainer.blocks, n_frozen)
        optimizer = make_optimizer(
            self.unfrozen_optimizer,
            self._param_groups(trainer.net, trainable),
            self.unfrozen_learning_rate,
            self.momentum,
            self.weight_decay,
        )
        scheduler = self._scheduler(
            self.unfrozen_schedule, optimizer, trainer, split, epochs
        )
        if trainable:  # the backbone changes from here on
            self._set_fitted(_features_key=None)
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

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _scheduler(schedule, optimizer, trainer, split, epochs):
        if schedule == "constant":
            return None
        return warmup_cosine(optimizer, trainer.n_steps(len(split[0]), epochs))

    def _train_batchnorm(self):
        if self.train_batchnorm == "auto":
            return self.weights is None
        return self.train_batchnorm

    def _split(self, targets, seed):
        """Training and validation indices (validation only with early stopping)."""
        idx = np.arange(len(targets))
        if not self.early_stopping:
            return idx, idx[:0]
        stratify = self._stratify(targets)
        if stratify is not None:
            try:
                return train_test_split(
                    idx,
                    test_size=self.validation_fraction,
                    random_state=seed,
                    stratify=stratify,
                )
            except ValueError:
                pass
        return train_test_split(
            idx, test_size=self.validation_fraction, random_state=seed
        )

    def _param_groups(self, net, trainable_blocks):
        return layer_decay_groups(
            net.head.parameters(),
            trainable_blocks,
            self.unfrozen_learning_rate,
            self.layer_decay,
        )
