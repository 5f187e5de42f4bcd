"""HME configuration: Zhuang et al., "Hyper-Modality Enhancement for Multimodal Sentiment Analysis with Missing
Modalities", NeurIPS 2025; official code github.com/YetZzzzzz/HME. Defaults are the README's MOSI command on top of
HME_main.py's argparse defaults (reference/methods_ib_missing.md §3.5).
"""

from huggingface_hub.dataclasses import strict

from ...configuration_utils import MSAConfig

RETRIEVAL_POOLS = ("batch", "memory_bank")
HME_POOLINGS = ("max", "mean")


@strict
class HmeConfig(MSAConfig):
    r"""
    Configuration of [`HmeModel`] and [`HmeForSentimentAnalysis`]; inherits the shared fields of [`MSAConfig`].

    Args:
        hidden_size (`int`, *optional*, defaults to 192): d (`d_l`), the width of every stream (README; the argparse
            default is 96).
        num_attention_heads (`int`, *optional*, defaults to 16): heads of every attention (MulT, Perceiver, head).
        num_encoder_layers (`int`, *optional*, defaults to 4): layers of each MulT intra-modal encoder (MOSEI 2).
        latent_depth (`int`, *optional*, defaults to 4): blocks of each Perceiver latent transformer (MOSEI 3).
        hyper_depth (`int`, *optional*, defaults to 3): blocks of each hyper-modality cross-attention stack.
        num_latents (`int`, *optional*, defaults to 5): learned latents of each latent transformer.
        attn_dropout, relu_dropout, res_dropout, embed_dropout (`float`): MulT dropouts (0.5, 0.3, 0.3, 0.2). The
            official code passes `attn_dropout` to all three encoders (its per-modality values are never read).
        gate_dropout (`float`, *optional*, defaults to 0.3): dropout inside the uncertainty fusions' score MLPs.
        fusion_dropout (`float`, *optional*, defaults to 0.1): dropout of the regression head (`args.dropout`).
        head_num_layers, head_intermediate_size, head_dropout (defaults 2, 2048, 0.1): the post-norm
            `nn.TransformerEncoder` over the four fused tokens, with PyTorch's defaults as upstream.
        similarity_threshold (`float`, *optional*, defaults to 0.6): τ, cosine similarity at or above which another
            sample's pooled feature is a neighbour in the cross-sample retrieval.
        uncertainty_lower, uncertainty_upper (`float`, defaults 0.2, 1.0): clamp of ζ = 1 / mean σ in the
            modality fusions.
        sigma_shift (`float`, *optional*, defaults to 5.0): σ = softplus(s - sigma_shift) in each VIB.
        unimodal_weight (`float`, *optional*, defaults to 0.8): weight of the mean unimodal L1 loss.
        kl_weight (`float`, *optional*, defaults to 0.01): weight of the mean KL term.
        retrieval_pool (`str`, *optional*, defaults to `"batch"`): where neighbours are retrieved from. `"batch"`
            (the official code): the other samples of the current mini-batch, so a prediction depends on what else is
            in the batch, also at test time. `"memory_bank"`: a FIFO bank of the last `memory_bank_size` training
            samples' pooled features (saved with the weights); training retrieves from the batch and the bank,
            evaluation from the bank alone, so one clip gets the same prediction alone or in any batch.
        memory_bank_size (`int`, *optional*, defaults to 1024): rows of the bank per modality.
        sample_at_eval (`bool`, *optional*, defaults to `True`): the official VIBs sample z = μ + σ·ε at test time
            too (outputs are stochastic); `False` uses μ outside training.
        projection_kernel (`int`, *optional*, defaults to 1): temporal kernel of the Conv1d projections (the code
            uses 1; the paper says 3).
        pooling (`str`, *optional*, defaults to `"max"`): temporal pooling of the encoders' outputs (code: max;
            paper: average).
        attend_to_padding (`bool`, *optional*, defaults to `True`): the official code masks nothing after BERT:
            the MulT encoders attend to, and the pooling covers, every step, padding included. `False` masks padded
            steps out of both (a deviation, offered as a switch).
        missing_rate (`float`, *optional*, defaults to 0.2): the dataset-level modality missing rate HME trains with
            (the README's MOSI command; MOSEI 0.1): the training helpers drop whole modalities per sample with
            GCNet/IMDer's mask (`hf_msa.data.ModalityMissingCollator`), as HME trains without complete data. 0 trains
            on complete inputs (the fixed-missing protocol's training).
        static_keys (`bool`, *optional*, defaults to `True`): the official MulT encoders are called as
            `enc(x, x, x)`, so every layer attends from its running state to the embedded input; `False` is true
            self-attention over the running state.
    """

    model_type = "hme"
    keys_to_ignore_at_inference = MSAConfig.keys_to_ignore_at_inference + ["vib_sigma"]
    method_presets = {"mosei": {"num_encoder_layers": 2, "latent_depth": 3, "missing_rate": 0.1}}

    hidden_size: int = 192
    num_attention_heads: int = 16
    num_encoder_layers: int = 4
    latent_depth: int = 4
    hyper_depth: int = 3
    num_latents: int = 5
    attn_dropout: float = 0.5
    relu_dropout: float = 0.3
    res_dropout: float = 0.3
    embed_dropout: float = 0.2
    gate_dropout: float = 0.3
    fusion_dropout: float = 0.1
    head_num_layers: int = 2
    head_intermediate_size: int = 2048
    head_dropout: float = 0.1
    similarity_threshold: float = 0.6
    uncertainty_lower: float = 0.2
    uncertainty_upper: float = 1.0
    sigma_shift: float = 5.0
    unimodal_weight: float = 0.8
    kl_weight: float = 0.01
    retrieval_pool: str = "batch"
    memory_bank_size: int = 1024
    sample_at_eval: bool = True
    projection_kernel: int = 1
    pooling: str = "max"
    attend_to_padding: bool = True
    missing_rate: float = 0.2
    static_keys: bool = True
    linear_init: str = "normal"

    def check_msa_fields(self):
        super().check_msa_fields()
        self.check_field_ranges(
            positive=("hidden_size", "num_attention_heads", "num_encoder_layers", "latent_depth", "hyper_depth",
                      "num_latents", "head_num_layers", "head_intermediate_size", "memory_bank_size",
                      "projection_kernel"),
            unit_interval=("attn_dropout", "relu_dropout", "res_dropout", "embed_dropout", "gate_dropout",
                           "fusion_dropout", "head_dropout", "missing_rate"),
            non_negative=("unimodal_weight", "kl_weight", "uncertainty_lower"),
        )
        if self.modalities != ["text", "audio", "vision"]:
            raise ValueError(f"HME needs all three modalities (text, audio, vision), got modalities={self.modalities}")
        if self.problem_type != "regression":
            raise ValueError(f"HME is a regression model (L1 on the sentiment score), got problem_type="
                             f"{self.problem_type!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                             f"({self.num_attention_heads})")
        if not -1.0 <= self.similarity_threshold <= 1.0:
            raise ValueError(f"similarity_threshold is a cosine similarity in [-1, 1], got {self.similarity_threshold}")
        if not self.uncertainty_lower <= self.uncertainty_upper:
            raise ValueError(f"uncertainty_lower ({self.uncertainty_lower}) must be <= uncertainty_upper "
                             f"({self.uncertainty_upper})")
        if self.retrieval_pool not in RETRIEVAL_POOLS:
            raise ValueError(f"retrieval_pool must be one of {RETRIEVAL_POOLS}, got {self.retrieval_pool!r}")
        if self.pooling not in HME_POOLINGS:
            raise ValueError(f"pooling must be one of {HME_POOLINGS}, got {self.pooling!r}")
        if self.projection_kernel % 2 == 0:
            raise ValueError(f"projection_kernel must be odd (the sequence keeps its length), got "
                             f"{self.projection_kernel}")

    @property
    def input_padding(self) -> str:
        # the reference attends to and pools over padding, so results depend on it: feed fixed-length inputs
        return "max_length" if self.attend_to_padding else "longest"


__all__ = ["HME_POOLINGS", "HmeConfig", "RETRIEVAL_POOLS"]
