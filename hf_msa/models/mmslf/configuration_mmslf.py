"""MMSLF configuration: Zhang, Zhang, Ying, Tang, Yu, "MLLM-Guided Multimodal Sentiment Learning Framework" (seed
title "Improving Task-Specific MSA with General MLLMs via Prompting"), NeurIPS 2025; official code
github.com/LOGO-CUHKSZ/MMSLF. Defaults are the MOSI constants hard-coded in the official models/MMSLF.py and the
README's commands (reference/methods_lnln_mmslf_dash_mmsa.md §3).

Two config classes, one per role, so the Auto classes can tell a teacher checkpoint from a student one:
`MmslfTeacherConfig` (model_type `mmslf_teacher`) and `MmslfStudentConfig` (`mmslf_student`), both `MmslfConfig`s.
"""

import copy

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_utils import MSAConfig

ROLES = ("teacher", "student")


@strict
class MmslfConfig(MSAConfig):
    r"""
    Fields MMSLF's teacher and student share; inherits [`MSAConfig`]. Use [`MmslfTeacherConfig`] or
    [`MmslfStudentConfig`].

    Args:
        hidden_size (`int`, *optional*, defaults to 64): width of every stream after the input projections.
        encoder_depth (`int`): layers of each cross-modal Transformer (text <- audio, text <- vision); the teacher's
            are hard-coded to 6 upstream, the student's come from `--encoder_depth` (README: 1).
        cross_heads (`int`, *optional*, defaults to 4), cross_head_dim (`int`, *optional*, defaults to 32),
            cross_mlp_dim (`int`, *optional*, defaults to 128; SIMS 768), cross_dropout (`float`, *optional*,
            defaults to 0.5): the cross-modal Transformers (dropout on the attention output and the feed-forward).
        fusion_depth (`int`): layers of the fusion Transformer (teacher 6; student `--fusion_depth`, README 2).
        fusion_tokens (`int`, *optional*, defaults to 4): learned tokens the fusion prepends; their outputs, flattened
            token-major, feed the Linear head.
        fusion_heads (`int`, *optional*, defaults to 6; SIMS teacher 8, student 4), fusion_head_dim (`int`,
            *optional*, defaults to 32), fusion_mlp_dim (`int`, *optional*, defaults to 64): the fusion Transformer
            (no dropout upstream).
        freeze_text_encoder (`bool`): run the text BERT under no_grad. Upstream the teacher fine-tunes it
            (`--bert_finetune`) and the student's README command leaves it frozen.
    """

    model_type = "mmslf"
    role = None  # "teacher" or "student", set by the two subclasses
    # what distillation reads stays out of Trainer.predict's concatenated predictions
    keys_to_ignore_at_inference = MSAConfig.keys_to_ignore_at_inference + [
        "fusion_tokens", "text_audio_attention", "text_vision_attention"]
    method_presets = {"sims": {"text_max_length": 50, "cross_mlp_dim": 768}}

    hidden_size: int = 64
    encoder_depth: int = 6
    cross_heads: int = 4
    cross_head_dim: int = 32
    cross_mlp_dim: int = 128
    cross_dropout: float = 0.5
    fusion_depth: int = 6
    fusion_tokens: int = 4
    fusion_heads: int = 6
    fusion_head_dim: int = 32
    fusion_mlp_dim: int = 64
    freeze_text_encoder: bool = False

    def check_msa_fields(self):
        super().check_msa_fields()
        self.check_field_ranges(
            positive=("hidden_size", "encoder_depth", "cross_heads", "cross_head_dim", "cross_mlp_dim", "fusion_depth",
                      "fusion_tokens", "fusion_heads", "fusion_head_dim", "fusion_mlp_dim"),
            unit_interval=("cross_dropout",),
        )
        if self.modalities != ["text", "audio", "vision"]:
            raise ValueError(f"MMSLF needs all three modalities (text, audio, vision), got modalities={self.modalities}")
        if self.problem_type != "regression":
            raise ValueError(f"MMSLF is a regression model (L1 on the sentiment score), got problem_type="
                             f"{self.problem_type!r}")

    @property
    def input_padding(self) -> str:
        # nothing after BERT is masked: text is padded to its fixed length (50) and frames to the files' lengths
        return "max_length"


@strict
class MmslfTeacherConfig(MmslfConfig):
    r"""
    Configuration of [`MmslfTeacherForSentimentAnalysis`]: the shared [`MmslfConfig`] fields plus the prompt path.

    Args:
        prompt_text_config (`dict` or `PreTrainedConfig`, *optional*): the prompt's own BERT (upstream a second
            bert-base-uncased, frozen). Defaults to `text_config`'s shape.
        freeze_prompt_encoder (`bool`, *optional*, defaults to `True`): run the prompt BERT under no_grad
            (upstream's default; `--prompt_bert_finetune` turns it off).
        prompt_max_length (`int`, *optional*, defaults to 512): the longest tokenised prompt (the prompt
            Transformer's positional table holds prompt_max_length + text_max_length rows).
        prompt_depth (`int`, *optional*, defaults to 2), prompt_heads (`int`, *optional*, defaults to 6; SIMS 8),
            prompt_head_dim (`int`, *optional*, defaults to 32), prompt_mlp_dim (`int`, *optional*, defaults to
            128; SIMS 64): the prompt Transformer, whose first `text_max_length` outputs (learned query tokens) are
            the prompt stream that modulates the cross-modal attention.
        teacher_train_mode_targets (`bool`, *optional*, defaults to `False`): upstream never calls `teacher.eval()`
            while distilling, so its targets come with dropout active (stochastic). Off: the teacher is evaluated in
            eval mode (deterministic targets); on: as the release does.
        min_sampling_rate (`float`, *optional*, defaults to 0.5): the teacher's training augmentation keeps each
            audio / vision element and each text position with a per-sample rate q ~ U(min_sampling_rate, 1).
    """

    model_type = "mmslf_teacher"
    role = "teacher"
    sub_configs_defaults = {**MmslfConfig.sub_configs_defaults,
                            "prompt_text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}
    method_presets = {"sims": {"text_max_length": 50, "cross_mlp_dim": 768, "fusion_heads": 8, "prompt_heads": 8,
                               "prompt_mlp_dim": 64}}

    prompt_text_config: dict | PreTrainedConfig | None = None
    freeze_prompt_encoder: bool = True
    prompt_max_length: int = 512
    prompt_depth: int = 2
    prompt_heads: int = 6
    prompt_head_dim: int = 32
    prompt_mlp_dim: int = 128
    teacher_train_mode_targets: bool = False
    min_sampling_rate: float = 0.5

    def __post_init__(self, **kwargs):
        if self.prompt_text_config is None and self.text_config is not None:  # the text BERT's shape
            text = self.text_config
            self.prompt_text_config = copy.deepcopy(text if isinstance(text, dict) else text.to_dict())
        super().__post_init__(**kwargs)

    def check_msa_fields(self):
        super().check_msa_fields()
        self.check_field_ranges(positive=("prompt_max_length", "prompt_depth", "prompt_heads", "prompt_head_dim",
                                          "prompt_mlp_dim"), unit_interval=("min_sampling_rate",))
        for modality in ("audio", "vision"):
            if getattr(self, f"{modality}_max_length") < self.text_max_length:
                raise ValueError(f"{modality}_max_length ({getattr(self, f'{modality}_max_length')}) must be at least "
                                 f"text_max_length ({self.text_max_length}): the prompt positions are taken from the "
                                 f"{modality} encoder's source table, sliced with the text length (as upstream)")


@strict
class MmslfStudentConfig(MmslfConfig):
    r"""
    Configuration of [`MmslfStudentForSentimentAnalysis`]: the shared [`MmslfConfig`] fields plus the distillation
    weights. Defaults are the README's student command (encoder depth 1, fusion depth 2, frozen BERT, α 1, β 60,
    γ 8); opts.py's own defaults (depths 2 / 2, α 1, β 1, γ 0.2) are the other reading.

    Args:
        task_weight (`float`, *optional*, defaults to 1.0): α, on L1(ŷ_S, y).
        attention_weight (`float`, *optional*, defaults to 60.0): β, on L1(A_S, A_T) summed over text <- audio and
            text <- vision (the last cross layer's unmodulated maps).
        fusion_weight (`float`, *optional*, defaults to 8.0): γ, on L1(H_S, H_T) over the fusion tokens.
    """

    model_type = "mmslf_student"
    role = "student"
    method_presets = {"sims": {"text_max_length": 50, "cross_mlp_dim": 768, "fusion_heads": 4}}

    encoder_depth: int = 1
    fusion_depth: int = 2
    freeze_text_encoder: bool = True
    task_weight: float = 1.0
    attention_weight: float = 60.0
    fusion_weight: float = 8.0

    def check_msa_fields(self):
        super().check_msa_fields()
        self.check_field_ranges(non_negative=("task_weight", "attention_weight", "fusion_weight"))


__all__ = ["MmslfConfig", "MmslfStudentConfig", "MmslfTeacherConfig", "ROLES"]
