from .configuration_dib import DibConfig
from .modeling_dib import DibForSentimentAnalysis, DibModel, DibModelOutput, DibPreTrainedModel

__all__ = ["DibConfig", "DibForSentimentAnalysis", "DibModel", "DibModelOutput", "DibPreTrainedModel"]
