"""hf_msa: multimodal sentiment analysis methods as transformers models.

Importing the package registers every config, model, feature extractor and processor with the Auto classes, so
`AutoModel.from_pretrained(folder_or_repo)` works on any hf_msa checkpoint. `AutoModel` and
`AutoModelForSequenceClassification` both give the full sentiment model (heads included): an MSA checkpoint is
published for its predictions. The headless encoder of a method is its `XModel` class (e.g. `DibModel`).

Every checkpoint hf_msa saves also carries its code and an `auto_map`, so where hf_msa is not installed
`AutoModel.from_pretrained(folder_or_repo, trust_remote_code=True)` (and AutoConfig, AutoProcessor) load it too.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoProcessor,
)

from .configuration_utils import DATASET_PRESETS, MSAConfig
from .modeling_utils import MSAModelOutput, MSAPreTrainedModel
from .models.cyin import CyinConfig, CyinForSentimentAnalysis, CyinModel, CyinStageCallback
from .models.dib import DibConfig, DibForSentimentAnalysis, DibModel
from .models.dashfusion import DashFusionConfig, DashFusionForSentimentAnalysis, DashFusionModel
from .models.hme import HmeConfig, HmeForSentimentAnalysis, HmeModel, HmeOptimizerResetCallback
from .models.lnln import LnlnConfig, LnlnForSentimentAnalysis, LnlnModel
from .models.midg import MidgConfig, MidgForSentimentAnalysis, MidgModel
from .models.mmslf import (
    MmslfConfig,
    MmslfModel,
    MmslfStudentConfig,
    MmslfStudentForSentimentAnalysis,
    MmslfTeacherConfig,
    MmslfTeacherForSentimentAnalysis,
)
from .pipelines import MultimodalSentimentPipeline, pipeline, register_pipeline
from .processing import MSAFeatureExtractor, MSAProcessor

__version__ = "0.1.0"

# model_type -> (config, bare model, sentiment model). A new method adds one line here.
MODEL_REGISTRY = {
    "dib": (DibConfig, DibModel, DibForSentimentAnalysis),
    "lnln": (LnlnConfig, LnlnModel, LnlnForSentimentAnalysis),
    "hme": (HmeConfig, HmeModel, HmeForSentimentAnalysis),
    "dashfusion": (DashFusionConfig, DashFusionModel, DashFusionForSentimentAnalysis),
    "mmslf_student": (MmslfStudentConfig, MmslfModel, MmslfStudentForSentimentAnalysis),
    "cyin": (CyinConfig, CyinModel, CyinForSentimentAnalysis),
    "midg": (MidgConfig, MidgModel, MidgForSentimentAnalysis),
}
# With the Auto classes but outside the suites over MODEL_REGISTRY: models that need inputs beyond the processor's
# (MMSLF's teacher reads a prompt per clip; tests/test_modeling_mmslf.py covers it).
AUTO_ONLY_MODELS = {
    "mmslf_teacher": (MmslfTeacherConfig, MmslfModel, MmslfTeacherForSentimentAnalysis),
}


def _register_auto_classes() -> None:
    AutoConfig.register(MSAConfig.model_type, MSAConfig, exist_ok=True)
    models = {**MODEL_REGISTRY, **AUTO_ONLY_MODELS}
    for config_class in [MSAConfig] + [entry[0] for entry in models.values()]:
        AutoFeatureExtractor.register(config_class, MSAFeatureExtractor, exist_ok=True)
        AutoProcessor.register(config_class, MSAProcessor, exist_ok=True)
    for model_type, (config_class, _, sentiment_class) in models.items():
        AutoConfig.register(model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, sentiment_class, exist_ok=True)
        AutoModelForSequenceClassification.register(config_class, sentiment_class, exist_ok=True)
    # A saved processor carries its two files and an auto_map (transformers' own copy: they import nothing from
    # hf_msa); a saved model carries its generated bundle (MSAPreTrainedModel.save_pretrained, hf_msa.remote_code).
    MSAProcessor.register_for_auto_class()
    MSAFeatureExtractor.register_for_auto_class()


_register_auto_classes()
register_pipeline()

__all__ = [
    "DATASET_PRESETS",
    "DibConfig",
    "DibForSentimentAnalysis",
    "DibModel",
    "CyinConfig",
    "CyinForSentimentAnalysis",
    "CyinModel",
    "CyinStageCallback",
    "DashFusionConfig",
    "DashFusionForSentimentAnalysis",
    "DashFusionModel",
    "HmeConfig",
    "HmeForSentimentAnalysis",
    "HmeModel",
    "HmeOptimizerResetCallback",
    "MidgConfig",
    "MidgForSentimentAnalysis",
    "MidgModel",
    "LnlnConfig",
    "LnlnForSentimentAnalysis",
    "LnlnModel",
    "AUTO_ONLY_MODELS",
    "MODEL_REGISTRY",
    "MmslfConfig",
    "MmslfModel",
    "MmslfStudentConfig",
    "MmslfStudentForSentimentAnalysis",
    "MmslfTeacherConfig",
    "MmslfTeacherForSentimentAnalysis",
    "MSAConfig",
    "MSAFeatureExtractor",
    "MSAModelOutput",
    "MSAPreTrainedModel",
    "MSAProcessor",
    "MultimodalSentimentPipeline",
    "pipeline",
]
