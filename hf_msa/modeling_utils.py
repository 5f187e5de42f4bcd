"""The base every hf_msa model builds on: one output type, one input contract, one way to load a text encoder.

Every method's forward takes the same inputs (text ids and masks, audio/vision feature sequences with their masks,
labels) and returns :class:`MSAModelOutput`, so the processor, the Trainer, the metrics and the robustness harness
work with any of them unchanged. The whole objective lives in `forward`: the stock `transformers.Trainer` only
reads `loss`.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_utils import MSAConfig


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
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, text_length], got shape {tuple(input_ids.shape)}")
        batch, _ = input_ids.shape
        if batch == 0 or input_ids.shape[1] == 0:
            raise ValueError(f"input_ids is empty (shape {tuple(input_ids.shape)}): empty text cannot be encoded")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}, "
                f"got {tuple(attention_mask.shape)}"
            )
        if token_type_ids is not None and token_type_ids.shape != input_ids.shape:
            raise ValueError(
                f"token_type_ids must have the shape of input_ids {tuple(input_ids.shape)}, "
                f"got {tuple(token_type_ids.shape)}"
            )
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

    # ---- losses -----------------------------------------------------------------------------------------------
    def check_labels(self, labels: torch.Tensor, batch: int) -> torch.Tensor:
        """Labels as the task expects them, or a ValueError naming what is wrong."""
        config = self.config
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


def build_text_encoder(text_config) -> nn.Module:
    """The bare text encoder of a sub-config, without its pooler (every method pools on its own)."""
    try:
        return AutoModel.from_config(text_config, add_pooling_layer=False)
    except TypeError:  # encoders without a pooler option
        return AutoModel.from_config(text_config)


__all__ = ["MSAModelOutput", "MSAPreTrainedModel", "ModalityInputs", "build_text_encoder"]
