from .configuration_cyin import CyinConfig
from .modeling_cyin import CyinForSentimentAnalysis, CyinModel, CyinStageCallback

__all__ = ["CyinConfig", "CyinForSentimentAnalysis", "CyinModel", "CyinStageCallback"]
