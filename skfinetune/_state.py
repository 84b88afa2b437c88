"""Fitted state: the one place that writes it, and how it is stored.

:class:`FittedState` is the part of every estimator of the package that owns its
fitted attributes: :meth:`~FittedState._set_fitted` writes them (``fit`` once its
recipe has run, ``load``, unpickling) and :meth:`~FittedState._restore_fitted`
puts back what a failed ``fit`` found; ``__getstate__``/``__setstate__`` store
them as plain values (the network as numpy arrays, the device as text, the input
reader as a dict), so that pickle, joblib and skops keep no torch type; and
``__skfinetune_load__`` rebuilds an estimator from the parts ``save`` wrote.
"""

import copy
import inspect
import itertools

import numpy as np
import torch
from torch import nn

#: Fitted attributes of 2-D rows that a fit on images must not keep.
ROW_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


def on_cpu(module):
    """Whether every parameter and buffer of ``module`` is on the CPU."""
    tensors = itertools.chain(module.parameters(), module.buffers())
    return all(t.device.type == "cpu" for t in tensors)


def _check_shapes(expected, tensors):
    """The tensors' names and shapes against the network's."""
    want = {k: tuple(v.shape) for k, v in expected.items()}
    have = {k: tuple(v.shape) for k, v in tensors.items()}
    if want == have:
        return
    differ = sorted(k for k in want.keys() & have.keys() if want[k] != have[k])
    detail = "; ".join(
        f"{k}: {have[k]} in the file, {want[k]} expected" for k in differ[:3]
    )
    missing, extra = (
        sorted(want.keys() - have.keys()),
        sorted(have.keys() - want.keys()),
    )
    if missing:
        detail += f"; missing {missing[:3]}"
    if extra:
        detail += f"; unexpected {extra[:3]}"
    head = [k for k in [*differ, *missing, *extra] if k.startswith("head.")]
    if head:
        raise ValueError(
            "The file's head tensors do not fit the head its parameters describe "
            f"(hidden_layer_sizes and the outputs): {detail.strip('; ')}."
        )
    raise RuntimeError(detail.strip("; "))


class FittedState:
    """Writing, storing and rebuilding fitted attributes (module docstring)."""

    _family = None
    #: Fitted attributes a saved file may hold, each with a check returning why
    #: a value is refused (or ``None``); subclasses add theirs.
    _fitted_checks = {}

    def _set_fitted(self, **state):
        """Write fitted attributes: the one place ``fit``, ``load`` and
        unpickling do.  ``_input`` may be given as the plain dict of
        :meth:`_fitted_state`; a new ``_input`` forgets what an earlier fit learnt
        of 2-D rows (``n_features_in_``, unless given with it)."""
        reader = state.get("_input")
        if isinstance(reader, dict):
            state["_input"] = self._family.input_from_dict(reader)
        elif reader is not None:
            for attr in ROW_ATTRIBUTES:
                if attr not in state:
                    self.__dict__.pop(attr, None)
        for key, value in state.items():
            setattr(self, key, value)
        return self

    def _restore_fitted(self, before):
        """Put back the attributes of ``before`` (a copy of ``vars(self)`` taken
        when ``fit`` started): a failed fit leaves the estimator as it was."""
        self.__dict__.clear()
        self.__dict__.update(before)

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

    # --------------------------------------------------------------- network
    def _network_for_loading(self, tensors, reader=None):
        """The fitted network rebuilt from its ``tensors`` (for
        :func:`skfinetune.load` and unpickling), in inference mode, where the
        tensors are: built on the meta device first, which allocates nothing,
        and checked against the tensors' shapes.  A head that does not fit its
        tensors is a ``ValueError``; a backbone that does not, a
        ``RuntimeError``."""
        source = self._family.loaded_backbone(self, reader)
        head = self._head_for(tensors)
        try:
            with torch.device("meta"):
                net, _ = source.build(head, pretrained=False)
        except (RuntimeError, NotImplementedError, TypeError, ValueError):
            net = None  # a module that cannot be built on the meta device
        if net is not None:
            _check_shapes(net.state_dict(), tensors)
            try:
                net.load_state_dict(tensors, assign=True)
                if any(t.is_meta for t in [*net.parameters(), *net.buffers()]):
                    net = None  # tensors outside the state dict
            except RuntimeError:
                net = None
        if net is None:
            net, _ = source.build(head, pretrained=False)
            net.load_state_dict(tensors)
        return net.to(memory_format=self._family.memory_format).eval()

    def _head_for(self, tensors):
        """``new_head(n_features)`` of the saved network (``None``: no head)."""
        return None

    @classmethod
    def __skfinetune_load__(cls, params, fitted, tensors, device):
        """An estimator of this class rebuilt from the parts ``save`` wrote: its
        parameters, fitted state (plain values) and network tensors, on
        ``device``.  Everything is checked before anything is built (the
        parameters as ``fit`` checks them, with plain backbone and weights
        names; each fitted value against ``_fitted_checks``; the head's shapes
        against the tensors): a ``ValueError`` or ``TypeError`` names the
        field.  A ``RuntimeError`` when the tensors do not fit the backbone the
        installed libraries build."""
        try:
            estimator = cls(**params)
        except TypeError as exc:
            raise TypeError(
                f"The file's parameters do not fit {cls.__name__}: {exc}."
            ) from None
        estimator._check_loaded_params()
        state = estimator._checked_fitted(fitted)
        if tensors:
            net = estimator._network_for_loading(tensors, state.get("_input"))
            estimator._check_loaded_network(state, net)
            state.update(module_=net.to(device), device_=device)
        state.pop("_features_key", None)  # computed, never read from a file
        if tensors:
            key = estimator._loaded_features_key(state, device, tensors)
            state["_features_key"] = key
        return estimator._set_fitted(**state)

    def _check_loaded_params(self):
        """The parameters of a file, checked as ``fit`` checks them."""
        self._family.check_untrusted(self)
        self._validate_params()
        self._check_params()

    @classmethod
    def _all_fitted_checks(cls):
        checks = {cls._family.size_attribute: cls._family.size_check}
        for klass in reversed(cls.__mro__):
            checks.update(vars(klass).get("_fitted_checks", {}))
        return checks

    def _checked_fitted(self, fitted):
        """``fitted`` with each value checked; the family's reader rebuilt."""
        checks = self._all_fitted_checks()
        for name, value in fitted.items():
            if name not in checks:
                raise ValueError(
                    f"The file's fitted attribute {name!r} is not one that "
                    f"{type(self).__name__} has."
                )
            reason = checks[name](value)
            if reason:
                raise ValueError(f"The file's fitted attribute {name!r} {reason}.")
        state = dict(fitted)
        if "_input" in state:
            state["_input"] = self._family.input_from_dict(
                state["_input"], size=state.get(self._family.size_attribute)
            )
        return state

    def _check_loaded_network(self, state, net):
        """Cross-checks between the fitted state and the rebuilt network."""

    def _loaded_features_key(self, state, device, tensors):
        return None

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        """Plain values only — the network as a dict of numpy arrays (from the CPU,
        so a GPU-fitted model unpickles anywhere), the device as text, the input
        reader as a dict — so that pickle, joblib and skops store it without
        torch's own types (skops then trusts nothing but the estimator's class).
        A module ``backbone`` on a GPU is stored as a copy on the CPU."""
        state = dict(super().__getstate__())  # a copy: never change the estimator
        backbone = state.get("backbone")
        if isinstance(backbone, nn.Module) and not on_cpu(backbone):
            state["backbone"] = copy.deepcopy(backbone).to("cpu")  # loads anywhere
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
        if hasattr(state.get("_input"), "to_dict"):
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
        if "_input" in fitted and not isinstance(fitted["_input"], dict):
            fitted["_input"] = fitted["_input"].to_dict()  # pickled as an object
        if isinstance(arrays, nn.Module):  # pickled by skfinetune <= 0.2
            fitted["module_"] = arrays
        elif arrays is not None:
            tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
            reader = fitted.get("_input")
            if reader is not None:
                reader = self._family.input_from_dict(reader)
            fitted["module_"] = self._network_for_loading(tensors, reader)
        self._set_fitted(**fitted)

    @classmethod
    def _parameter_defaults(cls):
        signature = inspect.signature(cls.__init__)
        return {
            name: p.default
            for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }
