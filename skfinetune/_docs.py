"""Parameter descriptions shared by the estimators' docstrings.

Each estimator documents every parameter (numpydoc); the ones they share are written
once here and put into their docstrings by :func:`fill_doc`, as ``[[name]]`` fields.
"""

import inspect
import textwrap
import types

_SHARED = {
    "backbone": """\
backbone : str or torch.nn.Module, default="mobilenet_v2"
    A torchvision classification model name (``torchvision.models.list_models``),
    a timm model name prefixed with ``"timm/"`` (``"timm/convnext_atto"``,
    ``"timm/efficientnet_b0.ra_in1k"``; needs ``pip install timm``),
    or an ``nn.Module`` with its weights (see ``head``).  The user guide's
    "Choosing a backbone" says how each is cut, counted in blocks and
    preprocessed.""",
    "weights": """\
weights : str, torchvision WeightsEnum, path or None, default="DEFAULT"
    ``"DEFAULT"``: the source's pretrained weights — torchvision's newest for a
    torchvision name (or a name such as ``"IMAGENET1K_V1"``, or an enum member;
    from torch's hub cache when offline), timm's checkpoint for a timm name (from
    the Hugging Face cache when offline), the module's own for a module.  ``None``:
    random initialisation (a module keeps its weights).  A path: a state-dict or
    safetensors file of the same architecture.  Input size, normalisation and
    resampling come from the weights (``transforms()`` or timm's
    ``pretrained_cfg``).
head : str or None, default=None
    For an ``nn.Module`` backbone: the dotted path of its classification head
    (``"_fc"``, ``"classifier.1"``), whose last ``nn.Linear`` is replaced.
    ``None``: the first of ``fc``, ``classifier``, ``heads``, ``head`` it has,
    else its last ``nn.Linear``; a timm module's own classifier.  Named
    models' heads are known: leave it ``None`` for them.""",
    "training": """\
hidden_layer_sizes : tuple of int, default=[[hidden_default]]
    Widths of the new head's hidden dense layers (ReLU); ``()`` for a linear head.
dropout : float, default=[[dropout_default]]
    Dropout before each dense layer of the head, in phase 2 (and in phase 1 with
    an optimizer other than ``"lbfgs"``).
freeze_depth : int, "auto" or "all", default="auto"
    Number of backbone blocks, counted from the input side, that stay frozen in
    phase 2.  ``0`` fine-tunes the whole backbone; ``n_backbone_blocks_`` or
    ``"all"`` keeps it frozen.  ``"auto"`` freezes the blocks that
    ``layer_decay`` would give less than a tenth of the peak rate (they would
    barely move; not training them saves their backward pass): 8 of
    MobileNetV2's 19 blocks with ``layer_decay=0.8``, none of ResNet-18's 5, none
    with ``layer_decay=1``.  See the user guide for the blocks of each family.
frozen_epochs : int, default=20
    Epochs of phase 1 (head only).  May be 0.  On stored features (the default)
    they cost little beyond the one backbone pass.  With ``"lbfgs"`` the head is
    fitted at once and only ``frozen_epochs > 0`` matters.
unfrozen_epochs : int or "auto", default=[[unfrozen_default]]
    Epochs of phase 2.  May be 0.  ``"auto"`` chooses them by evidence in
    ``fit``: on the held-out part (``validation_fraction``), phase 1's score is
    epoch 0; phase 2 is tried where phase 1 errs on at least 5 held-out
    samples (a regressor always tries): trained on the rest, scored after every
    epoch, until ``n_iter_no_change`` epochs bring no better score, or 10
    epochs.  Its best epoch is the length (0: no phase 2) and the model is
    fitted again on all the training data for it.  A trial costs up to
    ``n_iter_no_change`` epochs beyond that length; see the user guide.[[auto_rule]]
frozen_optimizer : str or optimizer class, default=[[frozen_optimizer_default]]
    Optimizer of phase 1: ``"sgd"``, ``"adam"``, ``"adamw"``, ``"lbfgs"``, or a
    class, called as ``cls(param_groups, lr=...)``.
    ``"lbfgs"`` fits the head at once on the stored features, to
    convergence, with the L2 penalty ``alpha`` (with no hidden layer, a
    multinomial logistic regression: the linear probe), and records its
    held-out score as ``probe_score_``.
frozen_learning_rate : float, default=1e-3
    Learning rate of phase 1 (not used by ``"lbfgs"``).
alpha : float or "auto", default="auto"
    L2 penalty of the head's weights in phase 1 with
    ``frozen_optimizer="lbfgs"``, as ``alpha`` of ``MLPClassifier`` (``1 / C``
    of ``LogisticRegression``).  ``"auto"`` chooses it among ten values from
    ``1e-4`` to ``1e4`` by the log-loss on the held-out part
    (``validation_fraction`` of the training data; small data add random
    splits of that size, up to 5, until 250 held-out predictions decide), as
    ``LogisticRegressionCV(scoring="neg_log_loss")`` does (the log-loss, not
    its default accuracy), walking the values as a warm-started path that
    stops once the loss rose twice; the model then keeps that penalty on all
    the training data.  ``alpha_`` holds the value used.
unfrozen_optimizer : {"sgd", "adam", "adamw"} or optimizer class, default="adamw"
    Optimizer of phase 2.
unfrozen_learning_rate : float, default=[[unfrozen_lr]]
    Peak learning rate of phase 2 (head and last unfrozen block).
momentum : float, default=0.9
    Momentum of ``"sgd"``, in either phase.
layer_decay : float, default=0.8
    Discriminative learning rates in phase 2: block ``i`` of the trainable blocks
    (counted back from the head) learns at ``unfrozen_learning_rate *
    layer_decay ** i``.  ``1.0`` gives every block the same rate.
frozen_schedule : {"constant", "cosine"}, default="constant"
    Learning rate over phase 1: constant, or warm-up and cosine decay as below.
unfrozen_schedule : {"cosine", "constant"}, default="cosine"
    Learning rate over phase 2: a linear warm-up over its first 10 % of steps
    followed by a cosine decay to zero, or constant.
weight_decay : float, default=0.0
    Weight decay of the optimizers of both phases (decoupled for ``"adamw"``).
feature_cache : bool, default=True
    Train phase 1 on backbone features computed once from the un-augmented
    inputs.  With ``frozen_optimizer="lbfgs"`` (the probe, the default) phase 1
    always uses them and this has no effect; with another optimizer, ``False``
    runs the backbone over every input in every epoch of phase 1 (with
    augmentation, for images).""",
    "augmentation": """\
augment : "auto", bool or dict, default="auto"
    Random augmentation of training batches (never at predict time).  ``True``
    uses rotation 15 degrees, shift 0.1, zoom 0.1 and horizontal flips; a dict
    overrides any of ``"rotation"``, ``"shift"``, ``"zoom"``,
    ``"horizontal_flip"``; ``False`` switches it off.  ``"auto"`` is ``True``
    for images and ``False`` for 2-D rows (whose features need not be pixels
    that may rotate or flip).
train_batchnorm : bool or "auto", default="auto"
    Whether BatchNorm layers of unfrozen blocks train in phase 2 (batch
    statistics, running statistics updated).  ``False`` keeps every BatchNorm
    layer in inference mode with its pretrained statistics while its scale and
    shift still learn (the Keras fine-tuning recipe: the head's inputs do not
    shift when phase 2 starts).  ``"auto"``: ``False`` with pretrained weights,
    ``True`` with ``weights=None``, whose statistics mean nothing yet.
    Frozen blocks always stay in inference mode.""",
    "input": """\
image_size : int or None, default=None
    Side of the square network input; ``None`` uses the weights' crop size
    (224 for most, and for a module).  Images are resized in the weights'
    resize/crop ratio (256/224 for a module), then centre-cropped.
image_shape : tuple of int or None, default=None
    For 2-D ``X`` only: the ``(height, width)`` or ``(height, width, channels)``
    of each row.  ``None``: a square grayscale image if the number of features is
    a perfect square, else a ``1 x n_features`` strip.
mean, std : tuple of 3 float or None, default=None
    Normalisation of the RGB channels (0-1 scale); ``None``: the weights' own —
    ImageNet's ``(0.485, 0.456, 0.406)`` and ``(0.229, 0.224, 0.225)`` for a
    module without timm's ``pretrained_cfg``.  Set them for weights trained
    with other values.
batch_size : int, default=32
    Images per training and inference batch.""",
    "early_stopping": """\
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data[[stratified]], stop a
    phase after ``n_iter_no_change`` epochs without a lower validation loss (the
    loss that trains, weights included), and restore the weights of the best
    epoch at the end; the held-out part never trains.  With
    ``unfrozen_epochs="auto"``, the trial's best epoch (by the validation
    score) is the model, without a refit on all the data.
validation_fraction : float, default=0.2
    The held-out fraction[[stratified]]: what early stopping,
    ``unfrozen_epochs="auto"`` and ``alpha="auto"`` decide on.
n_iter_no_change : int, default=5
    Patience of early stopping and of the phase-2 trial of
    ``unfrozen_epochs="auto"``, in epochs.""",
    "resources": """\
cache_size : float, default=2048
    Memory budget (MiB) for the decoded images (or tokenised texts) of one
    ``fit``; larger data are streamed from their source each epoch.  Inference
    always streams.
memory : str, joblib.Memory or None, default=None
    A folder (or a ``joblib.Memory``'s folder) that caches decoded images and,
    per image, the pretrained backbone's features across fits (as
    ``Pipeline(memory=...)`` does), shared by every estimator of this package:
    grid-search candidates and overlapping cross-validation folds share them.
    While the backbone has not trained, inference uses the cache too.  Entries
    are ``.npy`` files read without unpickling.
precision : {"auto", "float32", "bfloat16"}, default="auto"
    ``"auto"``: bfloat16 autocast on GPUs that compute it natively (compute
    capability 8.0 and up: Ampere and later), float32 on older GPUs and on the
    CPU.  ``"bfloat16"`` on an older GPU is a ``ValueError``.  Every pass
    (training, validation, prediction with or without the ``memory`` cache)
    runs at the same precision.
retain_memory : bool, default=True
    While computing on the CPU under glibc, keep freed memory in the process
    rather than returning it to the system after every step, and return it
    afterwards: a MobileNetV2 fit took 19.5 s instead of 24.5 s, with a peak
    memory 5 % higher (``benchmarks/README.md``).
device : str, default="auto"
    ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.""",
    "test_time_flip": """\
test_time_flip : bool, default=False
    Average the network's outputs over each image and its horizontal mirror
    image at predict time (test-time augmentation; images only, not 2-D rows).
    Twice the inference cost.""",
    "fitting": """\
warm_start : bool, default=False
    Continue from the fitted network on the next ``fit`` instead of starting
    again: weights, fitted targets and ``history_`` carry over, optimizers start
    afresh, and both phases run again for their configured epochs.
random_state : int, RandomState instance or None, default=None
    Seeds initialisation, shuffling, dropout and augmentation; fixed, CPU runs
    repeat exactly on the same machine with the same number of threads.
verbose : int, default=0
    ``1`` prints one line per epoch (phase, losses, score, seconds, images/s).""",
    "fitted": """\
module_ : torch.nn.Module
    The network, with ``backbone`` and ``head`` sub-modules.
n_backbone_blocks_ : int
    Number of blocks ``freeze_depth`` counts.
image_size_ : int
    Side of the network input used.
device_ : torch.device
    Device the network was placed on in ``fit``.
n_features_in_ : int
    Number of features, when fitted on 2-D ``X``.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features, when fitted on a DataFrame with string column names.""",
    "history": """\
history_ : list of dict
    One dict per epoch: ``"fit"`` (1 for the first ``fit``, counting on with
    ``warm_start``), ``"phase"``, ``"epoch"`` (within the phase),
    ``"total_epoch"`` (running count over phases and fits), ``"train_loss"``,
    ``"seconds"``, ``"images_per_second"``, ``"threads"`` (on the CPU) and,
    when validating, ``"valid_loss"`` and [[score]].
interrupted_ : bool
    True if the last ``fit`` was stopped by ``KeyboardInterrupt``.
unfrozen_epochs_ : int
    Epochs of phase 2 in the model of the last ``fit``: ``unfrozen_epochs``,
    or the length the trial of ``"auto"`` chose (0: phase 1 is the model).
alpha_ : float
    With ``frozen_optimizer="lbfgs"``: the head's L2 penalty in phase 1.
probe_score_ : float or None
    With ``frozen_optimizer="lbfgs"``: the held-out [[probe_score]] of the
    probe at the penalty chosen (the mean over the splits where small data take
    several), or ``None`` without a held-out part (fewer than 10 training
    images and no early stopping, or a given ``alpha`` with a fixed
    ``unfrozen_epochs``).""",
    "X": """\
X : sequence of paths, list of PIL images, array-like or DataFrame
    Images: paths (a list, array, pandas Series/Index or one-column DataFrame),
    PIL images, an array ``(n, height, width[, channels])``, or 2-D rows of
    flattened images; see the user guide.""",
    "text_backbone": """\
backbone : str or transformers model, default="sentence-transformers/all-MiniLM-L6-v2"
    A Hugging Face ``transformers`` encoder (BERT-like): a hub name, read from
    the Hugging Face cache when offline, or a local folder written by
    ``save_pretrained`` (with its tokenizer), or a model object such as
    ``AutoModel.from_pretrained(name)`` with its ``tokenizer``.  Needs
    ``pip install "skfinetune[text]"``.  Its blocks (what ``freeze_depth``
    and ``layer_decay`` count) are the embeddings, then each encoder layer.
weights : "DEFAULT" or None, default="DEFAULT"
    ``"DEFAULT"``: the encoder's pretrained weights (a model object keeps
    its own).  ``None``: random initialisation from its configuration.
tokenizer : str, tokenizer or None, default=None
    ``None``: the backbone's own (from the same name or folder).  A name or
    folder, or a fast tokenizer object (``PreTrainedTokenizerFast`` or a
    ``tokenizers.Tokenizer``).
pooling : {"auto", "mean", "cls"}, default="auto"
    How token embeddings become one text embedding: ``"mean"`` over the
    text's tokens, or the first token's (``"cls"``).  ``"auto"``: what a
    sentence-transformers folder says (its pooling configuration: mean for
    most), ``"cls"`` for other models.
max_length : int or None, default=None
    Longest input in tokens; longer texts are truncated.  ``None``: the
    encoder's own limit (its ``max_seq_length`` for sentence-transformers
    models, else its position embeddings).  Batches are padded to their own
    longest text only.
batch_size : int, default=32
    Texts per training and inference batch (grouped by length).""",
    "text_X": """\
X : sequence of str, pandas Series or one-column DataFrame
    Texts (a list, tuple, 1-D array, Series or one-column DataFrame of
    ``str``); empty and missing texts are refused.""",
    "text_fitted": """\
module_ : torch.nn.Module
    The network, with ``backbone`` (the encoder and its pooling) and ``head``
    sub-modules.
n_backbone_blocks_ : int
    Number of blocks ``freeze_depth`` counts: the embeddings and each layer.
max_length_ : int
    Longest input in tokens used.
device_ : torch.device
    Device the network was placed on in ``fit``.""",
}


def fill_doc(fields=None, **extra):
    """Class decorator: replace ``[[name]]`` in the docstrings of the class and
    of its methods by the shared description ``name`` (or ``fields[name]``),
    indented as the docstring is; ``extra`` fills the ``[[...]]`` fields that
    the descriptions hold themselves.

    A method inherited with ``[[...]]`` fields (from an estimator base) gets a
    copy of its own in the class, with its docstring filled for that class."""
    shared = {**_SHARED, **(fields or {})}

    def fill(doc, indent):
        for name, text in shared.items():
            for key, value in extra.items():
                text = text.replace(f"[[{key}]]", value)
            doc = doc.replace(f"[[{name}]]", textwrap.indent(text, indent).lstrip())
        return doc

    def decorate(cls):
        cls.__doc__ = fill(cls.__doc__, "    ")
        for name in dir(cls):
            function = inspect.getattr_static(cls, name)
            if not isinstance(function, types.FunctionType):
                continue
            doc = function.__doc__
            if not doc or "[[" not in doc:
                continue
            if name not in vars(cls):
                function = _copy(function)
                setattr(cls, name, function)
            function.__doc__ = fill(doc, "        ")
        return cls

    return decorate


def _copy(function):
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__dict__.update(function.__dict__)
    copy.__qualname__ = function.__qualname__
    copy.__module__ = function.__module__
    return copy


#: The fields a text estimator's docstrings fill differently.
TEXT_FIELDS = {"X": _SHARED["text_X"], "fitted": _SHARED["text_fitted"]}
