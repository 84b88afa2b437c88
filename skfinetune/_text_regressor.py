"""FineTuneTextRegressor: a pretrained text encoder fine-tuned for continuous
targets."""

from numbers import Real

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._docs import TEXT_FIELDS, fill_doc
from ._fine_tune import BaseFineTune
from ._regressor import BaseFineTuneRegressor
from ._text.family import TEXTS
from ._text_classifier import DEFAULT_ENCODER


@fill_doc(
    fields=TEXT_FIELDS,
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
    unfrozen_lr="5e-5",
    probe_score="R²",
)
class FineTuneTextRegressor(BaseFineTuneRegressor):
    """Fine-tune a pretrained text encoder as a scikit-learn regressor.

    The recipe of :class:`FineTuneRegressor`, for texts (a rating, a price, a
    score from a review): a new head (by default a ``(1024,)`` hidden layer,
    then one linear output per target) trained for 20 epochs by Adam on the
    frozen encoder's pooled embeddings, then 3 epochs with the encoder
    unfrozen from block ``freeze_depth`` on at a lower learning rate.  Targets
    are standardised inside ``fit`` (and predictions scaled back).  Texts are
    tokenised once per ``fit``; batches are padded to their own longest text.

    Parameters
    ----------
    [[text_backbone]]
    loss : {"squared_error", "huber"}, default="squared_error"
        The training loss, on the standardised targets.  ``"huber"`` is quadratic
        for errors up to ``epsilon`` standard deviations of the target and linear
        beyond, less swayed by outliers.
    epsilon : float, default=1.0
        Threshold of the Huber loss, in standard deviations of the target.
    [[training]]
    [[early_stopping]]
    [[resources]]
    [[fitting]]

    Attributes
    ----------
    n_outputs_ : int
        Number of targets (1 for a 1-D ``y``).
    [[fitted]]
    [[history]]

    See Also
    --------
    FineTuneTextClassifier : The same encoders for class labels.
    PretrainedTextFeatures : The pretrained encoder as a transformer (e.g. with
        ``Ridge``).
    FineTuneRegressor : The same recipe for images.

    Examples
    --------
    >>> from skfinetune import FineTuneTextRegressor
    >>> reg = FineTuneTextRegressor(random_state=0)  # doctest: +SKIP
    >>> reg.fit(["awful", "bad", "fine", "great"], [1, 2, 3, 4])  # doctest: +SKIP
    >>> reg.predict(["good"]).shape  # doctest: +SKIP
    (1,)
    """

    _family = TEXTS
    _parameter_constraints = {
        **BaseFineTune._parameter_constraints,
        **TEXTS.parameter_constraints,
        "weights": [StrOptions({"DEFAULT"}), None],
        "loss": [StrOptions({"squared_error", "huber"})],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        backbone=DEFAULT_ENCODER,
        *,
        weights="DEFAULT",
        tokenizer=None,
        pooling="auto",
        max_length=None,
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
        unfrozen_learning_rate=5e-5,
        momentum=0.9,
        layer_decay=0.8,
        frozen_schedule="constant",
        unfrozen_schedule="cosine",
        weight_decay=0.0,
        feature_cache=True,
        batch_size=32,
        early_stopping=False,
        validation_fraction=0.2,
        n_iter_no_change=5,
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
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
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
        self.feature_cache = feature_cache
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.cache_size = cache_size
        self.memory = memory
        self.precision = precision
        self.retain_memory = retain_memory
        self.device = device
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune the encoder on texts ``X`` with targets ``y``.

        Parameters
        ----------
        [[X]]
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Continuous targets.

        Returns
        -------
        self : FineTuneTextRegressor
            The fitted estimator.
        """
        return self._fit(X, y)
