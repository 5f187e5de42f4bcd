from .configuration_midg import MidgConfig
from .modeling_midg import MidgForSentimentAnalysis, MidgModel

__all__ = ["MidgConfig", "MidgForSentimentAnalysis", "MidgModel"]
