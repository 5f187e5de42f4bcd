from .configuration_lnln import LnlnConfig
from .modeling_lnln import LnlnForSentimentAnalysis, LnlnModel, LnlnModelOutput, LnlnOutput, LnlnPreTrainedModel

__all__ = ["LnlnConfig", "LnlnForSentimentAnalysis", "LnlnModel", "LnlnModelOutput", "LnlnOutput",
           "LnlnPreTrainedModel"]
