"""Where ``FineTuneNet`` lived in skfinetune 0.1: kept so that estimators pickled
by that version (``joblib.dump``) still load.  Networks come from
``skfinetune._backbones``."""

from .._backbones._network import FineTuneNet

__all__ = ["FineTuneNet"]
