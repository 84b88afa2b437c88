"""FineTuneRegressor: a pretrained image model fine-tuned for continuous targets."""

from numbers import Real

import numpy as np
import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_consistent_length
from torch import nn

from ._docs import fill_doc
from ._fine_tune import BaseFineTune
from ._validation import check_bool, check_int, check_target_scale
from ._vision.family import IMAGES


class BaseFineTuneRegressor(RegressorMixin, BaseFineTune):
    """What every fine-tuning regressor of the package does, whatever its
    family: the targets, the loss, the score, predictions and export (the
    hooks of ``BaseFineTune``).  Not for direct use."""

    _fitted_checks = {
        "n_outputs_": check_int(1),
        "_y_1d": check_bool,
        "_target_scale": check_target_scale,
    }

    _score_name = "valid_r2"

    # ------------------------------------------------------------------- hooks
    def _encode_targets(self, y, n_samples, warm):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        y = check_array(
            y, ensure_2d=False, dtype=np.float64, input_name="y", ensure_min_samples=1
        )
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        check_consistent_length(np.empty(n_samples), y)
        targets = y.reshape(len(y), -1)
        if warm:
            if targets.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"warm_start=True needs {self.n_outputs_} target(s), as in the "
                    f"first fit; got {targets.shape[1]}."
                )
        else:  # standardised with the first fit's scale, kept by warm starts
            scale = targets.std(axis=0)
            self._set_fitted(
                _target_scale=(targets.mean(axis=0), np.where(scale > 0, scale, 1))
            )
        self._set_fitted(n_outputs_=targets.shape[1], _y_1d=y.ndim == 1)
        mean, scale = self._target_scale
        return ((targets - mean) / scale).astype(np.float32)

    def _n_outputs(self, targets):
        return targets.shape[1]

    def _criterion(self, targets, device):
        if self.loss == "huber":
            return nn.HuberLoss(delta=self.epsilon)
        return nn.MSELoss()

    def _score(self, outputs, targets):
        residual = ((targets - outputs) ** 2).sum(0)
        total = ((targets - targets.mean(0)) ** 2).sum(0)
        r2 = torch.where(total > 0, 1 - residual / total.clamp_min(1e-12), 0.0)
        return r2.mean().item()

    # ----------------------------------------------------------------- predict
    def predict(self, X):
        """Predicted targets of ``X``.

        Parameters
        ----------
        [[X]]

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions, in the units of ``y`` (1-D when ``y`` was 1-D).
        """
        outputs = self._forward(X).double().numpy()
        mean, scale = self._target_scale
        y = outputs * scale + mean
        return y[:, 0] if self._y_1d else y

    def _check_loaded_network(self, state, net):
        outputs = net.head[-1].out_features
        scale = state.get("_target_scale", ((), ()))[0]
        if state.get("n_outputs_") != outputs or len(scale) != outputs:
            raise ValueError(
                f"The file's fitted attributes 'n_outputs_' and '_target_scale' "
                f"must describe the head's {outputs} outputs."
            )

    def _export_outputs(self, outputs):
        mean, scale = (
            torch.as_tensor(v, dtype=torch.float32) for v in self._target_scale
        )
        return {"predictions": outputs * scale + mean}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


@fill_doc(
    stratified="",
    score='``"valid_r2"`` (R², on the validation part)',
    hidden_default="(1024,)",
    dropout_default="0.2",
    unfrozen_default="3",
    frozen_optimizer_default='"adam"',
    auto_rule=(
        "\n    The default stays 3: the rule has not been measured on regression"
        "\n    data."
    ),
    unfrozen_lr="1e-4",
    probe_score="R²",
)
class FineTuneRegressor(BaseFineTuneRegressor):
    """Fine-tune a pretrained image model as a scikit-learn regressor.

    Two phases, as in :class:`FineTuneClassifier`, for continuous targets (a
    count, an age, a score), with a schedule of its own: a new head (by default
    a ``(1024,)`` hidden layer, then one linear output per target) trained for 20
    epochs by Adam on the frozen backbone's features, then 3 epochs with the
    backbone unfrozen from block ``freeze_depth`` on at a lower learning rate —
    phase 2 always runs by default (no regression data has been measured for
    ``unfrozen_epochs="auto"``, which decides its length by a trial scored by
    R² on a held-out part).  Targets are standardised inside ``fit`` (and
    predictions scaled back), so the default learning rates suit targets of any
    scale.

    Parameters
    ----------
    [[backbone]]
    [[weights]]
    loss : {"squared_error", "huber"}, default="squared_error"
        The training loss, on the standardised targets.  ``"huber"`` is quadratic
        for errors up to ``epsilon`` standard deviations of the target and linear
        beyond, less swayed by outliers.
    epsilon : float, default=1.0
        Threshold of the Huber loss, in standard deviations of the target.
    [[training]]
    [[augmentation]]
    [[input]]
    [[early_stopping]]
    [[resources]]
    [[test_time_flip]]
    [[fitting]]

    Attributes
    ----------
    n_outputs_ : int
        Number of targets (1 for a 1-D ``y``).
    [[fitted]]
    [[history]]

    See Also
    --------
    FineTuneClassifier : Two phases for class labels (the probe, then phase 2
        where it gains).
    PretrainedFeatures : The pretrained backbone as a transformer (e.g. with
        ``Ridge`` for a linear probe).
    sklearn.neural_network.MLPRegressor : A neural network on tabular features.

    Examples
    --------
    >>> import numpy as np
    >>> from skfinetune import FineTuneRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, size=(40, 16, 16, 3), dtype=np.uint8)
    >>> y = X.mean(axis=(1, 2, 3))  # the brightness of each image
    >>> reg = FineTuneRegressor(
    ...     "squeezenet1_1", weights=None, image_size=32, frozen_epochs=2,
    ...     unfrozen_epochs=1, random_state=0,
    ... )
    >>> reg.fit(X, y).predict(X[:3]).shape
    (3,)
    """

    _family = IMAGES
    _parameter_constraints = {
        **BaseFineTune._parameter_constraints,
        **IMAGES.parameter_constraints,
        **IMAGES.training_constraints,
        "loss": [StrOptions({"squared_error", "huber"})],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        backbone="mobilenet_v2",
        *,
        weights="DEFAULT",
        head=None,
        loss="squared_error",
        epsilon=1.0,
        hidden_layer_sizes=(1024,),
        dropout=0.2,
        freeze_depth="auto",
        frozen_epochs=20,
        unfrozen_epochs=3,
        frozen_optimizer="adam",
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
        self.loss = loss
        self.epsilon = epsilon
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
        """Fine-tune the network on images ``X`` with targets ``y``.

        Parameters
        ----------
        [[X]]
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Continuous targets.

        Returns
        -------
        self : FineTuneRegressor
            The fitted estimator.
        """
        return self._fit(X, y)
