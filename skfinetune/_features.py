"""PretrainedFeatures: a pretrained backbone as a transformer."""

import torch
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)

from ._base import BaseBackbone
from ._device import Compute
from ._docs import fill_doc
from ._validation import check_int
from ._vision.family import IMAGES


class BaseFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseBackbone):
    """What every features transformer of the package does, whatever its
    family: load the pretrained backbone in ``fit``, pooled features in
    ``transform``.  Not for direct use."""

    _fitted_checks = {"n_features_out_": check_int(1)}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the pretrained backbone and learn the kind of ``X``.

        Parameters
        ----------
        [[X]]
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        source = self._check_params()
        compute = Compute.resolve(self.device, self.precision)
        before = dict(self.__dict__)
        try:
            _, size = self._start_fit(X, source)  # X is only read; nothing trains
            seed = self._seed()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net, n_features = self._new_network(source, size)
            features_key = self._features_key_for(
                source, seed, size, compute, self._input
            )
        except BaseException:
            self._restore_fitted(before)
            raise
        return self._set_fitted(
            module_=net.to(compute.device, memory_format=self._family.memory_format),
            n_features_out_=n_features,
            n_backbone_blocks_=len(net.blocks()),
            **{self._family.size_attribute: size},
            device_=compute.device,
            _features_key=features_key,
        )

    def transform(self, X):
        """The pooled backbone features of ``X``.

        Parameters
        ----------
        [[X]]

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_features_out_`), dtype=float32
            One row of features per input.
        """
        return self._forward(X, head=False).numpy()

    def _export_network(self):
        return self.module_.backbone

    def _export_outputs(self, outputs):
        return {"features": outputs}

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # always float32 features
        return tags


@fill_doc()
class PretrainedFeatures(BaseFeatures):
    """The pooled features of a pretrained backbone, for any model.

    ``fit`` loads the backbone with its classification layer removed (nothing is
    trained); ``transform`` turns images into the features that layer used to
    receive: ``make_pipeline(PretrainedFeatures(), LogisticRegression())`` is a
    *linear probe*, the quick alternative to fine-tuning.  It reads every kind of
    ``X`` that :class:`FineTuneClassifier` reads, with the same preprocessing
    (the weights' ``transforms()``), devices and ``memory`` cache: features cached
    by a fine-tuning estimator's phase 1 are found here, and the other way round.

    Parameters
    ----------
    [[backbone]]
    [[weights]]
    [[input]]
    [[resources]]
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation of a backbone with ``weights=None``.

    Attributes
    ----------
    n_features_out_ : int
        Number of features per image (the backbone's pooled width: 1280 for
        MobileNetV2, 512 for ResNet-18, 2048 for ResNet-50; the user guide lists
        each family).
    [[fitted]]

    See Also
    --------
    FineTuneClassifier : Fine-tunes the backbone itself, with a new head.
    FineTuneRegressor : The same for continuous targets.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skfinetune import PretrainedFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, size=(20, 16, 16, 3), dtype=np.uint8)
    >>> y = np.arange(20) % 2
    >>> features = PretrainedFeatures("squeezenet1_1", weights=None, image_size=32)
    >>> features.fit_transform(X).shape
    (20, 512)
    >>> probe = make_pipeline(features, LogisticRegression()).fit(X, y)
    >>> probe.predict(X[:3]).shape
    (3,)
    """

    _family = IMAGES
    _parameter_constraints = {
        **BaseBackbone._parameter_constraints,
        **IMAGES.parameter_constraints,
    }

    def __init__(
        self,
        backbone="mobilenet_v2",
        *,
        weights="DEFAULT",
        head=None,
        image_size=None,
        image_shape=None,
        mean=None,
        std=None,
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
        self.head = head
        self.image_size = image_size
        self.image_shape = image_shape
        self.mean = mean
        self.std = std
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.memory = memory
        self.precision = precision
        self.retain_memory = retain_memory
        self.device = device
        self.random_state = random_state
