"""skorch: the FineTuner callback, with skorch's own NeuralNetClassifier."""

import numpy as np
import pytest
import torch
import torchvision
from sklearn.base import clone
from torch import nn

from skfinetune import FineTuneClassifier

skorch = pytest.importorskip("skorch")

from skfinetune._backbones import classifier_blocks  # noqa: E402
from skfinetune.skorch import FineTuner  # noqa: E402


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3, 32, 32)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, :, :16] += 1.0  # learnable
    return X, y


def _resnet(n_classes=2):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, n_classes)
    return model


def _net(model, tuner, max_epochs=3, **kwargs):
    return skorch.NeuralNetClassifier(
        model,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        lr=0.05,
        max_epochs=max_epochs,
        batch_size=8,
        train_split=None,
        verbose=0,
        callbacks=[tuner],
        **kwargs,
    )


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before, model, prefix):
    after = model.state_dict()
    return any(
        not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)
    )


def test_blocks_are_counted_as_in_fine_tune_classifier():
    model = _resnet()
    blocks, head = classifier_blocks(model)
    assert head is model.fc
    clf = FineTuneClassifier("resnet18", weights=None, image_size=32, frozen_epochs=1)
    clf.set_params(unfrozen_epochs=0).fit(*_image_arrays())
    assert len(blocks) == clf.n_backbone_blocks_
    assert [b.name for b in blocks] == [b.name for b in clf.module_.blocks()]
    # MobileNetV3: the pretrained hidden layer of the old head is a backbone block
    v3 = torchvision.models.mobilenet_v3_small(weights=None)
    v3.classifier[-1] = nn.Linear(v3.classifier[-1].in_features, 2)
    blocks, head = classifier_blocks(v3)
    assert head is v3.classifier[-1]
    assert blocks[-1].params[0] is v3.classifier[0].weight


def _image_arrays():
    X, y = _data(8)
    return (np.clip(X.transpose(0, 2, 3, 1) * 40 + 128, 0, 255)).astype(np.uint8), y


def test_head_epochs_change_only_the_head():
    model = _resnet()
    before = _snapshot(model)
    net = _net(model, FineTuner(frozen_epochs=2), max_epochs=2).fit(*_data())
    assert net.history[:, "phase"] == ["frozen", "frozen"]
    assert _changed(before, model, "fc.")
    for key in before:
        if not key.startswith("fc.") and "num_batches_tracked" not in key:
            assert torch.equal(before[key], model.state_dict()[key]), key


def test_unfrozen_epochs_train_blocks_from_freeze_depth_at_their_rate():
    model = _resnet()
    tuner = FineTuner(frozen_epochs=1, freeze_depth=3, unfrozen_lr=0.01)
    before = _snapshot(model)
    net = _net(model, tuner, max_epochs=3).fit(*_data())
    assert net.history[:, "phase"] == ["frozen", "unfrozen", "unfrozen"]
    names = [b.name for b in tuner.blocks_]
    assert names[:4] == ["conv1+bn1", "layer1", "layer2", "layer3"]
    assert not _changed(before, model, "conv1.")
    assert not _changed(before, model, "layer2.")  # block 2 < freeze_depth
    assert _changed(before, model, "layer3.0.conv1.")
    assert _changed(before, model, "layer4.")
    # BatchNorm keeps its pretrained statistics (train_batchnorm=False)
    for key in before:
        if "running_" in key:
            assert torch.equal(before[key], model.state_dict()[key]), key
    assert [g["lr"] for g in net.optimizer_.param_groups] == [0.01]
    assert all(p.requires_grad for p in model.parameters())  # restored after fit


def test_train_batchnorm_updates_statistics_of_unfrozen_blocks_only():
    model = _resnet()
    before = _snapshot(model)
    tuner = FineTuner(frozen_epochs=1, freeze_depth=3, train_batchnorm=True)
    _net(model, tuner, max_epochs=2).fit(*_data())
    assert not _changed(before, model, "bn1.running_mean")
    assert not _changed(before, model, "layer2.0.bn1.running_mean")
    assert _changed(before, model, "layer4.0.bn1.running_mean")


def test_all_frozen_and_default_unfrozen_lr():
    model = _resnet()
    before = _snapshot(model)
    net = _net(model, FineTuner(frozen_epochs=1, freeze_depth="all"), max_epochs=2)
    net.fit(*_data())
    assert net.history[-1, "phase"] == "unfrozen"
    assert not _changed(before, model, "layer4.")
    assert net.optimizer_.param_groups[0]["lr"] == pytest.approx(0.005)  # lr / 10


def test_partial_fit_continues_in_the_unfrozen_phase():
    model = _resnet()
    net = _net(model, FineTuner(frozen_epochs=1), max_epochs=1).fit(*_data())
    before = _snapshot(model)
    net.partial_fit(*_data())
    assert net.history[:, "phase"] == ["frozen", "unfrozen"]
    assert _changed(before, model, "layer1.")


def test_clone_and_learning():
    X, y = _data(32)
    net = _net(_resnet(), FineTuner(frozen_epochs=2, freeze_depth=2), max_epochs=4)
    cloned = clone(net)
    assert cloned.callbacks[0].get_params() == {
        "frozen_epochs": 2,
        "freeze_depth": 2,
        "unfrozen_lr": None,
        "train_batchnorm": False,
        "layer_decay": 1.0,
        "head": None,
    }
    cloned.fit(X, y)
    assert cloned.history[-1, "train_loss"] < cloned.history[0, "train_loss"]


def test_clear_errors():
    with pytest.raises(ValueError, match=r"freeze_depth=99 is out of range.*0\.\.5"):
        _net(_resnet(), FineTuner(freeze_depth=99)).fit(*_data())
    with pytest.raises(ValueError, match="Cannot find the classification head"):
        classifier_blocks(nn.Sequential(nn.Conv2d(3, 2, 3)))
    squeeze = torchvision.models.squeezenet1_1(weights=None)
    with pytest.raises(ValueError, match=r"end in an nn\.Linear.*model\.classifier ="):
        classifier_blocks(squeeze)
    with pytest.raises(ValueError, match="unfrozen_lr must be"):
        _net(_resnet(), FineTuner(unfrozen_lr=-1)).fit(*_data())


def test_auto_depth_and_layer_decay_as_in_fine_tune_classifier(image_arrays):
    model = _resnet()
    tuner = FineTuner(frozen_epochs=1, freeze_depth="auto", layer_decay=0.5)
    net = _net(model, tuner, max_epochs=2).fit(*_data())
    # ResNet-18 has 5 blocks; 0.5**4 < 0.1, so "auto" trains the last 4 — what
    # FineTuneClassifier's phase 2 trains with the same settings
    settings = dict(
        weights=None, image_size=32, layer_decay=0.5, frozen_epochs=0, random_state=0
    )
    clf = FineTuneClassifier("resnet18", **settings, unfrozen_epochs=1)
    start = FineTuneClassifier("resnet18", **settings, unfrozen_epochs=0)
    before = start.fit(*image_arrays).module_.backbone.state_dict()
    after = clf.fit(*image_arrays).module_.backbone.state_dict()
    moved = [
        not torch.equal(after[k], before[k])
        for k in ("conv1.weight", "layer1.0.conv1.weight")
    ]
    assert moved == [False, True]
    assert net.history[-1, "phase"] == "unfrozen"
    lrs = [group["lr"] for group in net.optimizer_.param_groups]
    assert lrs == pytest.approx([0.005, 0.005, 0.0025, 0.00125, 0.000625])
    frozen = {id(p) for p in tuner.blocks_[0].params}
    trained = {id(p) for group in net.optimizer_.param_groups for p in group["params"]}
    assert len(tuner.blocks_) == 5 and not frozen & trained
