"""The base every hf_msa model builds on: one output type, one input contract, one way to load a text encoder.

Every method's forward takes the same inputs (text ids and masks, audio/vision feature sequences with their masks,
labels) and returns :class:`MSAModelOutput`, so the processor, the Trainer, the metrics and the robustness harness
work with any of them unchanged. The whole objective lives in `forward`: the stock `transformers.Trainer` only
reads `loss`.
"""

import importlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_utils import ALL_MODALITIES, MSAConfig


@dataclass
class MSAModelOutput(ModelOutput):
    """
    Output of every `*ForSentimentAnalysis` model.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): the full training objective, when `labels` is given.
        logits (`torch.FloatTensor`): `[B]` sentiment scores for regression, `[B, num_labels]` class logits otherwise.
        loss_terms (`dict[str, torch.FloatTensor]`, *optional*): every named term of the objective, unweighted, as
            scalars (e.g. `task`, `unimodal_text`, `mi_fusion`), so they can be logged and checked one by one.
        unimodal_logits (`dict[str, torch.FloatTensor]`, *optional*): per-modality predictions, same shape as logits.
        fused_representation (`torch.FloatTensor` of shape `[B, d]`, *optional*): the representation the head reads.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    loss_terms: dict[str, torch.FloatTensor] | None = None
    unimodal_logits: dict[str, torch.FloatTensor] | None = None
    fused_representation: torch.FloatTensor | None = None


@dataclass
class ModalityInputs:
    """Validated inputs: every present modality as features [B, T, D] plus a boolean mask [B, T]."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    features: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]

    def present(self, modality: str) -> torch.Tensor:
        """[B] bool: which samples carry at least one valid step of `modality`."""
        if modality == "text":
            return self.attention_mask.bool().any(dim=1)
        return self.masks[modality].any(dim=1)


class MSAPreTrainedModel(PreTrainedModel):
    """Shared machinery: weight init, input checks, task losses, loss-term logging, pretrained text encoders."""

    config_class = MSAConfig
    main_input_name = "input_ids"
    input_modalities = ("text", "audio", "video")
    supports_gradient_checkpointing = True
    # Our attention layers run SDPA or its explicit formula (`modules/attention.py`), as `attn_implementation` says;
    # the text encoder follows transformers' own switch.
    _supports_sdpa = True
    # ...and `set_attn_implementation` reaches them through `_apply_attn_implementation`. transformers decides whether
    # a model may switch at run time by a source heuristic (an `*Attention*(nn.Module)` class without AttentionInterface
    # means no); its cached answer is this attribute, so it is given here rather than guessed from the source.
    _can_set_attn_implementation_cached_value = True
    accepts_loss_kwargs = False  # our loss is a per-batch mean: let Trainer scale it for gradient accumulation
    # Where the text encoder lives inside each class (the bare model and its heads).
    text_encoder_path = "text_encoder"
    # Corruption the method's objective needs on its training split ("random_missing" for LNLN); the training
    # helpers (`hf_msa.data.training_collator`, `build_trainer`) apply it by default.
    training_corruption: str | None = None
    # Named training recipes besides the default (`hf_msa.training.recipe_settings`): TrainSettings fields.
    training_recipes: dict[str, dict] = {}

    # ---- initialisation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def _init_weights(self, module):
        """Linear / Conv1d layers as `config.linear_init` says (PyTorch's default unless "normal"); everything else
        as transformers does. The text encoder is a sub-model: transformers initialises it with its own rule."""
        if getattr(self.config, "linear_init", "normal") == "pytorch" and isinstance(module, (nn.Linear, nn.Conv1d)):
            # nn.Linear.reset_parameters / nn.Conv1d.reset_parameters, through the guarded transformers init functions
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                init.uniform_(module.bias, -bound, bound)
            return
        super()._init_weights(module)

    # ---- attention implementation -----------------------------------------------------------------------------
    def post_init(self):
        super().post_init()
        self._apply_attn_implementation()

    def set_attn_implementation(self, attn_implementation, *args, **kwargs):
        super().set_attn_implementation(attn_implementation, *args, **kwargs)
        self._apply_attn_implementation()

    def _apply_attn_implementation(self) -> None:
        """Tell every hf_msa attention layer which implementation the config asks for ("eager" or "sdpa")."""
        requested = self.config._attn_implementation
        how = "eager" if requested == "eager" else "sdpa"
        for module in self.modules():
            if hasattr(module, "attn_implementation") and not isinstance(module, PreTrainedModel):
                module.attn_implementation = how

    # ---- inputs -----------------------------------------------------------------------------------------------
    def prepare_inputs(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        audio_features: torch.Tensor | None,
        audio_attention_mask: torch.Tensor | None,
        vision_features: torch.Tensor | None,
        vision_attention_mask: torch.Tensor | None,
    ) -> ModalityInputs:
        """Check shapes, dims and values; a modality given as None becomes an all-missing input (zero mask)."""
        config = self.config
        if input_ids is None:
            raise ValueError("input_ids is required: text is the anchor modality of every hf_msa model")
        input_ids = as_input_tensor(input_ids, "input_ids")
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, text_length], got shape {tuple(input_ids.shape)}")
        batch, _ = input_ids.shape
        if batch == 0 or input_ids.shape[1] == 0:
            raise ValueError(f"input_ids is empty (shape {tuple(input_ids.shape)}): empty text cannot be encoded")
        self.check_token_ids(input_ids, "input_ids")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = check_mask(as_input_tensor(attention_mask, "attention_mask"), "attention_mask")
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}, "
                f"got {tuple(attention_mask.shape)}"
            )
        if token_type_ids is not None:
            token_type_ids = as_input_tensor(token_type_ids, "token_type_ids")
            if token_type_ids.shape != input_ids.shape:
                raise ValueError(
                    f"token_type_ids must have the shape of input_ids {tuple(input_ids.shape)}, "
                    f"got {tuple(token_type_ids.shape)}"
                )
            types = getattr(config.text_config, "type_vocab_size", None)
            if token_type_ids.is_floating_point() or (types is not None and (
                    token_type_ids.min() < 0 or token_type_ids.max() >= types)):
                raise ValueError(f"token_type_ids must be integer segment ids in [0, {types}) (the text encoder's "
                                 f"type_vocab_size), got dtype {token_type_ids.dtype} with values in "
                                 f"[{token_type_ids.min().item()}, {token_type_ids.max().item()}]")
        empty = ~attention_mask.bool().any(dim=1)
        if empty.any():
            raise ValueError(
                f"attention_mask is all zero for sample(s) {empty.nonzero().flatten().tolist()}: empty text. "
                "Tokenise at least the special tokens ([CLS] [SEP]) for a sample with no words."
            )
        features, masks = {}, {}
        given = {"audio": (audio_features, audio_attention_mask), "vision": (vision_features, vision_attention_mask)}
        for name, (values, mask) in given.items():
            if name not in config.modalities:
                if values is not None:
                    raise ValueError(
                        f"{name}_features were given but this model has no '{name}' encoder "
                        f"(config.modalities={config.modalities})"
                    )
                continue
            dim = getattr(config, f"{name}_dim")
            if values is not None:
                values = as_input_tensor(values, f"{name}_features")
                if values.ndim == 3 and values.shape[1] == 0:  # no frames at all: the modality is missing
                    values = mask = None
            if values is None:  # the whole modality is absent: one zero frame per sample, fully masked
                values = torch.zeros(batch, 1, dim, device=input_ids.device)
                mask = torch.zeros(batch, 1, dtype=torch.bool, device=input_ids.device)
            if values.ndim != 3:
                raise ValueError(f"{name}_features must be [batch, time, {dim}], got shape {tuple(values.shape)}")
            if values.shape[0] != batch:
                raise ValueError(
                    f"{name}_features has batch size {values.shape[0]} but input_ids has {batch}: batch sizes disagree"
                )
            if values.shape[2] != dim:
                raise ValueError(
                    f"{name}_features has feature dim {values.shape[2]}, expected {name}_dim={dim} "
                    f"(shape [batch, time, {dim}]), got shape {tuple(values.shape)}"
                )
            if mask is None:
                mask = torch.ones(values.shape[:2], dtype=torch.bool, device=values.device)
            mask = check_mask(as_input_tensor(mask, f"{name}_attention_mask"), f"{name}_attention_mask")
            if tuple(mask.shape) != tuple(values.shape[:2]):
                raise ValueError(
                    f"{name}_attention_mask must be [batch, time] = {tuple(values.shape[:2])}, got {tuple(mask.shape)}"
                )
            if not torch.isfinite(values).all():
                raise ValueError(
                    f"{name}_features contains NaN or inf; sanitise them in the feature extractor "
                    "(MSAFeatureExtractor(non_finite='zero')) or fix the source file"
                )
            features[name] = values.to(self.dtype)
            masks[name] = mask.bool()
        return ModalityInputs(input_ids, attention_mask, token_type_ids, features, masks)

    def modality_presence(self, inputs: ModalityInputs, modality_mask: torch.Tensor | None) -> torch.Tensor:
        """[B, 3] bool (text, audio, vision): a modality is present when it has a valid step and `modality_mask`
        ([B, 3], 1 = present; upstream's `ps`) keeps it. For models that take a `modality_mask` (HME, CyIN)."""
        present = torch.stack([inputs.present(m) for m in ALL_MODALITIES], dim=1)
        if modality_mask is None:
            return present
        modality_mask = check_mask(modality_mask, "modality_mask")
        if modality_mask.shape != present.shape:
            raise ValueError(f"modality_mask must be [batch, 3] (text, audio, vision; 1 = present), got shape "
                             f"{tuple(modality_mask.shape)}")
        return present & modality_mask.bool().to(present.device)

    # ---- losses -----------------------------------------------------------------------------------------------
    def check_token_ids(self, input_ids: torch.Tensor, name: str = "input_ids", text_config=None) -> None:
        """Integer ids inside the text encoder's vocabulary and positions, or a ValueError saying which limit
        (`text_config`: another encoder's, e.g. a prompt encoder; default the text encoder's)."""
        text_config = text_config if text_config is not None else self.config.text_config
        if input_ids.is_floating_point() or input_ids.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer token ids (torch.long), got dtype {input_ids.dtype}")
        vocab = getattr(text_config, "vocab_size", None)
        if vocab is not None and (input_ids.min() < 0 or input_ids.max() >= vocab):
            raise ValueError(f"{name} must be token ids in [0, {vocab}) (the text encoder's vocab_size), got values "
                             f"in [{input_ids.min().item()}, {input_ids.max().item()}]: a tokenizer of another model?")
        limit = text_position_limit(text_config)
        if limit is not None and input_ids.shape[1] > limit:
            raise ValueError(f"{name} has {input_ids.shape[1]} tokens but the text encoder "
                             f"({text_config.model_type}) has {limit} positions: truncate the text, e.g. "
                             f"MSAProcessor(max_text_length<={limit}) or tokenizer(..., truncation=True, max_length={limit})")

    def check_labels(self, labels: torch.Tensor, batch: int) -> torch.Tensor:
        """Labels as the task expects them, or a ValueError naming what is wrong."""
        config = self.config
        labels = as_input_tensor(labels, "labels")
        if labels.ndim == 0:
            raise ValueError(f"labels must be [batch] values, got a scalar ({labels.item()})")
        if labels.shape[0] != batch:
            raise ValueError(f"labels has batch size {labels.shape[0]} but the inputs have {batch}")
        if config.problem_type == "regression":
            labels = labels.reshape(batch, -1)
            if labels.shape[1] != 1:
                raise ValueError(f"regression labels must be [batch] or [batch, 1], got {tuple(labels.shape)}")
            labels = labels[:, 0].float()
            if not torch.isfinite(labels).all():
                raise ValueError("labels contains NaN or inf")
            if config.label_range is not None:
                low, high = config.label_range
                if labels.min() < low - 1e-6 or labels.max() > high + 1e-6:
                    raise ValueError(
                        f"labels must lie in label_range={config.label_range}, got values in "
                        f"[{labels.min().item():.3f}, {labels.max().item():.3f}]"
                    )
            return labels
        if labels.is_floating_point():
            if not torch.equal(labels, labels.round()):
                raise ValueError(
                    f"labels for problem_type={config.problem_type!r} must be class ids in [0, {config.num_labels}), "
                    "got non-integer values (regression labels given to a classification config?)"
                )
            labels = labels.long()
        labels = labels.reshape(-1)
        if labels.numel() != batch or labels.min() < 0 or labels.max() >= config.num_labels:
            raise ValueError(
                f"labels must be [batch] class ids in [0, {config.num_labels}), got shape {tuple(labels.shape)} "
                f"with values in [{labels.min().item()}, {labels.max().item()}]"
            )
        return labels

    def task_loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """L1 (or MSE) for regression, cross-entropy for classification; `logits` [B] or [B, C]."""
        if self.config.problem_type == "regression":
            if getattr(self.config, "regression_loss", "l1") == "mse":
                return nn.functional.mse_loss(logits, labels, reduction=reduction)
            return nn.functional.l1_loss(logits, labels, reduction=reduction)
        return nn.functional.cross_entropy(logits, labels, reduction=reduction)

    # ---- loss-term logging for the stock Trainer --------------------------------------------------------------
    def record_loss_terms(self, loss_terms: dict[str, torch.Tensor]) -> None:
        """Accumulate detached loss terms while training; `LossTermsCallback` reads and resets them at each log."""
        if not self.training:
            return
        store = self.__dict__.setdefault("_logged_loss_terms", {})
        for name, value in loss_terms.items():
            total, count = store.get(name, (0.0, 0))
            store[name] = (total + value.detach().float(), count + 1)

    def pop_loss_term_means(self) -> dict[str, float]:
        store = self.__dict__.pop("_logged_loss_terms", {})
        return {name: float(total / count) for name, (total, count) in store.items()}

    # ---- saving -----------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, plus the code the checkpoint needs where hf_msa is not installed: the
        method's files and the shared pieces they import, flat beside the weights, named in config.json's
        `auto_map` (see `hf_msa.remote_code`). A class loaded from such a bundle saves through transformers' own
        remote-code copy instead."""
        if not type(self).__module__.startswith("hf_msa."):
            return super().save_pretrained(save_directory, *args, **kwargs)
        remote_code = importlib.import_module("hf_msa.remote_code")  # only the installed package bundles itself
        self.config.auto_map = remote_code.auto_map_for_model(type(self), type(self.config))
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            remote_code.write_model_code(self, save_directory)
        return result

    # ---- loading ----------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, refusing what would otherwise load silently wrong: a path that is no
        folder (named as such, not as a bad repo id), a damaged weights file (named), and weights whose encoder does
        not fit this class (e.g. another model type's weights beside this config) instead of a randomly
        initialised model. Missing heads alone (a bare-encoder checkpoint) load with transformers' warning."""
        require_local_folder(pretrained_model_name_or_path)
        want_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(pretrained_model_name_or_path, *model_args,
                                                  output_loading_info=True, **kwargs)
        except SafetensorError as error:
            raise OSError(f"{weights_files(pretrained_model_name_or_path)} in {pretrained_model_name_or_path}: "
                          f"not a readable safetensors file ({error}); it is damaged or truncated, save or download "
                          "it again") from None
        prefix = cls.base_model_prefix
        missing = list(info.get("missing_keys", []))
        encoder_missing = [k for k in missing if k.startswith(prefix + ".")] if hasattr(model, prefix) else missing
        if encoder_missing:
            raise ValueError(
                f"{pretrained_model_name_or_path}: the weights do not fit {cls.__name__} "
                f"(config model_type {model.config.model_type!r}): {len(encoder_missing)} encoder tensors are missing "
                f"(e.g. {encoder_missing[:3]}), {len(info.get('unexpected_keys', []))} tensors in the file are unknown "
                f"to it. The weights belong to another model type or are incomplete; nothing is initialised at random "
                "in their place."
            )
        return (model, info) if want_info else model

    # ---- pretrained text encoders -----------------------------------------------------------------------------
    def get_text_encoder(self) -> nn.Module:
        module = self
        for part in self.text_encoder_path.split("."):
            module = getattr(module, part)
        return module

    def get_input_embeddings(self) -> nn.Module:
        return self.get_text_encoder().get_input_embeddings()

    @classmethod
    def from_text_pretrained(cls, text_model_name_or_path: str, config: MSAConfig | None = None, **config_kwargs):
        """Fresh fusion weights around a pretrained text encoder (a Hub id or a local folder).

        `config` (or `config_kwargs`, e.g. from `XConfig.from_preset(...)`) gives the rest; its `text_config` is
        replaced by the pretrained encoder's.
        """
        text_model = AutoModel.from_pretrained(text_model_name_or_path)
        text_config = text_model.config.to_dict()
        if config is None:
            config = cls.config_class(text_config=text_config, **config_kwargs)
        else:
            values = config.to_dict()
            values.update(config_kwargs, text_config=text_config)
            values.pop("model_type", None)
            config = cls.config_class(**values)
        model = cls(config)
        state = {k: v for k, v in text_model.state_dict().items() if not k.startswith("pooler.")}
        missing, unexpected = model.get_text_encoder().load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"pretrained text encoder {text_model_name_or_path!r} does not fit: missing {missing}, "
                f"unexpected {unexpected}"
            )
        return model


# Text encoders whose position ids start after the padding index (RoBERTa's scheme): pad_token_id + 1 slots unused.
OFFSET_POSITION_MODELS = ("roberta", "xlm-roberta", "camembert", "mpnet", "longformer", "data2vec-text")


def text_position_limit(text_config) -> int | None:
    """How many tokens the text encoder can place (None when its positions are unbounded, e.g. relative)."""
    positions = getattr(text_config, "max_position_embeddings", None)
    if positions is None or getattr(text_config, "position_embedding_type", "absolute") != "absolute":
        return None
    if text_config.model_type in OFFSET_POSITION_MODELS:
        positions -= (getattr(text_config, "pad_token_id", 1) or 0) + 1
    return positions


def as_input_tensor(value, name: str) -> torch.Tensor:
    """A forward input as a tensor: numpy arrays are converted; anything else is refused naming the input."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got a numpy array of dtype {value.dtype}")
        return torch.from_numpy(value)
    raise TypeError(f"{name} must be a torch.Tensor (or a numpy array), got {type(value).__name__}; "
                    "the processor returns tensors with return_tensors='pt'")


def check_mask(mask: torch.Tensor, name: str) -> torch.Tensor:
    """A 0/1 (or bool) mask; other values are refused rather than read as 'valid'."""
    if mask.dtype != torch.bool and mask.numel() and not ((mask == 0) | (mask == 1)).all():
        raise ValueError(f"{name} must hold 0 (padding / missing) or 1 (valid), got values "
                         f"{sorted({float(v) for v in mask.unique()[:5].tolist()})}")
    return mask


def require_local_folder(path) -> None:
    """A string that can only be a local path (not `name` or `namespace/name`) must be an existing folder."""
    if not isinstance(path, (str, os.PathLike)) or Path(path).is_dir():
        return
    text = str(path)
    try:
        validate_repo_id(text)
    except HFValidationError:
        raise OSError(f"model folder {text!r} does not exist (and is not a Hub repo id)") from None


def weights_files(path) -> str:
    found = sorted(p.name for p in Path(path).glob("*.safetensors")) if Path(str(path)).is_dir() else []
    return ", ".join(found) or "the weights file"


def build_text_encoder(text_config) -> nn.Module:
    """The bare text encoder of a sub-config, without its pooler (every method pools on its own)."""
    try:
        return AutoModel.from_config(text_config, add_pooling_layer=False)
    except TypeError:  # encoders without a pooler option
        return AutoModel.from_config(text_config)


__all__ = ["MSAModelOutput", "MSAPreTrainedModel", "ModalityInputs", "as_input_tensor", "build_text_encoder",
           "check_mask", "text_position_limit"]
