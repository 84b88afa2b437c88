"""Batched inference through a network: the one path behind ``predict``,
``predict_proba``, ``transform`` and the validation of a training epoch.

A :class:`Runner` turns data (batches from a ``_feeding.Feeder``) into backbone
features or network outputs, batch by batch, in inference mode, under autocast, with
inference-mode BatchNorm folded into its convolutions.  It never changes the network
it runs: every pass goes through a *view* of it (``fusion.folded``) that shares the
network's tensors, so several threads may predict with one fitted estimator at once.
"""

import numpy as np
import torch

from ._fusion import folded, shallow_copy
from ._progress import EpochProgress


class Runner:
    """Inference for one network on one device.

    Parameters
    ----------
    net : FineTuneNet
        The network (``backbone`` then ``head``).
    prepare : callable
        Raw stored batch -> network input (``BatchPreparer``).
    compute : Compute
        The device and precision (``_device``).
    feeder : Feeder
        What gets batches onto the device (``_feeding``).
    batch_size : int
    verbose : int, default=0
        Progress of long passes (``_progress``); inference for ``predict`` is
        silent.
    units : (str, str), default=("images", "img")
        What the data's items are called in progress lines (texts, ...).
    """

    def __init__(
        self,
        *,
        net,
        prepare,
        compute,
        feeder,
        batch_size,
        verbose=0,
        units=("images", "img"),
    ):
        self.net = net
        self.units = units
        self.verbose = verbose
        self.prepare = prepare
        self.compute = compute
        self.device = compute.device
        self.feeder = feeder
        self.batch_size = batch_size

    def _run(self, module, data, indices, label, flip=False, head=None):
        if indices is None:
            indices = np.arange(len(data))
        indices = np.asarray(indices)
        # items of a kind with lengths (texts) run shortest first, so that each
        # batch pads to little more than its own items
        lengths = getattr(data, "lengths", None)
        order = None
        if lengths is not None and len(indices) > self.batch_size:
            order = np.argsort(lengths[indices], kind="stable")
            indices = indices[order]
        out = []
        with (
            torch.inference_mode(),
            EpochProgress(
                self.verbose, label, len(indices), units=self.units
            ) as progress,
        ):
            for raw in self.feeder.batches(data, indices, self.batch_size):
                x = self.prepare(raw)
                y = self._through(module, head, x)
                if flip:  # the mean over each image and its mirror image
                    y = (y + self._through(module, head, x.flip(-1))) / 2
                out.append(y)
                progress.update(len(raw))
        if not out:
            return torch.empty(0, device=self.device)
        out = torch.cat(out)
        if order is not None:  # back to the order asked for
            unsorted = torch.empty_like(out)
            unsorted[torch.as_tensor(order, device=out.device)] = out
            out = unsorted
        return out

    def _through(self, module, head, x):
        """``module`` at the network's precision, then ``head`` (if any) at the
        head's, on float32 features."""
        with self.compute.autocast():
            y = module(x).float()
        if head is None:
            return y
        with self.compute.head_autocast():
            return head(y).float()

    def features(self, data, indices=None):
        """Backbone outputs for ``data[indices]`` (all of it by default)."""
        return self._run(folded(self.net.backbone), data, indices, "features")

    def outputs(self, data, indices=None, flip=False):
        """Network outputs (the head's, before any link function); with ``flip``,
        averaged over each image and its horizontal mirror image.  The head
        computes on float32 features, as on stored ones (``head_outputs``)."""
        backbone = folded(self.net.backbone)
        head = shallow_copy(self.net.head).eval()
        return self._run(backbone, data, indices, "validation", flip, head)

    def head_outputs(self, features):
        """The head's outputs for stored backbone ``features``, at the precision of
        every other pass (so that predictions through the feature cache are those
        without it)."""
        head = shallow_copy(self.net.head).eval()
        features = torch.as_tensor(features, device=self.device).float()
        with torch.inference_mode(), self.compute.head_autocast():
            return head(features).float()
