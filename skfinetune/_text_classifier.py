"""FineTuneTextClassifier: a pretrained text encoder fine-tuned as a classifier."""

from numbers import Real

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._classifier import BaseFineTuneClassifier
from ._docs import TEXT_FIELDS, fill_doc
from ._fine_tune import BaseFineTune
from ._text.family import TEXTS

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


@fill_doc(
    fields=TEXT_FIELDS,
    stratified=" (stratified by class)",
    score='``"valid_acc"``',
    hidden_default="()",
    dropout_default="0.0",
    unfrozen_default='"auto"',
    frozen_optimizer_default='"lbfgs"',
    auto_rule="",
    unfrozen_lr="5e-5",
    probe_score="accuracy",
)
class FineTuneTextClassifier(BaseFineTuneClassifier):
    """Fine-tune a pretrained text encoder (BERT, MiniLM) as a scikit-learn
    classifier.

    The recipe of :class:`FineTuneClassifier`, for texts.  ``fit`` tokenises
    the texts once and trains a new head in two phases.  (1) The linear probe:
    the frozen encoder runs once over the texts and the new linear head is
    fitted at once on their pooled embeddings (a multinomial logistic
    regression, its penalty chosen on a held-out part of the training data).
    (2) The encoder's last layers (from ``freeze_depth`` on) fine-tuned with
    the head at a lower, layer-decayed rate, for as many epochs as pay on the
    held-out part: with ``unfrozen_epochs="auto"`` a trial decides, the probe
    being epoch 0, and the model is fitted again on all the data for the length
    found (none: the probe is the model).  ``unfrozen_epochs_`` says what
    ``fit`` chose.  Batches are padded to their own longest text and grouped by
    length.

    With a 2-D indicator ``y`` of shape ``(n_samples, n_labels)`` the classifier
    is multi-label: one sigmoid output per label, binary cross-entropy, and
    ``predict`` returns the indicator matrix.

    Parameters
    ----------
    [[text_backbone]]
    [[training]]
    [[early_stopping]]
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn (single-label
        ``y`` only).
    label_smoothing : float, default=0.0
        Share of each target's probability spread over the other classes in the
        cross-entropy (single-label ``y``; ``torch.nn.CrossEntropyLoss``).
    [[resources]]
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
    FineTuneTextRegressor : The same recipe for continuous targets.
    PretrainedTextFeatures : The pretrained encoder as a transformer (a linear
        probe with ``LogisticRegression``).
    FineTuneClassifier : The same recipe for images.

    Examples
    --------
    >>> from skfinetune import FineTuneTextClassifier
    >>> clf = FineTuneTextClassifier(random_state=0)  # doctest: +SKIP
    >>> clf.fit(["card lost", "where is my card", "refund please", "money back"],
    ...         ["card", "card", "refund", "refund"])  # doctest: +SKIP
    >>> clf.predict(["I lost my card"])  # doctest: +SKIP
    array(['card'], dtype='<U6')
    """

    _family = TEXTS
    _parameter_constraints = {
        **BaseFineTune._parameter_constraints,
        **TEXTS.parameter_constraints,
        "weights": [StrOptions({"DEFAULT"}), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        backbone=DEFAULT_ENCODER,
        *,
        weights="DEFAULT",
        tokenizer=None,
        pooling="auto",
        max_length=None,
        hidden_layer_sizes=(),
        dropout=0.0,
        freeze_depth="auto",
        frozen_epochs=20,
        unfrozen_epochs="auto",
        frozen_optimizer="lbfgs",
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
        class_weight=None,
        label_smoothing=0.0,
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
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
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
        """Fine-tune the encoder on texts ``X`` with labels ``y``.

        Parameters
        ----------
        [[X]]
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (any hashable type), or a 0/1 indicator matrix for
            multi-label classification.

        Returns
        -------
        self : FineTuneTextClassifier
            The fitted estimator.
        """
        return self._fit(X, y)
