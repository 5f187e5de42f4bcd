"""The configuration fields every hf_msa method shares.

A method config subclasses :class:`MSAConfig` and adds its own hyper-parameters; the shared fields (modalities,
feature dimensions and lengths, the text sub-config, the task) are what the processor, the collator, the
robustness harness and the metrics read, so they must mean the same thing for every method.
"""

import copy
import dataclasses
import difflib
from typing import ClassVar

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import logging

logger = logging.get_logger(__name__)

ALL_MODALITIES = ("text", "audio", "vision")
METRIC_FAMILIES = ("mosi", "sims", "classification")
PROBLEM_TYPES = ("regression", "single_label_classification")
LINEAR_INITS = ("pytorch", "normal")
# where token ids come from: the processor's tokenizer on the transcript, or an MMSA pickle's `text_bert` columns
TEXT_INPUTS = ("raw", "text_bert")
# Keyword arguments PreTrainedConfig understands besides the dataclass fields (what a config.json written by
# transformers may carry); anything else is kept as an attribute, as transformers does, but nothing reads it.
BASE_CONFIG_KWARGS = frozenset({
    "num_labels", "model_type", "torch_dtype", "name_or_path", "_name_or_path", "_commit_hash", "output_attentions",
    "attn_implementation", "experts_implementation", "per_layer_config", "auto_map", "tokenizer_class", "prefix",
    "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id", "tie_word_embeddings",
    "task_specific_params", "finetuning_task", "use_cache", "_attn_implementation_autoset",
})

# Feature layouts of the files the field distributes (MMSA `unaligned_*.pkl`; see
# reference/methods_lnln_mmslf_dash_mmsa.md §1.1). MVSA-Single has no audio; its "vision" is one pooled image
# embedding (768 = a ViT-base [CLS]; no HF vision encoder is bundled here, so the dimension is a convention).
DATASET_PRESETS: dict[str, dict] = {
    "mosi": dict(
        modalities=["text", "audio", "vision"], audio_dim=5, vision_dim=20, text_max_length=50,
        audio_max_length=375, vision_max_length=500, problem_type="regression", num_labels=1,
        metric_family="mosi", label_range=[-3.0, 3.0],
    ),
    "mosei": dict(
        modalities=["text", "audio", "vision"], audio_dim=74, vision_dim=35, text_max_length=50,
        audio_max_length=500, vision_max_length=500, problem_type="regression", num_labels=1,
        metric_family="mosi", label_range=[-3.0, 3.0],
    ),
    "sims": dict(
        modalities=["text", "audio", "vision"], audio_dim=33, vision_dim=709, text_max_length=39,
        audio_max_length=400, vision_max_length=55, problem_type="regression", num_labels=1,
        metric_family="sims", label_range=[-1.0, 1.0],
    ),
    "mvsa": dict(
        modalities=["text", "vision"], audio_dim=0, vision_dim=768, text_max_length=64,
        audio_max_length=0, vision_max_length=1, problem_type="single_label_classification", num_labels=3,
        id2label={0: "positive", 1: "neutral", 2: "negative"}, metric_family="classification", label_range=None,
    ),
}


@strict
class MSAConfig(PreTrainedConfig):
    r"""
    Fields shared by every multimodal sentiment model in hf_msa.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the BERT-family text encoder (any `model_type` AutoConfig knows: bert, roberta, mpnet, ...).
            Defaults to `bert-base-uncased`'s shape. A pretrained encoder's weights are loaded separately with
            `from_text_pretrained`, never from inside `__init__`.
        modalities (`list[str]`, *optional*, defaults to `["text", "audio", "vision"]`):
            Which modalities the model has encoders for. Text is required (it is the anchor of every method).
        audio_dim (`int`, *optional*, defaults to 5):
            Size of one audio feature frame (MOSI COVAREP subset 5, MOSEI 74, SIMS 33). 0 when audio is not modelled.
        vision_dim (`int`, *optional*, defaults to 20):
            Size of one vision feature frame (MOSI Facet 20, MOSEI 35, SIMS OpenFace 709).
        text_max_length, audio_max_length, vision_max_length (`int`):
            Sequence lengths of the standard feature files; the processor pads/truncates to them.
        metric_family (`str`, *optional*, defaults to `"mosi"`):
            Which MMSA metric set evaluates this model: "mosi" (also MOSEI), "sims" or "classification".
        label_range (`list[float]`, *optional*):
            Closed range regression labels must lie in; labels outside it are rejected, not clipped.
        linear_init (`str`, *optional*, defaults to `"pytorch"`):
            How fresh Linear and Conv1d layers outside the text encoder start: `"pytorch"` is PyTorch's own default
            (kaiming-uniform weights, uniform bias in +-1/sqrt(fan_in)), what the official MSA codebases (LNLN, MIB
            and the code DIB derives from) leave in place; `"normal"` is transformers' N(0, initializer_range) with
            zero bias. A method's own special initialisations (tokens, positions, gates) apply either way.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Std of the normal init of linear layers when `linear_init="normal"` (and of embeddings).
        problem_type (`str`): "regression" (one score, `num_labels=1`) or "single_label_classification".
    """

    model_type = "msa"
    sub_configs_defaults = {"text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}
    # Extra outputs Trainer must not concatenate into `EvalPrediction.predictions`.
    keys_to_ignore_at_inference = ["loss_terms", "unimodal_logits", "fused_representation", "hidden_states"]
    # Preset values a method adds on top of DATASET_PRESETS (e.g. a different width for SIMS).
    method_presets = {}
    # Keys of older saved configs that a method's __post_init__ still migrates (accepted by from_preset too).
    legacy_fields: ClassVar[tuple[str, ...]] = ()

    text_config: dict | PreTrainedConfig | None = None
    modalities: list[str] | tuple[str, ...] = ("text", "audio", "vision")
    audio_dim: int = 5
    vision_dim: int = 20
    text_max_length: int = 50
    audio_max_length: int = 375
    vision_max_length: int = 500
    metric_family: str = "mosi"
    label_range: list[float] | tuple[float, float] | None = (-3.0, 3.0)
    linear_init: str = "pytorch"
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        unknown = sorted(key for key in kwargs if key not in BASE_CONFIG_KWARGS)
        if unknown:
            logger.warning(f"{type(self).__name__}: unknown key(s) {unknown} are kept as attributes but no "
                           f"{type(self).__name__} field reads them{self._suggest(unknown)}")
        if self.problem_type is None:
            self.problem_type = "regression"
        if self.problem_type == "regression":
            kwargs.setdefault("num_labels", 1)
        self.modalities = list(self.modalities)
        if self.label_range is not None:
            self.label_range = [float(v) for v in self.label_range]
        super().__post_init__(**kwargs)
        self.check_msa_fields()

    @classmethod
    def field_names(cls) -> set[str]:
        """Every field a user may set: the dataclass fields of this config (shared and method ones) + num_labels."""
        return {f.name for f in dataclasses.fields(cls)} | {"num_labels"}

    @classmethod
    def _suggest(cls, unknown) -> str:
        names = sorted(cls.field_names())
        close = {key: difflib.get_close_matches(key, names, n=1) for key in unknown}
        hints = [f"{key!r} -> {match[0]!r}?" for key, match in close.items() if match]
        return f" (did you mean {', '.join(hints)})" if hints else ""

    def check_field_ranges(self, positive=(), unit_interval=(), non_negative=()) -> None:
        """ValueError naming the first field outside its range: sizes and counts > 0, dropout probabilities in
        [0, 1), loss weights and scales >= 0."""
        for field in positive:
            if not getattr(self, field) > 0:
                raise ValueError(f"{field} must be > 0, got {getattr(self, field)!r}")
        for field in unit_interval:
            if not 0.0 <= getattr(self, field) < 1.0:
                raise ValueError(f"{field} must be a probability in [0, 1), got {getattr(self, field)!r}")
        for field in non_negative:
            if not getattr(self, field) >= 0:
                raise ValueError(f"{field} must be >= 0, got {getattr(self, field)!r}")

    def check_msa_fields(self):
        """Raise a ValueError naming the field when the shared fields disagree (run at construction).

        Not a `validate_*` method on purpose: `@strict` wraps those in its own exception type, and users catch
        ValueError.
        """
        self.check_field_ranges(non_negative=("initializer_range",))
        bad = [m for m in self.modalities if m not in ALL_MODALITIES]
        if bad or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities must be distinct names from {ALL_MODALITIES}, got {self.modalities}")
        if "text" not in self.modalities:
            raise ValueError(f"modalities must include 'text' (the anchor of every method), got {self.modalities}")
        for name in ("audio", "vision"):
            dim, length = getattr(self, f"{name}_dim"), getattr(self, f"{name}_max_length")
            if name in self.modalities and (dim <= 0 or length <= 0):
                raise ValueError(
                    f"{name}_dim and {name}_max_length must be positive when '{name}' is in modalities, "
                    f"got {name}_dim={dim}, {name}_max_length={length}"
                )
            if dim < 0 or length < 0:
                raise ValueError(f"{name}_dim and {name}_max_length must be >= 0, got {dim} and {length}")
        if self.linear_init not in LINEAR_INITS:
            raise ValueError(f"linear_init must be one of {LINEAR_INITS}, got {self.linear_init!r}")
        if self.text_max_length <= 0:
            raise ValueError(f"text_max_length must be positive, got {self.text_max_length}")
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {self.problem_type!r}")
        if self.problem_type == "single_label_classification" and self.num_labels < 2:
            raise ValueError(f"single_label_classification needs num_labels >= 2, got {self.num_labels}")
        if self.problem_type == "regression" and self.num_labels != 1:
            raise ValueError(f"problem_type='regression' predicts one score: num_labels must be 1, got {self.num_labels}")
        if self.metric_family not in METRIC_FAMILIES:
            raise ValueError(f"metric_family must be one of {METRIC_FAMILIES}, got {self.metric_family!r}")
        if (self.metric_family == "classification") != (self.problem_type == "single_label_classification"):
            raise ValueError(
                f"metric_family={self.metric_family!r} does not fit problem_type={self.problem_type!r}: "
                "classification metrics go with single_label_classification, mosi/sims with regression"
            )
        if self.label_range is not None and (len(self.label_range) != 2 or self.label_range[0] >= self.label_range[1]):
            raise ValueError(f"label_range must be [low, high] with low < high, got {self.label_range}")

    @property
    def input_padding(self) -> str:
        """How inputs are padded for this model: "longest" (masks make padding irrelevant). Models that attend to
        padding override it with "max_length" (MMSA's fixed lengths)."""
        return "longest"

    @property
    def has_audio(self) -> bool:
        return "audio" in self.modalities

    @property
    def has_vision(self) -> bool:
        return "vision" in self.modalities

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "MSAConfig":
        """Config for a standard dataset layout (mosi, mosei, sims, mvsa); keyword overrides win.

        An override that is not a field of this config is refused (a typo must not train with the default)."""
        unknown = sorted(set(overrides) - cls.field_names() - set(cls.legacy_fields))
        if unknown:
            hint = cls._suggest(unknown) or ("; its fields: " + ", ".join(
                sorted(cls.field_names() - {f.name for f in dataclasses.fields(PreTrainedConfig)})))
            raise ValueError(f"{cls.__name__} has no field(s) {unknown}{hint}")
        key = name.lower().replace("-", "_").replace("cmu_", "")
        key = {"sims_v2": "sims", "ch_sims": "sims", "mvsa_single": "mvsa"}.get(key, key)
        if key not in DATASET_PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(DATASET_PRESETS)}")
        values = copy.deepcopy(DATASET_PRESETS[key])
        values.update(copy.deepcopy(cls.method_presets.get(key, {})))
        values.update(overrides)
        return cls(**values)


__all__ = ["ALL_MODALITIES", "BASE_CONFIG_KWARGS", "DATASET_PRESETS", "LINEAR_INITS", "METRIC_FAMILIES", "MSAConfig",
           "TEXT_INPUTS"]
