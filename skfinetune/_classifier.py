"""FineTuneClassifier: a pretrained torchvision CNN, fine-tuned in ``fit``."""

import copy
import os
import time
import warnings
from numbers import Integral, Real

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    check_memory,
    column_or_1d,
    validate_data,
)
from torch import nn

from ._backbones import (
    build_network,
    classification_model_names,
    preprocessing_for,
    resolve_weights,
)
from ._cache import FeatureCache, decode_through, image_keys
from ._data import (
    ArrayImages,
    PathImages,
    PILImages,
    RowImages,
    TensorImages,
    check_image_array,
    check_paths,
    kind_of,
    materialize,
    row_image_shape,
)
from ._runtime import autocast_dtype, resolve_device, retained_heap
from ._training import EarlyStopping, Trainer, make_optimizer, set_trainable
from ._transforms import BatchPreparer, augmentation_options


def _optimizer_constraint():
    return [StrOptions({"sgd", "adam", "adamw"}), callable]


class FineTuneClassifier(ClassifierMixin, BaseEstimator):
    """Fine-tune a pretrained torchvision CNN as a scikit-learn classifier.

    ``fit`` replaces the backbone's classification head with a new one and trains in
    two phases: (1) the backbone frozen, only the new head trains; (2) the backbone
    unfrozen from block ``freeze_depth`` on, trained with the head at a lower
    learning rate.  Images are decoded and resized once per ``fit``; without
    augmentation in phase 1 the frozen backbone runs once over the data.

    Parameters
    ----------
    backbone : str or torch.nn.Module, default="mobilenet_v2"
        A torchvision classification model name (``torchvision.models.list_models``)
        or a module whose head is ``fc``, ``classifier``, ``heads`` or ``head``.
    weights : str, torchvision WeightsEnum, path or None, default="DEFAULT"
        ``"DEFAULT"`` or a weights name such as ``"IMAGENET1K_V1"`` (loaded the
        torchvision way, from torch's hub cache when offline), a weights enum member,
        a path to a state-dict file of the same architecture, or ``None`` (random
        initialisation).  For a module backbone, ``"DEFAULT"`` keeps its weights.
        Input size and normalisation come from the weights' ``transforms()``.
    hidden_layer_sizes : tuple of int, default=(1024,)
        Widths of the new head's hidden dense layers (ReLU); ``()`` for a linear head.
    dropout : float, default=0.2
        Dropout after each hidden layer of the head.
    freeze_depth : int or "all", default=0
        Number of backbone blocks, counted from the input side, that stay frozen in
        phase 2.  ``0`` fine-tunes the whole backbone; ``n_backbone_blocks_`` or
        ``"all"`` keeps it frozen.  See the user guide for the blocks of each family.
    frozen_epochs : int, default=3
        Epochs of phase 1 (head only).  May be 0.
    unfrozen_epochs : int, default=3
        Epochs of phase 2.  May be 0.
    frozen_optimizer : {"sgd", "adam", "adamw"} or optimizer class, default="adam"
        Optimizer of phase 1; a class is called as ``cls(param_groups, lr=...)``.
    frozen_learning_rate : float, default=1e-3
        Learning rate of phase 1.
    unfrozen_optimizer : {"sgd", "adam", "adamw"} or optimizer class, default="sgd"
        Optimizer of phase 2.
    unfrozen_learning_rate : float, default=1e-4
        Learning rate of phase 2 (head and last unfrozen block).
    momentum : float, default=0.9
        Momentum of ``"sgd"``, in either phase.
    layer_decay : float, default=1.0
        Discriminative learning rates in phase 2: block ``i`` of the trainable blocks
        (counted back from the head) learns at ``unfrozen_learning_rate *
        layer_decay ** i``.  ``1.0`` gives every block the same rate.
    augment : "auto", bool or dict, default="auto"
        Random augmentation of training batches (never at predict time).  ``True``
        uses rotation 15 degrees, shift 0.1, zoom 0.1 and horizontal flips; a dict
        overrides any of ``"rotation"``, ``"shift"``, ``"zoom"``,
        ``"horizontal_flip"``; ``False`` switches it off.  ``"auto"`` is ``True``
        for images and ``False`` for 2-D rows (whose features need not be pixels
        that may rotate or flip).
    feature_cache : bool, default=True
        Train phase 1 on backbone features computed once from the un-augmented
        images.  ``False`` applies augmentation in phase 1 too, at the cost of a
        backbone forward pass per image and epoch.
    train_batchnorm : bool or "auto", default="auto"
        Whether BatchNorm layers of unfrozen blocks train in phase 2 (batch
        statistics, running statistics updated).  ``False`` keeps every BatchNorm
        layer in inference mode with its pretrained statistics while its scale and
        shift still learn (the Keras fine-tuning recipe: the head's inputs do not
        shift when phase 2 starts).  ``"auto"``: ``False`` with pretrained weights,
        ``True`` with ``weights=None``, whose statistics mean nothing yet.
        Frozen blocks always stay in inference mode.
    image_size : int or None, default=None
        Side of the square network input; ``None`` uses the weights' crop size
        (224 for most).  Images are resized in the weights' resize/crop ratio.
    image_shape : tuple of int or None, default=None
        For 2-D ``X`` only: the ``(height, width)`` or ``(height, width, channels)``
        of each row.  ``None``: a square grayscale image if the number of features is
        a perfect square, else a ``1 x n_features`` strip.
    batch_size : int, default=32
        Images per training and inference batch.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), stop a
        phase after ``n_iter_no_change`` epochs without a lower validation loss, and
        restore the weights of the best epoch at the end.
    validation_fraction : float, default=0.1
        Held-out fraction when ``early_stopping=True``.
    n_iter_no_change : int, default=3
        Patience of early stopping, in epochs.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn.
    cache_size : float, default=2048
        Memory budget (MiB) for the decoded images of one ``fit``; larger data are
        streamed from their source each epoch.  ``predict`` always streams.
    memory : str, joblib.Memory or None, default=None
        Caches decoded images and, per image, the pretrained backbone's features
        across fits (as ``Pipeline(memory=...)`` does): grid-search candidates and
        overlapping cross-validation folds share them, and a fit that needs no
        unfrozen phase skips decoding images whose features are cached.  While the
        backbone has not trained (``unfrozen_epochs=0`` or ``freeze_depth="all"``),
        ``predict`` uses the cache too.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        ``"auto"``: bfloat16 autocast on GPUs that support it, float32 on the CPU.
    retain_memory : bool, default=True
        While fitting and predicting on the CPU under glibc, keep freed memory in the
        process rather than returning it to the system after every step (a large
        speed-up; peak memory is unchanged, and it is returned after ``fit``).
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    warm_start : bool, default=False
        Continue from the fitted network on the next ``fit`` instead of starting
        again: weights, ``classes_`` and ``history_`` carry over, optimizers start
        afresh, and both phases run again for their configured epochs.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and augmentation; fixed, CPU runs
        repeat exactly.
    verbose : int, default=0
        ``1`` prints one line per epoch (phase, losses, accuracy, seconds, images/s).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, as given in ``y``.
    module_ : torch.nn.Module
        The fine-tuned network, with ``backbone`` and ``head`` sub-modules.
    n_backbone_blocks_ : int
        Number of blocks ``freeze_depth`` counts.
    history_ : list of dict
        One dict per epoch: ``"phase"``, ``"epoch"``, ``"train_loss"``,
        ``"seconds"``, ``"images_per_second"`` and, when validating,
        ``"valid_loss"`` and ``"valid_acc"``.
    image_size_ : int
        Side of the network input used.
    device_ : torch.device
        Device the network was trained on.
    interrupted_ : bool
        True if the last ``fit`` was stopped by ``KeyboardInterrupt``.
    n_features_in_ : int
        Number of features, when fitted on 2-D ``X``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features, when fitted on a DataFrame with string column names.

    See Also
    --------
    load_image_folder : Image paths and labels from a folder of class sub-folders.
    sklearn.neural_network.MLPClassifier : A neural network on tabular features.

    Notes
    -----
    ``X`` may be a sequence of image paths, a list of PIL images, an array of images
    ``(n, height, width)`` or ``(n, height, width, channels)`` (uint8 in 0-255 or
    float in [0, 1]), or 2-D rows of flattened images (see ``image_shape``).
    Images of any mode (palette, RGBA, CMYK, grayscale, 16-bit) become RGB.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skfinetune import FineTuneClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = FineTuneClassifier(
    ...     "mobilenet_v3_small", weights=None, image_shape=(8, 8), image_size=32,
    ...     frozen_epochs=1, unfrozen_epochs=1, random_state=0,
    ... )
    >>> clf.fit(X[:200], y[:200]).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "backbone": [str, nn.Module],
        "weights": "no_validation",  # checked by resolve_weights
        "hidden_layer_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "freeze_depth": [
            Interval(Integral, 0, None, closed="left"),
            StrOptions({"all"}),
        ],
        "frozen_epochs": [Interval(Integral, 0, None, closed="left")],
        "unfrozen_epochs": [Interval(Integral, 0, None, closed="left")],
        "frozen_optimizer": _optimizer_constraint(),
        "frozen_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "unfrozen_optimizer": _optimizer_constraint(),
        "unfrozen_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "layer_decay": [Interval(Real, 0, 1, closed="right")],
        "augment": ["boolean", StrOptions({"auto"}), dict],
        "feature_cache": ["boolean"],
        "train_batchnorm": ["boolean", StrOptions({"auto"})],
        "image_size": [Interval(Integral, 1, None, closed="left"), None],
        "image_shape": ["array-like", None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "cache_size": [Interval(Real, 0, None, closed="left")],
        "memory": [None, str, HasMethods(["cache"])],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "retain_memory": ["boolean"],
        "device": [str],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        backbone="mobilenet_v2",
        *,
        weights="DEFAULT",
        hidden_layer_sizes=(1024,),
        dropout=0.2,
        freeze_depth=0,
        frozen_epochs=3,
        unfrozen_epochs=3,
        frozen_optimizer="adam",
        frozen_learning_rate=1e-3,
        unfrozen_optimizer="sgd",
        unfrozen_learning_rate=1e-4,
        momentum=0.9,
        layer_decay=1.0,
        augment="auto",
        feature_cache=True,
        train_batchnorm="auto",
        image_size=None,
        image_shape=None,
        batch_size=32,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        class_weight=None,
        cache_size=2048,
        memory=None,
        precision="auto",
        retain_memory=True,
        device="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.freeze_depth = freeze_depth
        self.frozen_epochs = frozen_epochs
        self.unfrozen_epochs = unfrozen_epochs
        self.frozen_optimizer = frozen_optimizer
        self.frozen_learning_rate = frozen_learning_rate
        self.unfrozen_optimizer = unfrozen_optimizer
        self.unfrozen_learning_rate = unfrozen_learning_rate
        self.momentum = momentum
        self.layer_decay = layer_decay
        self.augment = augment
        self.feature_cache = feature_cache
        self.train_batchnorm = train_batchnorm
        self.image_size = image_size
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.cache_size = cache_size
        self.memory = memory
        self.precision = precision
        self.retain_memory = retain_memory
        self.device = device
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        """Checks the declarative constraints cannot express."""
        if isinstance(self.backbone, str):
            names = classification_model_names()
            if self.backbone not in names:
                raise ValueError(
                    f"Unknown backbone {self.backbone!r}: expected a torchvision "
                    "classification model name (torchvision.models.list_models()), "
                    f"such as 'mobilenet_v2', 'resnet50' or 'efficientnet_b0'."
                )
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (str, bytes)) or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive ints; got {sizes!r}."
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
        augmentation_options(self.augment)  # raises on bad options

    def _preprocessing(self):
        weights_enum, weights_path = resolve_weights(self.backbone, self.weights)
        pre = preprocessing_for(
            self.backbone if isinstance(self.backbone, str) else None, weights_enum
        )
        crop = self.image_size or pre.crop_size
        store = max(crop, int(round(crop * pre.resize_size / pre.crop_size)))
        return weights_enum, weights_path, pre, crop, store

    def _check_X(self, X, store_size, reset):
        """Validate ``X`` and wrap it as ImageData (not yet decoded)."""
        kind = kind_of(X)
        if reset:  # forget what the previous fit learnt about its kind of X
            for attr in (
                "n_features_in_",
                "feature_names_in_",
                "_row_shape",
                "_row_range",
                "_array_channels",
            ):
                if attr in self.__dict__:
                    delattr(self, attr)
        if isinstance(X, (list, tuple)) and len(X) == 0:
            raise ValueError("X is empty: found 0 samples, a minimum of 1 is required.")
        if kind == "paths":
            data = PathImages(check_paths(X), store_size)
        elif kind == "pil":
            data = PILImages(list(X), store_size)
        else:
            ndim = getattr(X, "ndim", None)
            if ndim is None:
                try:
                    ndim = np.asarray(X).ndim
                except (ValueError, TypeError):
                    if all(getattr(x, "ndim", 0) >= 2 for x in X):
                        raise ValueError(
                            "X is a list of image arrays of different shapes; pass "
                            "them as PIL images (PIL.Image.fromarray) or file paths, "
                            "or resize them to one shape."
                        ) from None
                    ndim = 2  # ragged rows: validate_data explains what is wrong
            if ndim <= 2:
                return self._check_rows(X, store_size, reset)
            if ndim > 4:
                raise ValueError(
                    f"X has {ndim} dimensions; expected 2 (rows of pixels), 3 (gray "
                    "images) or 4 (n, height, width, channels)."
                )
            array = check_image_array(np.asarray(X))
            if reset:
                self._array_channels = array.shape[-1]
            elif getattr(self, "_array_channels", array.shape[-1]) != array.shape[-1]:
                raise ValueError(
                    f"X has {array.shape[-1]} channel(s), but {type(self).__name__} "
                    f"was fitted on images with {self._array_channels} channel(s)."
                )
            data = ArrayImages(array, store_size)
        if not reset and hasattr(self, "_row_shape"):
            raise ValueError(
                f"{type(self).__name__} was fitted on 2-D rows of pixels; predict on "
                f"the same kind of X (got {kind})."
            )
        return data

    def _check_rows(self, X, store_size, reset):
        if not reset and not hasattr(self, "_row_shape"):
            raise ValueError(
                f"{type(self).__name__} was fitted on images; 2-D rows need it to be "
                "fitted on rows (with image_shape) too."
            )
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if reset:
            self._row_shape = row_image_shape(self.image_shape, X.shape[1])
            self._row_range = (float(X.min()), float(X.max()))
        return RowImages(X, self._row_shape, self._row_range, store_size)

    def _check_y(self, y, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is "
                "None."
            )
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n_samples), y)
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise ValueError("Input y contains NaN.")
        if y.dtype.kind == "O" and any(v is None or v != v for v in y):
            raise ValueError("Input y contains NaN or None.")
        check_classification_targets(y)
        return y

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune the network on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : sequence of paths, list of PIL images, or array-like
            Images; see the class documentation for the accepted kinds.
        y : array-like of shape (n_samples,)
            Class labels (any hashable type).

        Returns
        -------
        self : FineTuneClassifier
            The fitted estimator.
        """
        self._check_params()
        weights_enum, weights_path, pre, crop, store = self._preprocessing()
        warm = self.warm_start and hasattr(self, "module_")
        data = self._check_X(X, store, reset=not warm)
        y = self._check_y(y, len(data))
        classes, y_encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {classes.tolist()[0]!r}."
            )
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(
                "warm_start=True needs the classes of the first fit "
                f"{list(self.classes_)}; got {list(classes)}."
            )
        device = resolve_device(self.device)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        class_weights = self._class_weights(classes, y)
        augmentation = augmentation_options(
            self.augment, rows=isinstance(data, RowImages)
        )

        cuda = [device.index or 0] if device.type == "cuda" else []
        with (
            retained_heap(self.retain_memory and device.type == "cpu"),
            torch.random.fork_rng(devices=cuda),
        ):
            torch.manual_seed(seed)
            if warm:
                net, blocks = self.module_, self._blocks
            else:
                net, blocks, _ = build_network(
                    self.backbone,
                    weights_enum,
                    weights_path,
                    len(classes),
                    tuple(self.hidden_layer_sizes),
                    self.dropout,
                )
            n_frozen = self._n_frozen(len(blocks))
            if not warm:
                self._check_input_size(net, crop)
            net.to(device, memory_format=torch.channels_last)  # faster convolutions

            # fitted state exists before training, so an interrupt leaves a model
            self.classes_ = classes
            self.module_ = net
            self._blocks = blocks
            self.n_backbone_blocks_ = len(blocks)
            self.image_size_ = crop
            self.device_ = device
            self._store_size = store
            self._mean, self._std = pre.mean, pre.std
            if not warm:
                self.history_ = []
            self.interrupted_ = False
            memory = self._memory()
            if not warm:  # key of the pristine backbone's features, for predict
                self._features_key = None if memory is None else self._model_key(seed)

            paths = data.paths if isinstance(data, PathImages) else None
            cache = None
            if memory is not None and not warm and self._features_key is not None:
                cache = FeatureCache(memory, self._features_key)
            needs_images = self.unfrozen_epochs > 0 or not self.feature_cache
            if needs_images or cache is None or paths is None:
                data = self._materialize(data, paths, memory)
            keys = None
            if cache is not None and self.feature_cache and self.frozen_epochs > 0:
                keys = image_keys(data, paths)
            data = _on_gpu(data, device)
            targets = torch.as_tensor(y_encoded, dtype=torch.long, device=device)
            train_idx, valid_idx = self._split(y_encoded, seed)
            prepare = BatchPreparer(
                crop, pre.mean, pre.std, device, augmentation, channels_last=True
            )
            criterion = nn.CrossEntropyLoss(
                weight=None
                if class_weights is None
                else torch.as_tensor(class_weights, dtype=torch.float32, device=device)
            )
            stopper = (
                EarlyStopping(self.n_iter_no_change) if self.early_stopping else None
            )
            generator = torch.Generator().manual_seed(seed)
            trainer = Trainer(
                net=net,
                blocks=blocks,
                prepare=prepare,
                device=device,
                amp_dtype=autocast_dtype(self.precision, device),
                generator=generator,
                criterion=criterion,
                batch_size=self.batch_size,
                verbose=self.verbose,
                history=self.history_,
                stopper=stopper,
                train_batchnorm=self._train_batchnorm(),
            )
            try:
                self._run_phases(
                    trainer, data, targets, train_idx, valid_idx, n_frozen, cache, keys
                )
            except KeyboardInterrupt:
                self.interrupted_ = True
                warnings.warn(
                    "Training was interrupted (KeyboardInterrupt); the estimator keeps"
                    f" the weights reached after {len(self.history_)} epoch(s) and "
                    "can predict.",
                    UserWarning,
                    stacklevel=2,
                )
            finally:
                set_trainable(blocks, 0)
                if stopper is not None:
                    stopper.restore(net)
                net.eval()
        return self

    def _run_phases(
        self, trainer, data, targets, train_idx, valid_idx, n_frozen, cache, keys
    ):
        net, blocks = trainer.net, trainer.blocks
        if self.frozen_epochs > 0:
            set_trainable(blocks, len(blocks))
            optimizer = make_optimizer(
                self.frozen_optimizer,
                net.head.parameters(),
                self.frozen_learning_rate,
                self.momentum,
            )
            if self.feature_cache:
                start = time.perf_counter()
                idx = np.arange(len(data))
                if keys is None:
                    feats = trainer.features(data, idx)
                else:
                    feats = torch.from_numpy(
                        cache.features(
                            keys, lambda i: trainer.features(data, i).cpu().numpy()
                        )
                    ).to(trainer.device)
                trainer.frozen_phase_on_features(
                    feats,
                    targets,
                    train_idx,
                    valid_idx,
                    self.frozen_epochs,
                    optimizer,
                    feature_seconds=time.perf_counter() - start,
                )
            else:
                trainer.image_phase(
                    "frozen",
                    data,
                    targets,
                    train_idx,
                    valid_idx,
                    self.frozen_epochs,
                    optimizer,
                    len(blocks),
                )
        if self.unfrozen_epochs > 0:
            trainable = set_trainable(blocks, n_frozen)
            optimizer = make_optimizer(
                self.unfrozen_optimizer,
                self._param_groups(net, trainable),
                self.unfrozen_learning_rate,
                self.momentum,
            )
            if trainable:
                self._features_key = None  # the backbone changes from here on
            trainer.image_phase(
                "unfrozen",
                data,
                targets,
                train_idx,
                valid_idx,
                self.unfrozen_epochs,
                optimizer,
                n_frozen,
            )

    # ----------------------------------------------------------------- helpers
    def _train_batchnorm(self):
        if self.train_batchnorm == "auto":
            return self.weights is None
        return self.train_batchnorm

    def _n_frozen(self, n_blocks):
        if self.freeze_depth == "all":
            return n_blocks
        if self.freeze_depth > n_blocks:
            raise ValueError(
                f"freeze_depth={self.freeze_depth} is out of range: backbone "
                f"{self._backbone_name()} has {n_blocks} blocks (use 0..{n_blocks} "
                "or 'all')."
            )
        return self.freeze_depth

    def _backbone_name(self):
        if isinstance(self.backbone, str):
            return repr(self.backbone)
        return type(self.backbone).__name__

    def _check_input_size(self, net, crop):
        net.eval()
        try:
            with torch.inference_mode():
                out = net.backbone(torch.zeros(1, 3, crop, crop))
        except Exception as exc:  # torch raises RuntimeError, AssertionError, ...
            raise ValueError(
                f"image_size={crop} does not suit backbone {self._backbone_name()}: "
                f"{str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
            ) from None
        if out.ndim != 2:
            raise ValueError(
                f"Backbone {self._backbone_name()} outputs shape {tuple(out.shape)} "
                "after its head is removed; expected (batch, features)."
            )

    def _class_weights(self, classes, y):
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(classes.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight has labels {sorted(map(str, unknown))} that are not"
                    " in y."
                )
        return compute_class_weight(self.class_weight, classes=classes, y=y)

    def _split(self, y_encoded, seed):
        idx = np.arange(len(y_encoded))
        if not self.early_stopping:
            return idx, idx[:0]
        stratify = y_encoded if np.bincount(y_encoded).min() >= 2 else None
        try:
            return train_test_split(
                idx,
                test_size=self.validation_fraction,
                random_state=seed,
                stratify=stratify,
            )
        except ValueError:
            return train_test_split(
                idx, test_size=self.validation_fraction, random_state=seed
            )

    def _param_groups(self, net, trainable_blocks):
        lr = self.unfrozen_learning_rate
        groups = [{"params": list(net.head.parameters()), "lr": lr}]
        for depth, block in enumerate(reversed(trainable_blocks)):
            groups.append(
                {"params": list(block.params), "lr": lr * self.layer_decay**depth}
            )
        return groups

    def _memory(self):
        return None if self.memory is None else check_memory(self.memory)

    def _materialize(self, data, paths, memory):
        """Decode once into memory within ``cache_size`` (through ``memory``)."""
        budget = self.cache_size * 2**20
        if memory is not None and paths is not None and data.nbytes() <= budget:
            return decode_through(
                memory, paths, data, lambda: materialize(data, budget).tensor
            )
        return materialize(data, budget, self.batch_size)

    def _model_key(self, seed):
        """What the pretrained backbone's features depend on (``memory`` key)."""
        if isinstance(self.backbone, nn.Module):
            backbone = joblib.hash(self.backbone)
        else:
            backbone = self.backbone
        weights = self.weights
        if weights is not None and not isinstance(weights, str):
            weights = str(weights)
        if isinstance(weights, str) and os.path.isfile(weights):
            weights = (weights, os.path.getmtime(weights))
        return (
            "skfinetune-features-v1",
            backbone,
            weights,
            seed if weights is None else None,
            self.image_size_,
            self._store_size,
            self.precision,
            self.device_.type,
        )

    # ----------------------------------------------------------------- predict
    def _runtime_device(self):
        device = self.device_
        if device.type == "cuda" and not torch.cuda.is_available():
            device = torch.device("cpu")
        return device

    def predict_proba(self, X):
        """Class probabilities of ``X``, batch by batch.

        Parameters
        ----------
        X : sequence of paths, list of PIL images, or array-like
            Images of the kind the estimator was fitted on (any size).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        data = self._check_X(X, self._store_size, reset=False)
        paths = data.paths if isinstance(data, PathImages) else None
        budget = self.cache_size * 2**20
        device = self._runtime_device()
        net = self.module_
        if next(net.parameters()).device != device:
            net.to(device)
        prepare = BatchPreparer(
            self.image_size_,
            self._mean,
            self._std,
            device,
            augmentation=None,
            channels_last=True,
        )
        trainer = Trainer(
            net=net,
            blocks=self._blocks,
            prepare=prepare,
            device=device,
            amp_dtype=autocast_dtype(self.precision, device),
            batch_size=self.batch_size,
        )
        idx = np.arange(len(data))
        with retained_heap(self.retain_memory and device.type == "cpu"):
            memory = self._memory()
            keys = None
            if memory is not None and getattr(self, "_features_key", None) is not None:
                # the backbone is still the pretrained one: its features are cached
                if paths is None:
                    data = materialize(data, budget, self.batch_size)
                keys = image_keys(data, paths)
            if keys is not None:
                cache = FeatureCache(memory, self._features_key)
                feats = cache.features(
                    keys, lambda i: trainer.features(data, i).cpu().numpy()
                )
                net.head.eval()
                with torch.inference_mode():
                    logits = net.head(torch.from_numpy(feats).to(device))
            else:
                if paths is None and device.type == "cuda":
                    # images already in memory: onto the GPU once, within budget
                    data = _on_gpu(materialize(data, budget, self.batch_size), device)
                logits = trainer.predict_logits(data, idx)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    def predict(self, X):
        """Predicted class labels of ``X``.

        Parameters
        ----------
        X : sequence of paths, list of PIL images, or array-like
            Images of the kind the estimator was fitted on (any size).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # ------------------------------------------------------------ persistence
    def __getstate__(self):
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and next(module.parameters()).device.type != "cpu":
            cpu = copy.deepcopy(module).to("cpu")
            state["module_"] = cpu
            # blocks point into the module: rebuild them on the copy
            mapping = dict(zip(module.parameters(), cpu.parameters(), strict=True))
            state["_blocks"] = _remap_blocks(self._blocks, module, cpu, mapping)
        return state

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


def _on_gpu(data, device):
    """Decoded images onto a GPU ``device``, if they fit a quarter of its free
    memory; anything else as it is."""
    if device.type != "cuda" or not isinstance(data, TensorImages):
        return data
    free, _ = torch.cuda.mem_get_info(device)
    return data.to_device(device, budget_bytes=free // 4)


def _remap_blocks(blocks, old, new, mapping):
    modules = dict(zip(old.modules(), new.modules(), strict=True))
    out = []
    for b in blocks:
        clone = copy.copy(b)
        clone.modules = [modules[m] for m in b.modules]
        clone.params = [mapping[p] for p in b.params]
        out.append(clone)
    return out
