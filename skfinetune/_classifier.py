"""FineTuneClassifier: a pretrained image model fine-tuned as a classifier."""

from numbers import Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)
from torch import nn

from ._docs import fill_doc
from ._fine_tune import BaseFineTune
from ._validation import check_array, check_bool
from ._vision.family import IMAGES


def _check_y_present(estimator, y):
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y "
            "is None."
        )


def _check_no_missing(y):
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("Input y contains NaN.")
    if y.dtype.kind == "O" and any(v is None or v != v for v in np.ravel(y)):
        raise ValueError("Input y contains NaN or None.")


class BaseFineTuneClassifier(ClassifierMixin, BaseFineTune):
    """What every fine-tuning classifier of the package does, whatever its
    family: the targets, the loss, the score, predictions and export (the
    hooks of ``BaseFineTune``).  Not for direct use."""

    _fitted_checks = {
        "classes_": check_array(min_len=2),
        "_multilabel": check_bool,
    }

    _score_name = "valid_acc"

    # ------------------------------------------------------------------- hooks
    def _encode_targets(self, y, n_samples, warm):
        _check_y_present(self, y)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            return self._encode_indicator(y, n_samples, warm)
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n_samples), y)
        _check_no_missing(y)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {classes.tolist()[0]!r}."
            )
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(classes.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight has labels {sorted(map(str, unknown))} that are not"
                    " in y."
                )
        self._check_warm_classes(warm, classes, multilabel=False)
        self._set_fitted(classes_=classes, _multilabel=False)
        return codes.astype(np.int64)

    def _encode_indicator(self, y, n_samples, warm):
        _check_no_missing(y)
        check_consistent_length(np.empty(n_samples), y)
        if type_of_target(y) != "multilabel-indicator":
            raise ValueError(
                f"A 2-D y must be a 0/1 indicator matrix (multi-label); got "
                f"{type_of_target(y)!r} targets. Pass a 1-D y of class labels for "
                "single-label classification."
            )
        if self.class_weight is not None:
            raise ValueError(
                "class_weight is not supported for multi-label y; leave it None."
            )
        classes = np.arange(y.shape[1])
        self._check_warm_classes(warm, classes, multilabel=True)
        self._set_fitted(classes_=classes, _multilabel=True)
        return y.astype(np.float32)

    def _check_warm_classes(self, warm, classes, multilabel):
        if warm and (
            multilabel != self._multilabel or not np.array_equal(classes, self.classes_)
        ):
            raise ValueError(
                "warm_start=True needs the classes of the first fit "
                f"{list(self.classes_)}; got {list(classes)}."
            )

    def _n_outputs(self, targets):
        return len(self.classes_)

    def _criterion(self, targets, device, label_smoothing=None):
        if label_smoothing is None:
            label_smoothing = self.label_smoothing
        if self._multilabel:
            return nn.BCEWithLogitsLoss()
        if self.class_weight is None:
            return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        class_weight = self.class_weight
        if isinstance(class_weight, dict):  # labels -> their codes in targets
            class_weight = {
                code: class_weight[label]
                for code, label in enumerate(self.classes_.tolist())
                if label in class_weight
            }
        codes = np.arange(len(self.classes_))
        weights = compute_class_weight(class_weight, classes=codes, y=targets)
        return nn.CrossEntropyLoss(
            weight=torch.as_tensor(weights, dtype=torch.float32, device=device),
            label_smoothing=label_smoothing,
        )

    def _probe_criterion(self, targets, device):
        # the probe is a plain (multinomial) logistic regression: its penalty,
        # chosen on the held-out part, is the only regularisation
        return self._criterion(targets, device, label_smoothing=0.0)

    def _correct(self, outputs, targets):
        if self._multilabel:
            return ((outputs > 0) == (targets > 0.5)).all(1)
        return outputs.argmax(1) == targets

    def _score(self, outputs, targets):
        return self._correct(outputs, targets).float().mean().item()

    def _errors(self, outputs, targets):
        return int((~self._correct(outputs, targets)).sum().item())

    def _stratify(self, targets):
        if self._multilabel or np.bincount(targets).min() < 2:
            return None
        return targets

    # ----------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Class probabilities of ``X``, batch by batch.

        Parameters
        ----------
        [[X]]

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``; for multi-label
            ``y``, the probability of each label (rows need not sum to 1).
        """
        outputs = self._forward(X)
        if self._multilabel:
            return torch.sigmoid(outputs).numpy()
        return torch.softmax(outputs, dim=1).numpy()

    def predict(self, X):
        """Predicted class labels of ``X``.

        Parameters
        ----------
        [[X]]

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``; for multi-label ``y``, the 0/1 indicator
            matrix.
        """
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba > 0.5).astype(int)
        return self.classes_[np.argmax(proba, axis=1)]

    def _check_loaded_network(self, state, net):
        outputs = net.head[-1].out_features
        if len(state.get("classes_", ())) != outputs:
            raise ValueError(
                f"The file's fitted attribute 'classes_' has "
                f"{len(state.get('classes_', ()))} classes but its head {outputs} "
                "outputs."
            )

    @property
    def out_activation_(self):
        """``"logistic"`` for multi-label ``y``, else ``"softmax"`` (derived from the
        fitted targets, as ``MLPClassifier`` names its output function)."""
        check_is_fitted(self)
        return "logistic" if self._multilabel else "softmax"

    def _export_outputs(self, outputs):
        if self._multilabel:
            proba = torch.sigmoid(outputs)
            return {"probabilities": proba, "labels": (proba > 0.5).to(torch.int64)}
        proba = torch.softmax(outputs, dim=1)
        return {"probabilities": proba, "label_index": proba.argmax(dim=1)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@fill_doc(
    stratified=" (stratified by class)",
    score='``"valid_acc"``',
    hidden_default="()",
    dropout_default="0.0",
    unfrozen_default='"auto"',
    frozen_optimizer_default='"lbfgs"',
    auto_rule="",
    unfrozen_lr="1e-4",
    probe_score="accuracy",
)
class FineTuneClassifier(BaseFineTuneClassifier):
    """Fine-tune a pretrained image model as a scikit-learn classifier.

    ``fit`` replaces the backbone's classification head with a new one and trains in
    two phases.  (1) The linear probe: the frozen backbone runs once over the
    images and the new linear head is fitted at once on its features (a
    multinomial logistic regression, its penalty chosen on a held-out part of
    the training data).  (2) The backbone's last blocks (from ``freeze_depth``
    on) fine-tuned with the head at a lower, layer-decayed rate on augmented
    images, for as many epochs as pay on the held-out part: with
    ``unfrozen_epochs="auto"`` a trial decides, the probe being epoch 0, and
    the model is fitted again on all the data for the length found (none: the
    probe is the model).  ``unfrozen_epochs_`` says what ``fit`` chose.
    Images are decoded and resized once per ``fit``.

    With a 2-D indicator ``y`` of shape ``(n_samples, n_labels)`` the classifier is
    multi-label, as ``MLPClassifier``: one sigmoid output per label, binary
    cross-entropy, and ``predict`` returns the indicator matrix.

    Parameters
    ----------
    [[backbone]]
    [[weights]]
    [[training]]
    [[augmentation]]
    [[input]]
    [[early_stopping]]
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn (single-label
        ``y`` only).
    label_smoothing : float, default=0.0
        Share of each target's probability spread over the other classes in the
        cross-entropy (single-label ``y``; ``torch.nn.CrossEntropyLoss``).
    [[resources]]
    [[test_time_flip]]
    [[fitting]]

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, as given in ``y``; for multi-label ``y``, the label
        indices ``0 .. n_labels - 1``.
    out_activation_ : {"softmax", "logistic"}
        The output function: ``"logistic"`` for multi-label ``y`` (one sigmoid
        per label), ``"softmax"`` otherwise, as in ``MLPClassifier``.
    [[fitted]]
    [[history]]

    See Also
    --------
    FineTuneRegressor : Two phases for continuous targets, with a schedule of
        its own.
    PretrainedFeatures : The pretrained backbone as a transformer (a linear probe
        with ``LogisticRegression``).
    load_image_folder : Image paths and labels from a folder of class sub-folders.
    sklearn.neural_network.MLPClassifier : A neural network on tabular features.

    Notes
    -----
    ``X`` may be a sequence of image paths (also a pandas Series, Index or
    one-column DataFrame), a list of PIL images, an array of images
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

    _family = IMAGES
    _parameter_constraints = {
        **BaseFineTune._parameter_constraints,
        **IMAGES.parameter_constraints,
        **IMAGES.training_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        backbone="mobilenet_v2",
        *,
        weights="DEFAULT",
        head=None,
        hidden_layer_sizes=(),
        dropout=0.0,
        freeze_depth="auto",
        frozen_epochs=20,
        unfrozen_epochs="auto",
        frozen_optimizer="lbfgs",
        frozen_learning_rate=1e-3,
        alpha="auto",
        unfrozen_optimizer="adamw",
        unfrozen_learning_rate=1e-4,
        momentum=0.9,
        layer_decay=0.8,
        frozen_schedule="constant",
        unfrozen_schedule="cosine",
        weight_decay=0.0,
        augment="auto",
        feature_cache=True,
        train_batchnorm="auto",
        image_size=None,
        image_shape=None,
        mean=None,
        std=None,
        batch_size=32,
        early_stopping=False,
        validation_fraction=0.2,
        n_iter_no_change=5,
        class_weight=None,
        label_smoothing=0.0,
        cache_size=2048,
        memory=None,
        precision="auto",
        retain_memory=True,
        device="auto",
        test_time_flip=False,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.head = head
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.freeze_depth = freeze_depth
        self.frozen_epochs = frozen_epochs
        self.unfrozen_epochs = unfrozen_epochs
        self.frozen_optimizer = frozen_optimizer
        self.frozen_learning_rate = frozen_learning_rate
        self.alpha = alpha
        self.unfrozen_optimizer = unfrozen_optimizer
        self.unfrozen_learning_rate = unfrozen_learning_rate
        self.momentum = momentum
        self.layer_decay = layer_decay
        self.frozen_schedule = frozen_schedule
        self.unfrozen_schedule = unfrozen_schedule
        self.weight_decay = weight_decay
        self.augment = augment
        self.feature_cache = feature_cache
        self.train_batchnorm = train_batchnorm
        self.image_size = image_size
        self.image_shape = image_shape
        self.mean = mean
        self.std = std
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.cache_size = cache_size
        self.memory = memory
        self.precision = precision
        self.retain_memory = retain_memory
        self.device = device
        self.test_time_flip = test_time_flip
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune the network on images ``X`` with labels ``y``.

        Parameters
        ----------
        [[X]]
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (any hashable type), or a 0/1 indicator matrix for
            multi-label classification.

        Returns
        -------
        self : FineTuneClassifier
            The fitted estimator.
        """
        return self._fit(X, y)
