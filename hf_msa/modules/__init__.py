"""Small reusable layers, one idea per file; methods import them, never each other."""

from .attention import ATTENTION_IMPLEMENTATIONS, attend
from .bottleneck_fusion import AttentionBottleneckFusion
from .crossmodal_transformer import CrossmodalTransformer, future_mask
from .gradient_reversal import GradientReversal, reverse_gradient
from .hyper_modality import HyperModalityLayer
from .modulated_cross_transformer import ModulatedCrossAttention, ModulatedCrossLayer, ModulatedCrossTransformer
from .perceiver import CrossAttentionStack, GegluFeedForward, LatentTransformer, PerceiverAttention
from .pooling import POOLING_MODES, pool_sequence
from .renyi_entropy import (
    EIGEN_SOLVERS,
    gaussian_gram,
    hadamard_joint,
    knn_bandwidth,
    pairwise_squared_distances,
    renyi_entropy,
    renyi_mutual_information,
)
from .sequence_encoder import SequenceEncoder, SequenceEncoderLayer, sinusoidal_positions
from .token_transformer import (
    CrossTokenTransformer,
    PreNormAttention,
    PreNormFeedForward,
    TokenTransformer,
    TokenTransformerLayer,
)
from .variational_bottleneck import VariationalBottleneck

__all__ = [
    "ATTENTION_IMPLEMENTATIONS",
    "AttentionBottleneckFusion",
    "CrossAttentionStack",
    "CrossmodalTransformer",
    "CrossTokenTransformer",
    "GegluFeedForward",
    "LatentTransformer",
    "PerceiverAttention",
    "GradientReversal",
    "HyperModalityLayer",
    "ModulatedCrossAttention",
    "ModulatedCrossLayer",
    "ModulatedCrossTransformer",
    "PreNormAttention",
    "PreNormFeedForward",
    "TokenTransformer",
    "TokenTransformerLayer",
    "reverse_gradient",
    "EIGEN_SOLVERS",
    "POOLING_MODES",
    "SequenceEncoder",
    "SequenceEncoderLayer",
    "VariationalBottleneck",
    "attend",
    "future_mask",
    "gaussian_gram",
    "hadamard_joint",
    "knn_bandwidth",
    "pairwise_squared_distances",
    "pool_sequence",
    "renyi_entropy",
    "renyi_mutual_information",
    "sinusoidal_positions",
]
