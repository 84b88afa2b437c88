"""skfinetune: fine-tune pretrained image and text models as scikit-learn
estimators."""

from ._batch import predict_files
from ._classifier import FineTuneClassifier
from ._display import TopLossesDisplay, TrainingHistoryDisplay
from ._features import PretrainedFeatures
from ._onnx import onnx_input, to_onnx
from ._persistence import load, save
from ._regressor import FineTuneRegressor
from ._text_classifier import FineTuneTextClassifier
from ._text_features import PretrainedTextFeatures
from ._text_regressor import FineTuneTextRegressor
from ._vision.folder import load_image_folder

__version__ = "0.5.0"

__all__ = [
    "FineTuneClassifier",
    "FineTuneRegressor",
    "FineTuneTextClassifier",
    "FineTuneTextRegressor",
    "PretrainedFeatures",
    "PretrainedTextFeatures",
    "TopLossesDisplay",
    "TrainingHistoryDisplay",
    "load_image_folder",
    "load",
    "onnx_input",
    "predict_files",
    "save",
    "to_onnx",
    "__version__",
]
