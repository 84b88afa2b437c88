"""_backbones, torchvision's source: head replacement, blocks per family, weights
resolution."""

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import MobileNet_V2_Weights, ResNet18_Weights

from skfinetune._backbones import make_backbone
from skfinetune._backbones._rules import ChildBlocks
from skfinetune._backbones._torchvision import preprocessing_for, resolve_weights
from skfinetune._fine_tune import make_head


def build_network(name, weights=None, new_head=None):
    return make_backbone(name, weights).build(new_head)


FAMILIES = {
    # name: (blocks, features, input size)
    "resnet18": (5, 512, 64),
    "mobilenet_v2": (19, 1280, 64),
    "mobilenet_v3_small": (14, 1024, 64),
    "efficientnet_b0": (9, 1280, 64),
    "convnext_tiny": (9, 768, 64),
    "densenet121": (8, 1024, 64),
    "squeezenet1_1": (9, 512, 64),
    "shufflenet_v2_x0_5": (5, 1024, 64),
    "regnet_x_400mf": (5, 400, 64),
    "mnasnet0_5": (10, 1280, 64),
    "vgg11_bn": (9, 4096, 64),
    "googlenet": (12, 1024, 64),
    "swin_t": (8, 768, 64),
    "vit_b_16": (13, 768, 224),
}


@pytest.mark.filterwarnings("ignore::FutureWarning")  # googlenet's init notice
@pytest.mark.parametrize("name", FAMILIES)
def test_head_cut_and_blocks(name):
    n_blocks, n_features, size = FAMILIES[name]
    net, features = build_network(name, None, lambda n: make_head(n, 3, (8,), 0.1))
    blocks = net.blocks()
    assert (len(blocks), features) == (n_blocks, n_features)
    # every backbone parameter belongs to exactly one block
    ids = [id(p) for b in blocks for p in b.params]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in net.backbone.parameters()}
    net.eval()
    with torch.inference_mode():
        assert net.backbone(torch.zeros(2, 3, size, size)).shape == (2, n_features)
        assert net(torch.zeros(2, 3, size, size)).shape == (2, 3)


def test_blocks_follow_the_input_side_first():
    model = torchvision.models.resnet18(weights=None)
    model.fc = nn.Identity()
    names = [b.name for b in ChildBlocks("fc")(model)]
    assert names == ["conv1+bn1", "layer1", "layer2", "layer3", "layer4"]


def test_pretrained_hidden_layers_stay_in_backbone():
    net, _ = build_network("mobilenet_v3_small")
    blocks = net.blocks()
    assert blocks[-1].name == "classifier"
    assert isinstance(net.backbone.classifier[0], nn.Linear)  # 576 -> 1024 kept
    assert isinstance(net.backbone.classifier[3], nn.Identity)  # 1024 -> 1000 gone
    assert isinstance(net.backbone.classifier[2], nn.Identity)  # its dropout gone


def test_auxiliary_heads_removed():
    with pytest.warns(FutureWarning):
        net, _ = build_network("inception_v3", None, lambda n: make_head(n, 2, (), 0))
    assert net.backbone.AuxLogits is None and net.backbone.aux_logits is False
    net.train()
    out = net(torch.zeros(2, 3, 299, 299))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2)


def test_blocks_are_derived_from_the_module_after_pickling():
    import pickle

    net, _ = build_network("resnet18")
    twin = pickle.loads(pickle.dumps(net))
    assert [b.name for b in twin.blocks()] == [b.name for b in net.blocks()]
    params = {id(p) for p in twin.parameters()}
    assert all(id(p) in params for b in twin.blocks() for p in b.params)


def test_no_new_head_gives_the_pooled_features():
    net, features = build_network("resnet18")
    assert isinstance(net.head, nn.Identity)
    with torch.inference_mode():
        assert net.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, features)


def test_make_head():
    head = make_head(16, 3, (32, 8), 0.5)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [type(m).__name__ for m in make_head(16, 3, (), 0.0)] == ["Linear"]


def test_resolve_weights():
    assert resolve_weights("resnet18", "DEFAULT") == (ResNet18_Weights.DEFAULT, None)
    assert (
        resolve_weights("resnet18", "IMAGENET1K_V1")[0]
        is ResNet18_Weights.IMAGENET1K_V1
    )
    assert resolve_weights("resnet18", ResNet18_Weights.IMAGENET1K_V1)[0] is not None
    assert resolve_weights("resnet18", None) == (None, None)
    assert resolve_weights("resnet18", "w/model.pth")[1].name == "model.pth"
    with pytest.raises(ValueError, match="are not weights of backbone 'resnet18'"):
        resolve_weights("resnet18", MobileNet_V2_Weights.IMAGENET1K_V1)
    with pytest.raises(
        ValueError, match=r"expected one of \['DEFAULT', 'IMAGENET1K_V1'"
    ):
        resolve_weights("resnet18", "IMAGENET1K_V7")
    module = torchvision.models.resnet18(weights=None)
    make_backbone(module, "DEFAULT").check()
    with pytest.raises(ValueError, match="nn.Module"):
        make_backbone(module, "IMAGENET1K_V1").check()


def test_preprocessing_from_weights_transforms():
    pre = preprocessing_for("mobilenet_v2", MobileNet_V2_Weights.IMAGENET1K_V1)
    assert (pre.crop_size, pre.resize_size) == (224, 256)
    assert pre.mean == pytest.approx((0.485, 0.456, 0.406))
    # weights=None still knows the architecture's input size from its weights
    assert preprocessing_for("inception_v3", None).crop_size == 299
    assert preprocessing_for(None, None).crop_size == 224


def test_unreachable_weights_name_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(
        RuntimeError, match=r"resnet18-f37072fd\.pth into .*checkpoints"
    ):
        build_network("resnet18", ResNet18_Weights.IMAGENET1K_V1)


def test_weights_name_wins_over_a_file_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "DEFAULT").write_text("a file that happens to be called DEFAULT")
    assert resolve_weights("resnet18", "DEFAULT") == (ResNet18_Weights.DEFAULT, None)
    (tmp_path / "tuned").write_text("")
    assert resolve_weights("resnet18", "tuned") == (None, Path("tuned"))


def test_unreachable_weights_name_the_cached_ones(monkeypatch, tmp_path):
    """Offline, weights='DEFAULT' (IMAGENET1K_V2) is missing but IMAGENET1K_V1 of
    the same architecture is in the cache: the error says what to pass."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    v1 = MobileNet_V2_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    (tmp_path / "checkpoints" / v1).write_bytes(b"")

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(RuntimeError) as info:
        build_network("mobilenet_v2", "DEFAULT")
    message = str(info.value)
    assert "weights='DEFAULT' means IMAGENET1K_V2" in message
    assert "pass weights='IMAGENET1K_V1'" in message
