"""_backbones, a user's module: heads by name or rule, blocks, preprocessing."""

import numpy as np
import pytest
import torch
from torch import nn

from skfinetune import FineTuneClassifier, PretrainedFeatures, save

from _tiny import TINY


class MBConv(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self._depthwise_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self._bn1 = nn.BatchNorm2d(channels)

    def forward(self, x):
        return x + torch.relu(self._bn1(self._depthwise_conv(x)))


class EfficientNetLike(nn.Module):
    """The layout of the EfficientNet implementations on PyPI: a ``_fc`` head, a
    ``_blocks`` ModuleList applied in a loop, attributes with leading underscores."""

    def __init__(self, n_blocks=4, n_classes=10):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self._bn0 = nn.BatchNorm2d(8)
        self._blocks = nn.ModuleList(MBConv(8) for _ in range(n_blocks))
        self._conv_head = nn.Conv2d(8, 16, 1)
        self._bn1 = nn.BatchNorm2d(16)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(16, n_classes)

    def forward(self, x):
        x = torch.relu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = torch.relu(self._bn1(self._conv_head(x)))
        x = self._dropout(self._avg_pooling(x).flatten(1))
        return self._fc(x)


@pytest.mark.parametrize("head", ["_fc", None])  # named, or found as the last Linear
def test_module_with_fc_head_fine_tunes_freezes_and_predicts(image_arrays, head):
    X, y = image_arrays
    module = EfficientNetLike()
    original = {k: v.clone() for k, v in module.state_dict().items()}
    clf = FineTuneClassifier(
        **dict(TINY, backbone=module, weights="DEFAULT", head=head, freeze_depth=3)
    ).fit(X, y)
    names = [b.name for b in clf.module_.blocks()]
    assert names == [
        "_conv_stem+_bn0",
        "_blocks.0",
        "_blocks.1",
        "_blocks.2",
        "_blocks.3",
        "_conv_head+_bn1",
    ]
    assert isinstance(clf.module_.backbone._fc, nn.Identity)
    assert clf.predict(X).shape == (len(X),)
    trained = clf.module_.backbone.state_dict()
    for key, value in original.items():
        if key.startswith("_fc"):
            continue
        frozen = key.startswith(("_conv_stem", "_bn0", "_blocks.0", "_blocks.1"))
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        assert torch.equal(trained[key].cpu(), value) == frozen, key
    # the user's module is never changed
    assert all(torch.equal(module.state_dict()[k], v) for k, v in original.items())


def test_nested_head_path_and_bad_paths(image_arrays):
    X, y = image_arrays
    model = nn.Sequential()
    model.add_module("stem", nn.Conv2d(3, 4, 3))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    model.add_module("classifier", nn.Sequential(nn.Dropout(0.1), nn.Linear(4, 3)))
    features = PretrainedFeatures(model, image_size=16, head="classifier.1").fit(X)
    assert features.n_features_out_ == 4
    assert isinstance(features.module_.backbone.classifier[0], nn.Identity)
    with pytest.raises(ValueError, match=r"head='_head' is not a sub-module.*stem"):
        PretrainedFeatures(model, image_size=16, head="_head").fit(X)
    with pytest.raises(ValueError, match="Leave head=None"):
        PretrainedFeatures("resnet18", weights=None, head="fc").fit(X)
    no_linear = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ValueError, match=r"no nn.Linear; name it with head="):
        PretrainedFeatures(no_linear, image_size=16).fit(X)

    class UnusedFc(nn.Module):  # ``fc`` exists but forward never reaches it
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(99, 2)

        def forward(self, x):
            return self.conv(x).mean((2, 3))

    with pytest.raises(ValueError, match=r"outputs shape \(1, 4\).*\(batch, 99\)"):
        PretrainedFeatures(UnusedFc(), image_size=16).fit(X)


def test_module_preprocessing_is_explicit(image_arrays):
    X, _ = image_arrays
    features = PretrainedFeatures(EfficientNetLike()).fit(X[:2])
    assert (features.image_size_, features._input.store_size) == (224, 256)
    assert features._input.mean == pytest.approx((0.485, 0.456, 0.406))
    features.set_params(image_size=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    features.fit(X[:2])
    assert (features.image_size_, features._input.store_size) == (64, 73)
    assert features._input.std == (0.5, 0.5, 0.5)
    for bad in [(0.5, 0.5), (1, 1, 0), "imagenet"]:
        with pytest.raises(ValueError, match="std.* must be"):
            features.set_params(std=bad).fit(X[:2])


def test_a_timm_module_is_read_as_timm(image_arrays):
    timm = pytest.importorskip("timm")
    X, y = image_arrays
    module = timm.create_model("convnext_atto", num_classes=5)
    clf = FineTuneClassifier(**dict(TINY, backbone=module)).fit(X, y)
    assert clf.n_backbone_blocks_ == 6  # timm's groups
    assert clf._input.interpolation == "bicubic"  # its pretrained_cfg
    assert clf.predict(X).shape == (len(X),)


def test_module_backbones_are_not_saved_but_say_why(tmp_path, image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TINY, backbone=EfficientNetLike())).fit(X, y)
    with pytest.raises(TypeError, match="custom nn.Module.*'timm/convnext_atto'"):
        save(clf, tmp_path / "model.safetensors")
    np.testing.assert_array_equal(clf.predict(X), clf.predict(X))


def test_feature_cache_key_follows_weights_and_head(tmp_path):
    """The ``memory`` key of a module backbone: its weights (a file by path and
    modification time) and head — the same rule as timm names'."""
    import os

    from skfinetune._backbones import make_backbone

    module = EfficientNetLike()
    file = tmp_path / "w.pth"
    torch.save(module.state_dict(), file)
    key = make_backbone(module, str(file)).cache_key()
    assert key == make_backbone(module, str(file)).cache_key()
    os.utime(file, (1, 1))  # the file changed: its features are other features
    assert make_backbone(module, str(file)).cache_key() != key
    keys = {
        make_backbone(module, w, head=h).cache_key()
        for w in (None, "DEFAULT")
        for h in (None, "_fc")
    }
    assert len(keys) == 4
    with pytest.raises(ValueError, match="keep the module's weights"):
        make_backbone(module, "IMAGENET1K_V1").check()
