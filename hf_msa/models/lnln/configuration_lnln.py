"""LNLN configuration: Zhang, Wang, Yu, "Towards Robust Multimodal Sentiment Analysis with Incomplete Data",
NeurIPS 2024 (arXiv 2409.20012); official code github.com/Haoyu-ha/LNLN. Defaults are configs/train_mosi.yaml.
"""

from huggingface_hub.dataclasses import strict

from ...configuration_utils import MSAConfig


@strict
class LnlnConfig(MSAConfig):
    r"""
    Configuration of [`LnlnModel`] and [`LnlnForSentimentAnalysis`]; inherits the shared fields of [`MSAConfig`].

    Args:
        hidden_size (`int`, *optional*, defaults to 128): width of every token stream.
        num_tokens (`int`, *optional*, defaults to 8): learned summary tokens per modality (`token_length`).
        num_attention_heads (`int`, *optional*, defaults to 8): heads of every attention.
        attention_head_dim (`int`, *optional*, defaults to 64): head width of the token Transformers (8 x 64 = 512
            inner width, projected back to `hidden_size`); the hyper-modality layer uses hidden_size / heads.
        mlp_dim (`int`, *optional*, defaults to 128): feed-forward width.
        embedding_depth (`int`, *optional*, defaults to 2): layers of each modality's embedding Transformer.
        proxy_depth, completeness_depth, reconstructor_depth, language_encoder_depth (`int`, default 2 each). The
            hyper-modality layers number language_encoder_depth + 1, one per language state (3 in the reference).
        fusion_depth (`int`, *optional*, defaults to 2): fusion CrossTransformer layers (MOSI 2, MOSEI and SIMS 4).
        discriminator_hidden_size, completeness_hidden_size (`int`, defaults 64): hidden widths of the two MLPs.
        dropout (`float`, *optional*, defaults to 0.0): dropout of LNLN's own layers (0 in the reference).
        completeness_weight, adversarial_weight, reconstruction_weight, sentiment_weight (`float`): α, β, γ, σ of
            the loss (0.9 / 0.8 / 0.1 / 1.0 on MOSI and MOSEI; β = 0.6 on SIMS).
        gradient_reversal_scale (`float`, *optional*, defaults to 1.0): λ of the gradient reversal layer.
        attend_to_padding (`bool`, *optional*, defaults to `True`): the reference passes no padding mask to its own
            attention, so padded text positions and zero-padded frames are attended to. `False` masks them out
            (a deviation, offered as a switch).
    """

    model_type = "lnln"
    # Trainer.predict returns the sentiment scores alone (the completeness and training-only tensors stay out)
    keys_to_ignore_at_inference = MSAConfig.keys_to_ignore_at_inference + [
        "completeness", "discriminator_logits", "reconstructed_tokens", "complete_tokens"]
    method_presets = {"mosei": {"fusion_depth": 4}, "sims": {"fusion_depth": 4, "adversarial_weight": 0.6}}

    hidden_size: int = 128
    num_tokens: int = 8
    num_attention_heads: int = 8
    attention_head_dim: int = 64
    mlp_dim: int = 128
    embedding_depth: int = 2
    proxy_depth: int = 2
    completeness_depth: int = 2
    reconstructor_depth: int = 2
    language_encoder_depth: int = 2
    fusion_depth: int = 2
    discriminator_hidden_size: int = 64
    completeness_hidden_size: int = 64
    dropout: float = 0.0
    completeness_weight: float = 0.9
    adversarial_weight: float = 0.8
    reconstruction_weight: float = 0.1
    sentiment_weight: float = 1.0
    gradient_reversal_scale: float = 1.0
    attend_to_padding: bool = True

    def check_msa_fields(self):
        super().check_msa_fields()
        self.check_field_ranges(
            positive=("hidden_size", "num_tokens", "num_attention_heads", "attention_head_dim", "mlp_dim",
                      "embedding_depth", "proxy_depth", "completeness_depth", "reconstructor_depth",
                      "language_encoder_depth", "fusion_depth", "discriminator_hidden_size", "completeness_hidden_size"),
            unit_interval=("dropout",),
            # (gradient_reversal_scale may be negative: -1 undoes the reversal, an ablation)
            non_negative=("completeness_weight", "adversarial_weight", "reconstruction_weight", "sentiment_weight"),
        )
        if self.modalities != ["text", "audio", "vision"]:
            raise ValueError(f"LNLN needs all three modalities (text, audio, vision), got modalities={self.modalities}")
        if self.problem_type != "regression":
            raise ValueError(f"LNLN is a regression model (MSE on the sentiment score), got problem_type={self.problem_type!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                             f"({self.num_attention_heads})")
        for field in ("num_tokens", "language_encoder_depth", "embedding_depth", "proxy_depth", "completeness_depth", "reconstructor_depth",
                      "fusion_depth"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")


    @property
    def input_padding(self) -> str:
        # the reference attends to padding, so results depend on it: feed MMSA's fixed-length inputs
        return "max_length" if self.attend_to_padding else "longest"


__all__ = ["LnlnConfig"]
