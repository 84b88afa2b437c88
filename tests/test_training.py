"""_training: early-stopping snapshots, trainable blocks, train/eval modes."""

import copy
import sys

import pytest
import torch
from torch import nn

from skfinetune._backbones import make_backbone
from skfinetune._fine_tune import make_head
from skfinetune._training import EarlyStopping, set_train_mode, set_trainable


def _resnet(hidden):
    net, _ = make_backbone("resnet18", None).build(lambda n: make_head(n, 2, hidden, 0))
    return net, net.blocks()


def _fused_adam(params, lr):
    return torch.optim.Adam(params, lr=lr, fused=True)  # writes without a version bump


_OLD_TORCH = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < (
    2,
    4,
)


@pytest.mark.parametrize(
    "optimizer",
    [
        torch.optim.SGD,
        torch.optim.Adam,
        pytest.param(
            _fused_adam,
            marks=pytest.mark.skipif(
                _OLD_TORCH, reason="fused Adam on the CPU needs torch 2.4"
            ),
        ),
    ],
)
def test_snapshot_copies_exactly_what_changed(optimizer):
    net, blocks = _resnet((8,))
    stopper = EarlyStopping(patience=2)
    stopper.update(1.0, net)
    first = {k: v.clone() for k, v in stopper.best_state.items()}
    # train the head only, with BatchNorm updating statistics in train mode
    set_trainable(blocks, len(blocks))
    opt = optimizer(net.head.parameters(), lr=0.1)
    net.train()
    net(torch.randn(4, 3, 32, 32)).sum().backward()
    opt.step()
    copied = []
    snapshot = stopper._snapshot

    def spy(model):
        before = dict(stopper.best_state)
        snapshot(model)
        copied.extend(k for k in before if stopper.best_state[k] is not before[k])

    stopper._snapshot = spy
    assert stopper.update(0.5, net) is False
    expected = copy.deepcopy(net.state_dict())
    for key, value in expected.items():
        torch.testing.assert_close(stopper.best_state[key], value)
    assert any(k.startswith("head.") for k in copied)
    assert any("running_mean" in k for k in copied)  # buffers always copied
    assert not any(k.endswith("conv1.weight") for k in copied)  # frozen: not copied
    assert not torch.equal(first["head.0.weight"], stopper.best_state["head.0.weight"])


def test_restore_and_patience():
    net = nn.Linear(2, 2)
    stopper = EarlyStopping(patience=2)
    stopper.update(1.0, net)
    best = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1)
    assert stopper.update(2.0, net) is False
    assert stopper.update(3.0, net) is True
    stopper.restore(net)
    torch.testing.assert_close(net.weight, best)
    stopper.start_phase()
    assert stopper.bad_epochs == 0


def test_set_trainable_and_train_mode():
    net, blocks = _resnet(())
    trainable = set_trainable(blocks, 2)
    assert [b.name for b in trainable] == ["layer2", "layer3", "layer4"]
    assert not any(p.requires_grad for p in blocks[1].params)
    assert all(p.requires_grad for p in blocks[2].params)
    set_train_mode(net, blocks, 2, train_batchnorm=True)
    assert not net.backbone.layer1[0].bn1.training
    assert net.backbone.layer2[0].bn1.training and net.head.training
    set_train_mode(net, blocks, 2, train_batchnorm=False)
    assert not net.backbone.layer2[0].bn1.training
    assert net.backbone.layer2.training  # only BatchNorm is held in inference mode
    set_train_mode(net, blocks, 5, train_batchnorm=True)
    assert not net.backbone.training and net.head.training


def test_warmup_cosine_schedule():
    from skfinetune._optim import warmup_cosine

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    scheduler = warmup_cosine(opt, n_steps=20, warmup_fraction=0.1)
    rates = []
    for _ in range(20):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert rates[:2] == pytest.approx([0.5, 1.0])  # two warm-up steps
    assert max(rates) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[1:], rates[2:], strict=False))
    assert rates[-1] < 0.02  # decayed to (nearly) zero by the last step


def test_weight_decay_reaches_the_optimizers():
    from skfinetune._optim import make_optimizer

    param = torch.nn.Parameter(torch.zeros(1))
    for name in ("sgd", "adam", "adamw"):
        opt = make_optimizer(name, [param], 0.1, 0.9, weight_decay=0.01)
        assert opt.param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("version", ["2.2.0+cu121", None])
def test_fused_adam_only_where_torch_has_it_for_the_device(monkeypatch, version):
    """Before torch 2.4, ``fused=True`` on the CPU is accepted and fails at the
    first step: the optimizer asks for fused kernels only where they exist (an
    old torch stood for by its version; ``None``: the installed one)."""
    from skfinetune._optim import _torch_version, make_optimizer

    if version is not None:
        monkeypatch.setattr(torch, "__version__", version)
    param = torch.nn.Parameter(torch.ones(3))
    for name in ("adam", "adamw"):
        opt = make_optimizer(name, [{"params": [param], "lr": 0.1}], 0.1, 0.9)
        if _torch_version() < (2, 4):
            assert not opt.defaults["fused"]
        param.grad = torch.ones(3)
        opt.step()  # the first step is where an unsupported kernel fails


def test_host_syncs_grow_with_epochs_not_batches(image_arrays, monkeypatch):
    """Reading a value back from the device (``item``, ``cpu``, ``numpy``,
    ``tolist``) waits for the GPU; a fit may do it per epoch, never per batch."""
    from skfinetune import FineTuneClassifier

    from _tiny import TINY

    calls = []
    for name in ("item", "cpu", "numpy", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("skfinetune"):  # the package's own reads, not
                calls.append(1)  # an optimizer's (torch < 2.4 counts steps so)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)

    def syncs(batch_size, epochs):
        calls.clear()
        params = dict(TINY, batch_size=batch_size)
        params.update(frozen_epochs=epochs, unfrozen_epochs=epochs)
        FineTuneClassifier(**params).fit(*image_arrays)
        return len(calls)

    few_batches, many_batches = syncs(12, 2), syncs(4, 2)  # 2 vs 6 batches/epoch
    assert many_batches == few_batches
    # 2 more epochs in each phase: per epoch, the epoch's loss and the shuffled
    # order (drawn by a CPU generator, so no device sync) — nothing per batch
    assert syncs(12, 4) - few_batches == 2 * 2 * 2


def test_training_batches_prefetch_in_a_thread_as_inference_does(
    image_folder, monkeypatch
):
    """With prefetching (on a GPU), training batches load in a helper thread
    while the previous one trains; the fitted model is the same as without."""
    import threading

    from skfinetune import FineTuneClassifier, load_image_folder
    from skfinetune._inference import Runner
    from skfinetune._vision.images import PathImages

    from _tiny import TINY

    X, y = load_image_folder(image_folder)
    params = dict(TINY, cache_size=0, frozen_epochs=1, unfrozen_epochs=2)
    plain = FineTuneClassifier(**params).fit(X, y).predict_proba(X)

    threads = []
    load = PathImages.load

    def recorded(self, indices):
        threads.append(threading.current_thread() is threading.main_thread())
        return load(self, indices)

    runner_init = Runner.__init__

    def prefetching(self, **kwargs):
        runner_init(self, **kwargs)
        self.feeder.prefetch = True  # as on a GPU

    monkeypatch.setattr(PathImages, "load", recorded)
    monkeypatch.setattr(Runner, "__init__", prefetching)
    clf = FineTuneClassifier(**params).fit(X, y)
    training = [h for h in clf.history_ if h["phase"] == "unfrozen"]
    assert len(training) == 2 and threads and not any(threads)
    torch.testing.assert_close(
        torch.as_tensor(clf.predict_proba(X)), torch.as_tensor(plain)
    )
