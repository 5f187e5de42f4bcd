"""CyIN configuration: Lin et al., "Cyclic Informative Latent Space for Bridging Complete and Incomplete Multimodal
Learning", NeurIPS 2025; official code github.com/RH-Lin/CyIN (@da04a3d8). Defaults are its MOSI entry of
`config/config_regression.json` (reference/methods_ib_missing.md §2.5); the `mosei` preset is its MOSEI entry.
"""

from huggingface_hub.dataclasses import strict

from ...configuration_utils import MSAConfig

ALIGNMENTS = ("strided", "contiguous")


@strict
class CyinConfig(MSAConfig):
    r"""
    Configuration of [`CyinModel`] and [`CyinForSentimentAnalysis`]; inherits the shared fields of [`MSAConfig`].

    Sizes (MOSI / MOSEI in the official config):
        align_length (`int`, *optional*, defaults to 50): every modality (the BERT output too) is average-pooled to
            this many steps before the bottlenecks (MMSA's `AlignSubNet`, mode avg_pool, to the text length).
        alignment (`str`, *optional*, defaults to `"strided"`): how the pooling windows are cut. `"strided"` is
            MMSA's code, inherited upstream: the sequence is padded with copies of its last frame to a multiple of
            `align_length`, viewed as (pool, align_length) and averaged over pool, so output step j is the mean of
            frames j, j + 50, j + 100, ...; `"contiguous"` averages runs of consecutive frames instead.
        fusion_size (`int`, *optional*, defaults to 256): C_U, the MulT width of each modality (MOSEI 16).
        bottleneck_hidden_size (`int`, *optional*, defaults to 256): C_ib, the hidden width of every IB encoder and
            decoder (MOSEI 16). The notes give the decoders' hidden width as 256 for MOSI only; C_ib is our reading.
        bottleneck_size (`int`, *optional*, defaults to 128): C_B, the channels of the token-level latents b_m
            (MOSEI 256).
        translator_sizes (`list[int]`, *optional*, defaults to `[64, 32, 16]`): the encoder widths of each cascaded
            residual autoencoder block (MOSEI [128, 64, 32]); the decoder mirrors them.
        translator_blocks (`int`, *optional*, defaults to 8): blocks per translator (MOSEI 4).
        translator_negative_slope (`float`, *optional*, defaults to 0.2): slope of the translators' LeakyReLU. The
            notes name the activation, not its slope; 0.2 is that of MMIN's residual autoencoder, where CRA comes
            from (our choice).
        num_layers (`int`, *optional*, defaults to 2): `nlevels`, layers of each cross-modal Transformer (MOSEI 8);
            the three "memory" Transformers have max(num_layers, 3).
        num_attention_heads (`int`, *optional*, defaults to 8): heads of every MulT attention (MOSEI 2).
        projection_kernel (`int`, *optional*, defaults to 3): temporal kernel of the Conv1d projections into MulT,
            with no padding, as MulT: the sequence shrinks by kernel - 1 steps (50 -> 48).
        attn_dropout_text, attn_dropout_audio, attn_dropout_vision, attn_dropout_memory (`float`): attention dropout
            of the cross-modal Transformers by the modality they read (MulT's assignment) and of the memory
            Transformers (MOSI 0.1 / 0.3 / 0.0 / 0.4; MOSEI 0.1 / 0.0 / 0.3 / 0.2).
        relu_dropout, res_dropout (`float`, *optional*, defaults to 0.0): MulT's feed-forward and residual dropouts.
        embed_dropout (`float`, *optional*, defaults to 0.0): dropout on MulT's embedded inputs (MOSEI 0.5).
        output_dropout (`float`, *optional*, defaults to 0.3): dropout in the residual output MLP (MOSEI 0.5).
        causal_attention (`bool`, *optional*, defaults to `True`): MulT's `attn_mask=True`, a future mask: step i
            attends to steps <= i.

    Objective:
        ib_weight (`float`, *optional*, defaults to 16.0): η (`p_eta`, MOSEI 32). Each of the nine (source, target)
            token-level IB terms is KL + η · MSE(decoded, target features); the total adds (1 / η) · their mean, so
            the effective weights are KL / η and MSE 1.
        translation_weight (`float`, *optional*, defaults to 10.0): γ (`w_imgaine`, MOSEI 5), the weight of the
            forward + backward translation losses in stage 2.
        stage_divide (`float`, *optional*, defaults to 0.1): the fraction of training run as stage 1 (the IBs and
            the fusion only; MOSEI 0.3). `CyinStageCallback` switches to stage 2 (translation losses, stochastic
            replacement) at that fraction of the optimizer steps.
        sample_at_eval (`bool`, *optional*, defaults to `True`): upstream samples b_m = μ + σ·ε at test time too, so
            predictions are stochastic; `False` uses μ outside training (deterministic serving).
    """

    model_type = "cyin"
    keys_to_ignore_at_inference = MSAConfig.keys_to_ignore_at_inference + ["latents"]
    method_presets = {
        "mosi": {"text_max_length": 128},
        "mosei": {"text_max_length": 128, "fusion_size": 16, "bottleneck_hidden_size": 16, "bottleneck_size": 256,
                  "translator_sizes": [128, 64, 32], "translator_blocks": 4, "num_layers": 8,
                  "num_attention_heads": 2, "attn_dropout_audio": 0.0, "attn_dropout_vision": 0.3,
                  "attn_dropout_memory": 0.2, "embed_dropout": 0.5, "output_dropout": 0.5, "ib_weight": 32.0,
                  "translation_weight": 5.0, "stage_divide": 0.3},
    }

    text_max_length: int = 128
    align_length: int = 50
    alignment: str = "strided"
    fusion_size: int = 256
    bottleneck_hidden_size: int = 256
    bottleneck_size: int = 128
    translator_sizes: list[int] | tuple[int, ...] = (64, 32, 16)
    translator_blocks: int = 8
    translator_negative_slope: float = 0.2
    num_layers: int = 2
    num_attention_heads: int = 8
    projection_kernel: int = 3
    attn_dropout_text: float = 0.1
    attn_dropout_audio: float = 0.3
    attn_dropout_vision: float = 0.0
    attn_dropout_memory: float = 0.4
    relu_dropout: float = 0.0
    res_dropout: float = 0.0
    embed_dropout: float = 0.0
    output_dropout: float = 0.3
    causal_attention: bool = True
    ib_weight: float = 16.0
    translation_weight: float = 10.0
    stage_divide: float = 0.1
    sample_at_eval: bool = True

    def check_msa_fields(self):
        super().check_msa_fields()
        self.translator_sizes = [int(size) for size in self.translator_sizes]
        self.check_field_ranges(
            positive=("align_length", "fusion_size", "bottleneck_hidden_size", "bottleneck_size",
                      "translator_blocks", "num_layers", "num_attention_heads", "projection_kernel", "ib_weight"),
            unit_interval=("attn_dropout_text", "attn_dropout_audio", "attn_dropout_vision", "attn_dropout_memory",
                           "relu_dropout", "res_dropout", "embed_dropout", "output_dropout"),
            non_negative=("translation_weight", "translator_negative_slope"),
        )
        if self.modalities != ["text", "audio", "vision"]:
            raise ValueError(f"CyIN translates between all three modalities (text, audio, vision), got "
                             f"modalities={self.modalities}")
        if self.problem_type != "regression":
            raise ValueError(f"this CyIN port is the regression model (L1 on the sentiment score), got problem_type="
                             f"{self.problem_type!r}")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")
        if not 0.0 <= self.stage_divide <= 1.0:
            raise ValueError(f"stage_divide is a fraction of training in [0, 1], got {self.stage_divide}")
        if not self.translator_sizes or min(self.translator_sizes) <= 0:
            raise ValueError(f"translator_sizes must be positive widths, got {self.translator_sizes}")
        if self.fusion_size % self.num_attention_heads:
            raise ValueError(f"fusion_size ({self.fusion_size}) must be divisible by num_attention_heads "
                             f"({self.num_attention_heads})")
        if self.align_length <= self.projection_kernel - 1:
            raise ValueError(f"align_length ({self.align_length}) must exceed projection_kernel - 1 "
                             f"({self.projection_kernel - 1}): the unpadded projection would leave no step")

    @property
    def input_padding(self) -> str:
        # the alignment pools padding in (nothing is masked after BERT), so results depend on it: fixed lengths
        return "max_length"


__all__ = ["ALIGNMENTS", "CyinConfig"]
