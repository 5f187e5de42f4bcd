from .configuration_dashfusion import DashFusionConfig
from .modeling_dashfusion import DashFusionForSentimentAnalysis, DashFusionModel

__all__ = ["DashFusionConfig", "DashFusionForSentimentAnalysis", "DashFusionModel"]
