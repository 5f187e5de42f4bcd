from .feature_extraction_msa import MSAFeatureExtractor
from .processing_msa import MSAProcessor

__all__ = ["MSAFeatureExtractor", "MSAProcessor"]
