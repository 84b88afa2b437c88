"""_backbones, timm's source: names, weights, preprocessing, groups as blocks."""

import sys

import numpy as np
import pytest
import torch

from skfinetune import FineTuneClassifier, PretrainedFeatures, load, save

timm = pytest.importorskip("timm")
from timm.models import group_parameters  # noqa: E402

from _tiny import TINY, make_images  # noqa: E402

#: tiny timm settings: random initialisation, 32 px (ViTs need their 224)
TIMM = dict(TINY, backbone="timm/convnext_atto", frozen_epochs=3, unfrozen_epochs=2)

MODELS = {
    # name: input size the architecture accepts in the test
    "convnext_atto": 32,
    "efficientnet_b0": 32,
    "resnet18": 32,
    "vit_tiny_patch16_224": 224,
}


@pytest.mark.parametrize("name", MODELS)
def test_blocks_are_timms_coarse_groups(name):
    size = MODELS[name]
    X, y = make_images(n_per_class=3, size=size)
    clf = FineTuneClassifier(
        **dict(TIMM, backbone=f"timm/{name}", image_size=size, unfrozen_epochs=1)
    ).fit(X, y)
    model = timm.create_model(name, num_classes=0)
    groups = group_parameters(model, model.group_matcher(coarse=True))
    blocks = clf.module_.blocks()
    assert clf.n_backbone_blocks_ == len(groups) == len(blocks)
    backbone = clf.module_.backbone
    named = {id(p): n for n, p in backbone.named_parameters()}
    for block, lid in zip(blocks, sorted(groups), strict=True):
        assert [named[id(p)] for p in block.params] == groups[lid]
    # every parameter in exactly one block; each block's modules hold only its own
    ids = [id(p) for b in blocks for p in b.params]
    assert sorted(ids) == sorted(named)
    for block in blocks:
        own = {id(p) for p in block.params}
        assert all(id(p) in own for m in block.modules for p in m.parameters())
    assert clf.predict(X).shape == (len(X),)


def test_fit_predict_transform_and_depths(image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**TIMM).fit(X, y)
    assert clf.n_backbone_blocks_ == 6  # stem, 4 stages, final norm
    assert clf.score(X, y) >= 0.9
    assert clf.predict_proba(X).shape == (len(X), 2)
    features = PretrainedFeatures("timm/convnext_atto", weights=None, image_size=32)
    assert features.fit_transform(X).shape == (len(X), 320)
    assert features.n_backbone_blocks_ == 6


@pytest.mark.parametrize("depth", [2, "auto", "all"])
def test_freeze_depth_counts_timm_groups(image_arrays, depth):
    X, y = image_arrays
    clf = FineTuneClassifier(
        **dict(TIMM, freeze_depth=depth, layer_decay=0.5, random_state=1)
    )
    clf.fit(X, y)
    frozen = {"all": 6, "auto": 2, 2: 2}[depth]  # 0.5**4 < 0.1: 4 trained with auto
    pristine = PretrainedFeatures("timm/convnext_atto", weights=None, random_state=1)
    reference = pristine.fit(X[:2]).module_.backbone
    reference_params = dict(reference.named_parameters())
    for i, block in enumerate(clf.module_.blocks()):
        names = {
            n
            for n, p in clf.module_.backbone.named_parameters()
            if any(p is q for q in block.params)
        }
        same = all(
            torch.equal(
                dict(clf.module_.backbone.named_parameters())[n].cpu(),
                reference_params[n],
            )
            for n in names
        )
        assert same == (i < frozen), (i, block.name)


def test_preprocessing_from_pretrained_cfg():
    from timm.data import resolve_data_config

    X, _ = make_images(n_per_class=1)
    features = PretrainedFeatures("timm/efficientnet_b0.ra_in1k", weights=None)
    features.fit(X)
    config = resolve_data_config(
        pretrained_cfg=timm.models.get_pretrained_cfg(
            "efficientnet_b0.ra_in1k"
        ).to_dict()
    )
    reader = features._input
    assert features.image_size_ == config["input_size"][-1] == 224
    assert reader.store_size == round(224 / config["crop_pct"]) == 256
    assert reader.mean == pytest.approx(config["mean"])
    assert reader.std == pytest.approx(config["std"])
    assert reader.interpolation == config["interpolation"] == "bicubic"
    # explicit mean/std win over the checkpoint's
    features.set_params(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)).fit(X)
    assert features._input.mean == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_file_with_or_without_classifier(tmp_path, image_arrays, suffix):
    X, y = image_arrays
    torch.manual_seed(3)
    source = timm.create_model("convnext_atto", num_classes=7)  # its own classifier
    path = tmp_path / f"atto{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    features = PretrainedFeatures("timm/convnext_atto", weights=str(path))
    features.fit(X[:2])
    loaded = features.module_.backbone.state_dict()
    for key, value in loaded.items():
        torch.testing.assert_close(value, state[key])
    assert not any(key.startswith("head.fc") for key in loaded)
    other = timm.create_model("resnet18")
    torch.save(other.state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(ValueError, match="does not fit backbone 'timm/convnext_atto'"):
        PretrainedFeatures(
            "timm/convnext_atto", weights=str(tmp_path / "resnet.pth")
        ).fit(X[:2])


def _fake_hub_cache(tmp_path, repo, state):
    from safetensors.torch import save_file

    folder = tmp_path / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0123abcd")
    save_file(state, str(snapshot / "model.safetensors"))


def test_default_weights_come_from_the_hub_cache_without_network(
    tmp_path, monkeypatch, image_arrays
):
    import huggingface_hub.constants as hub

    torch.manual_seed(5)
    pretrained = timm.create_model("convnext_atto")
    state = {k: v.contiguous() for k, v in pretrained.state_dict().items()}
    _fake_hub_cache(tmp_path, "timm/convnext_atto.d2_in1k", state)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    X, _ = image_arrays
    features = PretrainedFeatures("timm/convnext_atto", image_size=32).fit(X[:2])
    got = features.module_.backbone.state_dict()
    torch.testing.assert_close(got["stem.0.weight"], state["stem.0.weight"])


def test_offline_default_weights_name_the_cache(tmp_path, monkeypatch, image_arrays):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    X, y = image_arrays
    with pytest.raises(RuntimeError) as info:
        FineTuneClassifier("timm/convnext_atto", image_size=32).fit(X, y)
    message = str(info.value)
    assert "timm/convnext_atto.d2_in1k" in message
    assert str(tmp_path) in message and "weights='path/to/model.safetensors'" in message


def test_clear_errors(image_arrays, monkeypatch):
    X, y = image_arrays
    with pytest.raises(ValueError, match="Unknown timm model 'convnext_atom'"):
        FineTuneClassifier("timm/convnext_atom", weights=None).fit(X, y)
    with pytest.raises(ValueError, match="timm has no pretrained tag"):
        FineTuneClassifier("timm/convnext_atto.nope", weights=None).fit(X, y)
    with pytest.raises(ValueError, match="'DEFAULT' .*None .*path"):
        FineTuneClassifier("timm/convnext_atto", weights="IMAGENET1K_V1").fit(X, y)
    with pytest.raises(ValueError, match="'timm/<name>'"):
        FineTuneClassifier("convnext_atto", weights=None).fit(X, y)
    with pytest.raises(ValueError, match="image_size=32 does not suit backbone"):
        FineTuneClassifier(
            "timm/vit_tiny_patch16_224", weights=None, image_size=32
        ).fit(X, y)
    monkeypatch.setitem(sys.modules, "timm", None)  # as if not installed
    with pytest.raises(ImportError, match=r"needs timm: pip install timm\."):
        FineTuneClassifier("timm/convnext_atto", weights=None).fit(X, y)


def test_save_and_load_round_trip(tmp_path, image_arrays):
    X, y = image_arrays
    clf = FineTuneClassifier(**dict(TIMM, backbone="timm/efficientnet_b0")).fit(X, y)
    loaded = load(save(clf, tmp_path / "model.safetensors"))
    np.testing.assert_allclose(
        loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    assert loaded._input.interpolation == "bicubic"
    assert loaded.n_backbone_blocks_ == clf.n_backbone_blocks_
