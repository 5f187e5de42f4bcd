from .configuration_hme import HmeConfig
from .modeling_hme import HmeForSentimentAnalysis, HmeModel, HmeOptimizerResetCallback

__all__ = ["HmeConfig", "HmeForSentimentAnalysis", "HmeModel", "HmeOptimizerResetCallback"]
