"""DashFusion configuration: Wen et al., "DashFusion: Dual-stream Alignment with Hierarchical Bottleneck Fusion for
Multimodal Sentiment Analysis", IEEE T-NNLS 36(10), 2025; official code github.com/ultramarineX/DashFusion. Defaults
are the official src/config.py for MOSI (reference/methods_lnln_mmslf_dash_mmsa.md §4.2).
"""

from huggingface_hub.dataclasses import strict

from ...configuration_utils import TEXT_INPUTS, MSAConfig

PADDING_RULES = ("zero_sum", "attention_mask")
TEXT_PADDINGS = ("longest", "max_length")


@strict
class DashFusionConfig(MSAConfig):
    r"""
    Configuration of [`DashFusionModel`] and [`DashFusionForSentimentAnalysis`]; inherits the shared fields of
    [`MSAConfig`].

    Args:
        hidden_size (`int`, *optional*, defaults to 128): d_model, the width of every stream after the projections.
        num_attention_heads (`int`, *optional*, defaults to 8): heads of the audio / vision Transformers.
        num_encoder_layers (`int`, *optional*, defaults to 2): layers of the audio / vision Transformers (README: 2
            for MOSI and SIMS, 4 for MOSEI; the paper's numbers differ).
        encoder_intermediate_size (`int`, *optional*, defaults to 256): their feed-forward width.
        encoder_dropout (`float`, *optional*, defaults to 0.5): dropout inside the audio / vision Transformer layers,
            on the attention weights too: the encoders' `drop_out=0.5` default is never overridden upstream (the
            configured 0.1 never reaches them).
        embed_dropout (`float`, *optional*, defaults to 0.1): dropout after the learned positions.
        alignment_heads, alignment_head_dim (`int`, *optional*, defaults to 8, 32): the temporal alignment's
            attention (text queries over audio and over vision).
        fusion_depth (`int`, *optional*, defaults to 2): levels of the hierarchical bottleneck fusion (MOSEI 3).
        bottleneck_tokens (`int`, *optional*, defaults to 8): bottleneck tokens of level 0, halved at every level
            (8, 4, 2); they are the first positions of the aligned text sequence, not learned tokens.
        fusion_heads (`int`, *optional*, defaults to 8), fusion_intermediate_size (`int`, *optional*, defaults to
            256), fusion_dropout (`float`, *optional*, defaults to 0.0): the fusion's attention and feed-forward.
        head_hidden_sizes (`list[int]`, *optional*, defaults to `[256, 128]`): the regression MLP after the 4·d
            concatenation.
        contrastive_weight (`float`, *optional*, defaults to 0.2), temperature (`float`, *optional*, defaults to
            0.5): weight and τ of the supervised contrastive term (computed only when partners are given).
        padding_rule (`str`, *optional*, defaults to `"zero_sum"`): which audio / vision frames are padding.
            `"zero_sum"` (upstream): a frame whose features sum to 0, except frame 0; silent frames inside a clip are
            masked too. `"attention_mask"`: the frames the attention mask marks invalid.
        text_padding (`str`, *optional*, defaults to `"longest"`): how the processor pads text. `"longest"`
            (upstream): to the longest text of the batch; since padded positions take part in the alignment and the
            fusion, a prediction then depends on the rest of its batch. `"max_length"`: to `text_max_length`, so a
            clip gets the same score alone or in any batch (for serving).
        text_input (`str`, *optional*, defaults to `"raw"`): where the token ids come from. `"raw"` (upstream): the
            processor's tokenizer on the transcript, up to `text_max_length` (128). `"text_bert"`: the ids an MMSA
            feature pickle carries (`text_bert`, read into `input_ids` / `attention_mask` / `token_type_ids`
            columns by `hf_msa.data.mmsa_pickle`; bert-base-uncased ids, 50 long on MOSI, 39 on SIMS), as MMSA's
            other models are fed: a deviation, for comparisons on MMSA's exact inputs.
        compat_retrieval_bug (`bool`, *optional*, defaults to `False`): draw partners as the released code does
            (rank positions used as dataset rows; see `hf_msa.data.partners`). Off: the method as described.
        same_label (`str`, *optional*, defaults to `"rounded"`): partners share an anchor's label when the rounded
            labels are equal (MOSI / MOSEI: 7 classes) or, `"exact"`, when the labels are (the SIMS preset).
        similarity_refresh_every (`int`, *optional*, defaults to 2): refresh the partner similarity matrix at epochs
            1, 1 + k, 1 + 2k, ... (upstream: every odd epoch).
    """

    model_type = "dashfusion"
    method_presets = {"mosei": {"num_encoder_layers": 4, "fusion_depth": 3}, "sims": {"same_label": "exact"}}

    hidden_size: int = 128
    num_attention_heads: int = 8
    num_encoder_layers: int = 2
    encoder_intermediate_size: int = 256
    encoder_dropout: float = 0.5
    embed_dropout: float = 0.1
    alignment_heads: int = 8
    alignment_head_dim: int = 32
    fusion_depth: int = 2
    bottleneck_tokens: int = 8
    fusion_heads: int = 8
    fusion_intermediate_size: int = 256
    fusion_dropout: float = 0.0
    head_hidden_sizes: list[int] | tuple[int, ...] = (256, 128)
    contrastive_weight: float = 0.2
    temperature: float = 0.5
    padding_rule: str = "zero_sum"
    text_padding: str = "longest"
    text_input: str = "raw"
    compat_retrieval_bug: bool = False
    same_label: str = "rounded"
    similarity_refresh_every: int = 2
    text_max_length: int = 128
    linear_init: str = "pytorch"

    def __post_init__(self, **kwargs):
        self.head_hidden_sizes = list(self.head_hidden_sizes)
        super().__post_init__(**kwargs)

    def check_msa_fields(self):
        super().check_msa_fields()
        self.check_field_ranges(
            positive=("hidden_size", "num_attention_heads", "num_encoder_layers", "encoder_intermediate_size",
                      "alignment_heads", "alignment_head_dim", "fusion_depth", "bottleneck_tokens", "fusion_heads",
                      "fusion_intermediate_size", "temperature", "similarity_refresh_every"),
            unit_interval=("encoder_dropout", "embed_dropout", "fusion_dropout"),
            non_negative=("contrastive_weight",),
        )
        if self.modalities != ["text", "audio", "vision"]:
            raise ValueError(f"DashFusion needs all three modalities (text, audio, vision), got "
                             f"modalities={self.modalities}")
        if self.problem_type != "regression":
            raise ValueError(f"DashFusion is a regression model (MSE on the sentiment score), got problem_type="
                             f"{self.problem_type!r}")
        for heads, name in ((self.num_attention_heads, "num_attention_heads"), (self.fusion_heads, "fusion_heads")):
            if self.hidden_size % heads:
                raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by {name} ({heads})")
        if self.bottleneck_tokens < 2 ** (self.fusion_depth - 1):
            raise ValueError(f"bottleneck_tokens ({self.bottleneck_tokens}) is halved at each of the fusion_depth="
                             f"{self.fusion_depth} levels and must stay >= 1: give at least "
                             f"{2 ** (self.fusion_depth - 1)}")
        if not self.head_hidden_sizes or min(self.head_hidden_sizes) < 1:
            raise ValueError(f"head_hidden_sizes must be a non-empty list of positive widths, got "
                             f"{self.head_hidden_sizes}")
        if self.same_label not in ("rounded", "exact"):
            raise ValueError(f"same_label must be 'rounded' or 'exact', got {self.same_label!r}")
        if self.text_padding not in TEXT_PADDINGS:
            raise ValueError(f"text_padding must be one of {TEXT_PADDINGS}, got {self.text_padding!r}")
        if self.text_input not in TEXT_INPUTS:
            raise ValueError(f"text_input must be one of {TEXT_INPUTS}, got {self.text_input!r}")
        if self.padding_rule not in PADDING_RULES:
            raise ValueError(f"padding_rule must be one of {PADDING_RULES}, got {self.padding_rule!r}")

    @property
    def input_padding(self) -> str:
        # audio and vision are padded to their max lengths inside the model either way (nothing after the encoders is
        # masked, so padding length matters); this decides the text's
        return self.text_padding


__all__ = ["DashFusionConfig", "PADDING_RULES", "TEXT_PADDINGS"]
