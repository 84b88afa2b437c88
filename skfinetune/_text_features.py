"""PretrainedTextFeatures: a pretrained text encoder as a transformer."""

from sklearn.utils._param_validation import StrOptions

from ._base import BaseBackbone
from ._docs import TEXT_FIELDS, fill_doc
from ._features import BaseFeatures
from ._text.family import TEXTS
from ._text_classifier import DEFAULT_ENCODER


@fill_doc(fields=TEXT_FIELDS)
class PretrainedTextFeatures(BaseFeatures):
    """The pooled embeddings of a pretrained text encoder, for any model.

    ``fit`` loads the encoder and its tokenizer (nothing is trained);
    ``transform`` turns texts into one pooled embedding each:
    ``make_pipeline(PretrainedTextFeatures(), LogisticRegression())`` is a
    *linear probe* on sentence embeddings, a drop-in for ``TfidfVectorizer`` in
    a ``Pipeline``.  It reads texts as :class:`FineTuneTextClassifier` does,
    with the same tokenizer, devices and ``memory`` cache: embeddings cached by
    a fine-tuning estimator's phase 1 are found here, and the other way round.
    Embeddings are not normalised (sentence-transformers' ``encode`` normalises
    some models' output to unit length; scale them yourself where you need it).

    Parameters
    ----------
    [[text_backbone]]
    [[resources]]
    random_state : int, RandomState instance or None, default=None
        Seeds the random initialisation of ``weights=None``.

    Attributes
    ----------
    n_features_out_ : int
        Width of the embeddings (the encoder's hidden size).
    [[fitted]]

    See Also
    --------
    FineTuneTextClassifier : Fine-tune the encoder for class labels.
    PretrainedFeatures : The same for images.
    sklearn.feature_extraction.text.TfidfVectorizer : Sparse word features.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfinetune import PretrainedTextFeatures
    >>> probe = make_pipeline(PretrainedTextFeatures(), LogisticRegression())
    >>> probe.fit(["card lost", "refund please"], ["card", "refund"])  # doctest: +SKIP
    """

    _family = TEXTS
    _parameter_constraints = {
        **BaseBackbone._parameter_constraints,
        **TEXTS.parameter_constraints,
        "weights": [StrOptions({"DEFAULT"}), None],
    }

    def __init__(
        self,
        backbone=DEFAULT_ENCODER,
        *,
        weights="DEFAULT",
        tokenizer=None,
        pooling="auto",
        max_length=None,
        batch_size=32,
        cache_size=2048,
        memory=None,
        precision="auto",
        retain_memory=True,
        device="auto",
        random_state=None,
    ):
        self.backbone = backbone
        self.weights = weights
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.memory = memory
        self.precision = precision
        self.retain_memory = retain_memory
        self.device = device
        self.random_state = random_state
