"""
A timm backbone, and your own weights file
==========================================

Any model of `timm <https://huggingface.co/docs/timm>`_ is a backbone by name:
``FineTuneClassifier("timm/convnext_atto")``.  Its checkpoint's own preprocessing
(input size, crop, mean and std, bicubic resampling) comes from timm's
``pretrained_cfg``, and ``freeze_depth`` counts timm's own coarse groups (the stem,
each stage, the final norm), so ``"auto"``, a grid search over the depth and the
displays work as with torchvision's models.

This example needs ``pip install timm``.  To stay fast and offline it
starts from **random weights** (``weights=None``) at 96 px, so its accuracy says
nothing about ConvNeXt: with ``weights="DEFAULT"`` (timm's pretrained checkpoint,
from the Hugging Face cache or downloaded) or a weights file, as below, the same
code fine-tunes a pretrained model.
"""

# %%
import os
import sys
import tempfile
from pathlib import Path

import timm
import torch

from skfinetune import FineTuneClassifier, load_image_folder

shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
X_train, y_train = load_image_folder(root / "train")
X_val, y_val = load_image_folder(root / "val")

# %%
# A timm name, random initialisation, small images for speed.
clf = FineTuneClassifier(
    "timm/convnext_atto",
    weights=None,
    image_size=96,
    frozen_epochs=5,
    unfrozen_epochs=2,
    random_state=0,
)
clf.fit(X_train, y_train)
print(f"blocks (timm's groups): {[b.name for b in clf.module_.blocks()]}")
print(f"validation accuracy from random weights: {clf.score(X_val, y_val):.3f}")

# %%
# Weights you have as a file: a state dict (``torch.save``) or a safetensors file
# of the architecture, e.g. a checkpoint downloaded on another machine.  Its
# classification layer, if any, is left out; everything else must fit.
folder = tempfile.mkdtemp()
weights_file = os.path.join(folder, "convnext_atto.pth")
torch.save(timm.create_model("convnext_atto").state_dict(), weights_file)
from_file = FineTuneClassifier(
    "timm/convnext_atto",
    weights=weights_file,
    image_size=96,
    frozen_epochs=5,
    unfrozen_epochs=0,
    random_state=0,
).fit(X_train, y_train)
print(f"head-only model on the file's weights: {from_file.score(X_val, y_val):.3f}")
