"""The shared engine: a pretrained backbone as a scikit-learn estimator.

:class:`BaseBackbone` owns what every estimator of the package does with a
pretrained network, whatever its family: checking the shared parameters, reading
``X`` (through its family's reader), building the network, the feature cache key,
the one inference path (``_forward``: feature cache, device, feeding decided in
one place), cloning, tags and the export contract (``_export``).  Fitted state is
written by ``_set_fitted`` alone and stored by ``FittedState`` (``_state``).
:class:`~skfinetune._fine_tune.BaseFineTune` adds the fine-tuning ``fit``.

What differs between families (images today) comes from ``_family``, a
:class:`~skfinetune._family.Family` that each estimator names.
"""

import hashlib
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory
from torch import nn

from ._cache import FeatureCache
from ._cache import location as cache_location
from ._device import Compute, resolve_device
from ._export import ExportDescription
from ._feeding import Feeder
from ._fusion import folded
from ._inference import Runner
from ._state import FittedState
from ._validation import anything, check_array, check_device, check_int

_FEATURES_KEY_VERSION = "skfinetune-features-v4"


class BaseBackbone(FittedState, BaseEstimator):
    """A pretrained backbone behind a scikit-learn estimator.

    Not for direct use: subclasses set ``_family``, ``__init__`` (parameters
    only) and ``fit``.
    """

    _fitted_checks = {
        "_input": lambda value: None if isinstance(value, dict) else "must be a dict",
        "n_backbone_blocks_": check_int(0, 100_000),
        "device_": check_device,
        "_features_key": anything,  # recomputed at load, never read
        "n_features_in_": check_int(1),
        "feature_names_in_": check_array(kinds="OU"),
    }

    _parameter_constraints = {
        "backbone": [str, nn.Module],
        "weights": "no_validation",  # checked by the backbone's source
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
        source = self._family.backbone(self)
        source.check()
        self._family.check_params(self)
        if self.memory is not None:
            check_memory(self.memory)
        return source

    def _backbone_name(self):
        return self._family.backbone(self).description

    # ----------------------------------------------------------------- network
    def _start_fit(self, X, source, *, warm=False):
        """The backbone's preprocessing, then ``X`` read (its kind learnt by a
        new reader unless ``warm``).  Returns ``(data, size)``."""
        pre = source.preprocessing()
        size = self._family.input_size(self, pre)
        if warm:
            return self._input.read(self, X), size
        self._set_fitted(_input=self._family.new_input(self, pre))
        return self._input.fit(self, X), size

    def _new_network(self, source, size, new_head=None):
        """``(net, n_features)``: the pretrained network with ``new_head`` (or
        none), checked to accept inputs of ``size``."""
        net, n_features = source.build(new_head)
        net.eval()
        try:
            with torch.inference_mode():
                # on the module's own device (a module backbone may be on a GPU)
                where = next(net.parameters()).device
                out = net.backbone(self._family.example_input(size, where))
        except Exception as exc:  # torch raises RuntimeError, AssertionError, ...
            raise ValueError(
                f"{self._family.size_parameter}={size} does not suit backbone "
                f"{source.description}: "
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

    def _input_size(self):
        """The fitted input size (``image_size_``, ``max_length_``...)."""
        return getattr(self, self._family.size_attribute)

    def _seed(self):
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _memory(self):
        """The folder of ``memory`` (``None``: no caching)."""
        return cache_location(self.memory)

    def _features_key_for(self, source, seed, size, compute, reader):
        """What the pretrained backbone's features depend on (``memory`` key), or
        ``None`` without ``memory``: the precision is the one used."""
        if self.memory is None:
            return None
        return (
            _FEATURES_KEY_VERSION,
            source.cache_key(),
            seed if self.weights is None else None,
            size,
            reader.cache_key(),
            compute.precision,
            compute.device.type,
        )

    def _feature_cache(self, key=None):
        """The per-image feature cache, while the backbone is the pretrained one."""
        key = getattr(self, "_features_key", None) if key is None else key
        root = self._memory()
        if key is None or root is None:
            return None
        return FeatureCache(root, key)

    def _loaded_features_key(self, state, device, tensors):
        """The feature-cache key of a loaded model: its backbone's own tensors
        (their SHA-256), never what the file says of them, so that a loaded
        model reads and writes entries of exactly the backbone it holds;
        ``None`` without ``memory``."""
        if self.memory is None:
            return None
        sha = hashlib.sha256()
        for name in sorted(k for k in tensors if k.startswith("backbone.")):
            sha.update(name.encode())
            tensor = tensors[name].detach().to("cpu").contiguous()
            sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        compute = Compute.resolve(str(device), self.precision)
        return (
            _FEATURES_KEY_VERSION,
            ("loaded", sha.hexdigest()),
            state[self._family.size_attribute],
            state["_input"].cache_key(),
            compute.precision,
            compute.device.type,
        )

    # --------------------------------------------------------------- inference
    def _feeder(self, compute):
        return Feeder(
            compute.device, self.cache_size * 2**20, self.batch_size, self._memory()
        )

    def _runner(self, compute, net, size, cls=Runner, augmentation=None, **kwargs):
        """A ``cls`` (``Runner``, or the recipe's ``Trainer``) for ``net`` taking
        inputs of ``size``, fed by this estimator's feeder."""
        return cls(
            net=net,
            prepare=self._family.preparer(
                self._input, size, compute.device, augmentation
            ),
            compute=compute,
            feeder=self._feeder(compute),
            batch_size=self.batch_size,
            units=self._family.units,
            **kwargs,
        )

    def _forward(self, X, *, head=True):
        """The one inference path: ``X`` -> the head's outputs (or, with
        ``head=False``, the backbone's features) as a float32 tensor on the CPU.

        Decides in one place: the feature cache (``memory``, while the backbone is
        pretrained), the device (the fitted one, or the CPU where a GPU-fitted
        model is used without one), and how the data is fed.
        """
        check_is_fitted(self)
        compute = self._inference_compute()
        data = self._input.read(self, X)
        if next(self.module_.parameters()).device != compute.device:
            self._set_fitted(module_=self.module_.to(compute.device))
        runner = self._runner(compute, self.module_, self._input_size())
        with compute.scope(self.retain_memory):
            flip = head and self._flip_at_predict(data)
            cache = None if flip else self._feature_cache()
            keys = None if cache is None else data.cache_keys()
            if keys is None:
                data = runner.feeder.for_inference(data)
                out = runner.outputs(data, flip=flip) if head else runner.features(data)
            else:
                feats = cache.features(
                    keys, lambda i: runner.features(data, i).cpu().numpy()
                )
                out = runner.head_outputs(feats) if head else torch.from_numpy(feats)
        return out.cpu()

    def _inference_compute(self):
        """Where predict and transform run: ``device`` as set now, ``"auto"``
        meaning what it means for ``fit`` (the current CUDA GPU, else an Apple
        GPU, else the CPU) — for a model fitted here, loaded, or unpickled from
        another machine alike.  A device this machine lacks is the same
        ``ValueError`` as in ``fit`` (a silent fall-back to the CPU would turn a
        GPU job into a far slower one unannounced).  At ``precision`` as set
        now."""
        return Compute.resolve(self.device, self.precision)

    def _flip_at_predict(self, data):
        """Whether predictions average each input with its mirror image."""
        return False

    # ------------------------------------------------------------------ export
    def _export_outputs(self, outputs):
        """``{name: tensor}``: the exported graph's outputs from the network's
        (traced: torch operations only)."""
        raise NotImplementedError

    def _export_network(self):
        """The module an exported graph runs (the whole network)."""
        return self.module_

    def __skfinetune_export__(self):
        """The :class:`~skfinetune._export.ExportDescription` of this estimator."""
        fitted = hasattr(self, "module_")
        export_input = error = None
        if fitted:
            try:
                export_input = self._family.export_input(
                    self._input, self._input_size()
                )
            except ValueError as exc:
                error = f"{type(self).__name__} {exc}"
        classes = getattr(self, "classes_", None)
        return ExportDescription(
            estimator=type(self).__name__,
            backbone=self._backbone_name(),
            params=self.get_params(deep=False),
            fitted=self._fitted_state(),
            classes=None if classes is None else np.asarray(classes).tolist(),
            input=export_input,
            input_error=error,
            network=lambda: folded(self._export_network(), detached=True),
            outputs=self._export_outputs,
            tensors=self._export_tensors,
            read=self._read_fitted,
            check_saveable=lambda: self._family.backbone(self).check_saveable(),
        )

    def __skfinetune_check__(self):
        """Validate the parameters as ``fit`` does, before any data is read."""
        self._validate_params()
        self._check_params()

    def _export_tensors(self):
        module = getattr(self, "module_", None)
        if module is None:
            return {}
        return {
            key: value.detach().to("cpu").contiguous().clone()
            for key, value in module.state_dict().items()
        }

    def _read_fitted(self, X):
        """``X`` read as the fitted estimator reads it (data that loads by index
        as stored, before normalisation); for displays."""
        check_is_fitted(self)
        return self._input.read(self, X)

    # -------------------------------------------------------------- sklearn
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
        tags.input_tags.two_d_array = self._family.two_d_array
        tags.input_tags.string = self._family.strings
        tags.input_tags.allow_nan = False
        try:  # bit-for-bit repeatable on the CPU only (cuDNN's search, atomics)
            deterministic = Compute(resolve_device(self.device)).deterministic
        except ValueError:  # a device this machine lacks: fit will say so
            deterministic = True
        tags.non_deterministic = not deterministic
        return tags
