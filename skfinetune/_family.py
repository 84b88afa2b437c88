"""The seam between the engine and a family of estimators (images today).

The engine — the estimator bases (``_base``, ``_fine_tune``), the recipe, the
feeder, inference and persistence — knows a family only through this interface.
A family says what its inputs are and where its networks come from; a new family
(text, say) implements :class:`Family` in its own package, and its estimators set
``_family`` to it, without editing the image modules:

========================  ==========================================================
``parameter_constraints`` the family's own parameters (``image_size``, ``mean``...)
``backbone``              the estimator's ``backbone`` (and ``weights``, ...) as a
                          ``_backbones.Backbone``: check, preprocessing, build
``check_params``          what the declarative constraints cannot express
``new_input``             the reader ``fit`` learns (``fit(estimator, X)`` ->
                          data, ``read(estimator, X)``, ``to_dict``,
                          ``cache_key``) from the backbone's preprocessing
``input_from_dict``       that reader again, from its plain values (``load``),
                          each checked
``check_untrusted``       refuse what a file from a stranger may not name (a
                          backbone or weights that would reach the network or
                          another file)
``input_size``            the network's input size for those settings (set by
                          the parameter ``size_parameter``, fitted as
                          ``size_attribute``)
``loaded_backbone``       the backbone of a saved model, from the estimator and
                          its reader (default: ``backbone``)
``example_input``         one input of that size, to check a network builds
``augmentation``          the training augmentation of the estimator for the data
``flip_at_predict``       whether predictions average each input and its mirror
``train_batchnorm``       whether BatchNorm layers train their statistics
``preparer``              raw stored batch -> network input, on the device
``export_input``          what an exported graph does before the network
``memory_format``         the network's memory layout
========================  ==========================================================

The *data* a reader returns is a kind of data as ``_feeding`` describes it (load
by index, cache keys, size in bytes), so feeding, the feature cache and the
recipe serve every family alike.
"""

import torch

from ._validation import check_int


class Family:
    """A family of estimators, as the engine sees it (see the module docstring)."""

    name = "family"
    parameter_constraints = {}
    #: The parameter that sets the network's input size (named in messages).
    size_parameter = "input_size"
    #: The fitted attribute holding that size.
    size_attribute = "input_size_"
    #: Why a saved size is refused (or ``None``).
    size_check = staticmethod(check_int(1, 1_048_576))
    memory_format = torch.contiguous_format
    #: What the items are called in progress lines: in full, per second.
    units = ("images", "img")
    #: scikit-learn's input tags: 2-D numeric ``X``, strings.
    two_d_array = False
    strings = False

    def backbone(self, estimator):
        raise NotImplementedError

    def loaded_backbone(self, estimator, reader):
        """The backbone a saved model is rebuilt with (its reader given)."""
        return self.backbone(estimator)

    def check_params(self, estimator):
        """Raise ``ValueError`` for parameter values the constraints let through."""

    def new_input(self, estimator, preprocessing):
        raise NotImplementedError

    def input_from_dict(self, values, size=None):
        raise NotImplementedError

    def check_untrusted(self, estimator):
        """Raise ``ValueError`` for parameters a file may not set."""

    def input_size(self, estimator, preprocessing):
        raise NotImplementedError

    def example_input(self, size, device):
        raise NotImplementedError

    def augmentation(self, estimator, data):
        """The estimator's augmentation options for ``data`` (``None``: none)."""
        return None

    def check_augmentation(self, estimator):
        """Raise ``ValueError`` for augmentation settings this family cannot use."""

    def flip_at_predict(self, estimator, data):
        """Whether predictions average each input with its mirror image."""
        return False

    def train_batchnorm(self, estimator):
        """Whether BatchNorm layers train their running statistics in phase 2."""
        return False

    def preparer(self, reader, size, device, augmentation=None):
        raise NotImplementedError

    def export_input(self, reader, size):
        raise NotImplementedError
