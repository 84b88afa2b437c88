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
                          the parameter ``size_parameter``)
``example_input``         one input of that size, to check a network builds
``augmentation``          the training augmentation for ``augment`` and the data
``preparer``              raw stored batch -> network input, on the device
``export_input``          what an exported graph does before the network
``memory_format``         the network's memory layout
========================  ==========================================================

The *data* a reader returns is a kind of data as ``_feeding`` describes it (load
by index, cache keys, size in bytes), so feeding, the feature cache and the
recipe serve every family alike.
"""

import torch


class Family:
    """A family of estimators, as the engine sees it (see the module docstring)."""

    name = "family"
    parameter_constraints = {}
    #: The parameter that sets the network's input size (named in messages).
    size_parameter = "input_size"
    memory_format = torch.contiguous_format

    def backbone(self, estimator):
        raise NotImplementedError

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

    def augmentation(self, augment, data):
        """Options for ``augment`` on ``data`` (``None``: none)."""
        return None

    def check_augmentation(self, augment):
        """Raise ``ValueError`` for ``augment`` values this family cannot use."""

    def preparer(self, reader, size, device, augmentation=None):
        raise NotImplementedError

    def export_input(self, reader, size):
        raise NotImplementedError
