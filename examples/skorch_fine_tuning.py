"""
skfinetune's schedule in skorch
===============================

For users who already train with skorch: the ``FineTuner`` callback gives a
skorch ``NeuralNetClassifier`` skfinetune's recipe — the torchvision model's
backbone frozen while the new head trains, then unfrozen from ``freeze_depth``
on at a lower rate, with frozen BatchNorm layers kept in inference mode.

``FineTuneClassifier`` computes the frozen backbone's features once instead of
every head epoch, runs its own recipe (the linear probe, then phase 2 where it
gains) and passes scikit-learn's checks; use the callback where the rest of your
training is skorch's (its callbacks, datasets, custom modules).  ``pip install
skorch``; it runs at 128 px to stay short.
"""

# %%
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from skorch import NeuralNetClassifier

from skfinetune import load_image_folder
from skfinetune.skorch import FineTuner

# the shared photo collections (SKFINETUNE_DATA: where they are elsewhere)
shared = Path(os.environ.get("SKFINETUNE_DATA", "../shared/data"))
root = Path(sys.argv[1]) if len(sys.argv) > 1 else shared / "hymenoptera_data"
paths_train, y_train = load_image_folder(root / "train")
paths_val, y_val = load_image_folder(root / "val")

# %%
# skorch takes tensors: decode the images with the weights' own transforms.
weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
transform = weights.transforms(crop_size=128, resize_size=146)


def decode(paths):
    return torch.stack(
        [
            transform(
                torchvision.io.decode_image(
                    str(p), mode=torchvision.io.ImageReadMode.RGB
                )
            )
            for p in paths
        ]
    )


classes, y_train_codes = np.unique(y_train, return_inverse=True)
X_train, X_val = decode(paths_train), decode(paths_val)

# %%
# The model: pretrained MobileNetV2 with a new last layer for two classes.
torch.manual_seed(0)
model = torchvision.models.mobilenet_v2(weights=weights)
model.classifier[-1] = torch.nn.Linear(model.last_channel, len(classes))
net = NeuralNetClassifier(
    model,
    criterion=torch.nn.CrossEntropyLoss,
    optimizer=torch.optim.AdamW,
    lr=1e-3,
    max_epochs=4,
    batch_size=32,
    iterator_train__shuffle=True,
    train_split=None,
    callbacks=[FineTuner(frozen_epochs=3, freeze_depth=10, unfrozen_lr=3e-5)],
)
net.fit(X_train, y_train_codes)
print("phases:", net.history[:, "phase"])
accuracy = np.mean(classes[net.predict(X_val)] == y_val)
print(f"validation accuracy: {accuracy:.4f}")
