"""skfinetune: fine-tune pretrained torchvision CNNs as scikit-learn estimators."""

import os as _os
import sys as _sys

# OpenMP threads that spin while they wait hold a core another process needs: on a
# busy machine fits ran many times slower.  Passive waiting costs nothing measurable
# on an idle one.  OpenMP reads the setting when torch loads, so it is asked for only
# if torch is not loaded yet and the user has not chosen (docs: "Performance").
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._classifier import FineTuneClassifier
from ._features import PretrainedFeatures
from ._regressor import FineTuneRegressor
from ._vision.folder import load_image_folder

__version__ = "0.1.0.dev0"

__all__ = [
    "FineTuneClassifier",
    "FineTuneRegressor",
    "PretrainedFeatures",
    "load_image_folder",
    "__version__",
]
