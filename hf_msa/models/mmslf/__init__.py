from .configuration_mmslf import MmslfConfig, MmslfStudentConfig, MmslfTeacherConfig
from .modeling_mmslf import MmslfModel, MmslfStudentForSentimentAnalysis, MmslfTeacherForSentimentAnalysis

__all__ = ["MmslfConfig", "MmslfModel", "MmslfStudentConfig", "MmslfStudentForSentimentAnalysis",
           "MmslfTeacherConfig", "MmslfTeacherForSentimentAnalysis"]
