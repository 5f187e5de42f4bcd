"""MMSLF: an MLLM-prompted teacher distilled into a prompt-free student (Zhang et al., NeurIPS 2025;
github.com/LOGO-CUHKSZ/MMSLF).

A port of the official models/MMSLF.py that reproduces its golden fixture (../shared/golden/mmslf;
tests/test_mmslf_golden.py). Both roles share one body (B = batch, d = hidden_size, T = text length 50):
    text:  BERT(input_ids) -> Linear -> X_t [B, T, d]          audio / vision: Linear per frame -> X_a, X_v (no masks)
    teacher only, prompt: BERT_p(prompt) -> Linear -> Transformer with T learned query tokens -> X_p = first T rows
    H_la = CrossT(X_a -> X_t; X_p),  H_lv = CrossT(X_v -> X_t; X_p)   (prompt-modulated in the teacher)
    H_reg = FusionT([H_la; H_lv])[:, :4] (4 learned tokens);  y = Linear(flatten(H_reg))
Teacher loss: L1(y, label). Student loss: α·L1(y_S, label) + β·[L1(A_S^la, A_T^la) + L1(A_S^lv, A_T^lv)]
+ γ·L1(H_reg^S, H_reg^T), with A the last cross layer's UNMODULATED softmax map; the teacher's targets come in as
inputs (`teacher_*`), precomputed or from a teacher run beside the student.

Faithful behaviour kept (each in the model card): nothing after the BERTs is masked (padded text, zero frames and
padded prompt tokens take part in every attention), so the model pads audio / vision to their max lengths as the
reference's arrays are and the text must come padded to `text_max_length`; the modulation multiplies two logit maps;
the prompt is keyed on the source's value projection; positions are N(0, 1), extra tokens 0.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ...modeling_utils import MSAModelOutput, MSAPreTrainedModel, as_input_tensor, build_text_encoder
from ...modules import ModulatedCrossTransformer, TokenTransformer
from ...modules.token_transformer import init_reference_tables
from .configuration_mmslf import MmslfConfig, MmslfStudentConfig, MmslfTeacherConfig

# README commands (SIMS; the repository gives no MOSI / MOSEI recipe): one AdamW over every parameter (decayed
# alike, as in LNLN's code by the same authors), warm-up over 10% of the epochs then cosine, stepped per epoch;
# selection by validation MAE
_RECIPE = dict(text_learning_rate=None, weight_decay=1e-4, decay_all_parameters=True, per_device_train_batch_size=64,
               lr_schedule="warmup_cosine", warmup_fraction=0.1, schedule_unit="epoch", early_stopping_patience=None)
TEACHER_RECIPE = dict(_RECIPE, learning_rate=2e-4, num_train_epochs=100)
STUDENT_RECIPE = dict(_RECIPE, learning_rate=1e-4, num_train_epochs=200)


@dataclass
class MmslfModelOutput(ModelOutput):
    """
    Args:
        fusion_tokens (`torch.FloatTensor` of shape `[B, fusion_tokens, d]`): H_reg, the head's input (distilled).
        text_audio_attention, text_vision_attention (`torch.FloatTensor` of shape `[B, heads, T, S]`): the last
            cross layer's unmodulated softmax maps of text over audio / vision (distilled).
        text_audio_modulated_attention, text_vision_modulated_attention (`torch.FloatTensor`, *optional*): the maps
            that actually mixed the values when a prompt modulated them (teacher only; no loss reads them).
        text_audio_hidden, text_vision_hidden (`torch.FloatTensor` of shape `[B, T, d]`): H_la and H_lv.
    """

    fusion_tokens: torch.FloatTensor | None = None
    text_audio_attention: torch.FloatTensor | None = None
    text_vision_attention: torch.FloatTensor | None = None
    text_audio_modulated_attention: torch.FloatTensor | None = None
    text_vision_modulated_attention: torch.FloatTensor | None = None
    text_audio_hidden: torch.FloatTensor | None = None
    text_vision_hidden: torch.FloatTensor | None = None


@dataclass
class MmslfOutput(MSAModelOutput):
    """`MSAModelOutput` plus what distillation reads: `fusion_tokens`, `text_audio_attention`,
    `text_vision_attention` (see `MmslfModelOutput`)."""

    fusion_tokens: torch.FloatTensor | None = None
    text_audio_attention: torch.FloatTensor | None = None
    text_vision_attention: torch.FloatTensor | None = None


class MmslfPreTrainedModel(MSAPreTrainedModel):
    config_class = MmslfConfig
    base_model_prefix = "mmslf"
    _no_split_modules = ["ModulatedCrossLayer", "TokenTransformerLayer"]

    @torch.no_grad()
    def _init_weights(self, module):
        """The reference's: PyTorch's Linear init, positional tables N(0, 1), extra tokens 0, LayerNorm 1 / 0."""
        super()._init_weights(module)
        if isinstance(module, (TokenTransformer, ModulatedCrossTransformer)):
            init_reference_tables(module)


def _bert(encoder: nn.Module, frozen: bool, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        kwargs["token_type_ids"] = token_type_ids
    if frozen:  # upstream runs a frozen BERT under no_grad: no gradient reaches it or flows through it
        with torch.no_grad():
            return encoder(**kwargs).last_hidden_state
    return encoder(**kwargs).last_hidden_state


class MmslfModel(MmslfPreTrainedModel):
    """The body both roles share, up to the fusion tokens; the teacher's prompt stream is passed in (`prompt`)."""

    def __init__(self, config: MmslfConfig):
        super().__init__(config)
        d, text_length = config.hidden_size, config.text_max_length
        self.text_encoder = build_text_encoder(config.text_config)
        self.text_projection = nn.Linear(config.text_config.hidden_size, d)
        self.audio_projection = nn.Linear(config.audio_dim, d)
        self.vision_projection = nn.Linear(config.vision_dim, d)
        cross = dict(dim=d, depth=config.encoder_depth, heads=config.cross_heads, head_dim=config.cross_head_dim,
                     mlp_dim=config.cross_mlp_dim, dropout=config.cross_dropout, modulated=config.role == "teacher")
        self.text_audio_encoder = ModulatedCrossTransformer(config.audio_max_length, text_length, **cross)
        self.text_vision_encoder = ModulatedCrossTransformer(config.vision_max_length, text_length, **cross)
        self.fusion = TokenTransformer(2 * text_length, d, config.fusion_depth, config.fusion_heads,
                                       config.fusion_head_dim, config.fusion_mlp_dim, config.fusion_tokens)
        self.post_init()

    def _frames(self, inputs, modality: str) -> torch.Tensor:
        """Frames zeroed where the mask says padding and zero-padded to the max length (the reference's arrays)."""
        frames, mask = inputs.features[modality], inputs.masks[modality]
        limit = getattr(self.config, f"{modality}_max_length")
        if frames.shape[1] > limit:
            raise ValueError(f"{modality}_features has {frames.shape[1]} frames, more than {modality}_max_length="
                             f"{limit} (MMSLF's learned positions); cut or resample the clip")
        frames = frames * mask.unsqueeze(-1).to(frames.dtype)
        return nn.functional.pad(frames, (0, 0, 0, limit - frames.shape[1]))

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None,
                prompt: torch.Tensor | None = None) -> MmslfModelOutput:
        inputs = self.prepare_inputs(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                     vision_features, vision_attention_mask)
        if inputs.input_ids.shape[1] > self.config.text_max_length:
            raise ValueError(f"input_ids has {inputs.input_ids.shape[1]} tokens, more than text_max_length="
                             f"{self.config.text_max_length} (MMSLF's learned text positions)")
        text = self.text_projection(_bert(self.text_encoder, self.config.freeze_text_encoder, inputs.input_ids,
                                          inputs.attention_mask, inputs.token_type_ids))
        audio = self.audio_projection(self._frames(inputs, "audio"))
        vision = self.vision_projection(self._frames(inputs, "vision"))
        text_audio, audio_map, audio_modulated = self.text_audio_encoder(audio, text, prompt)
        text_vision, vision_map, vision_modulated = self.text_vision_encoder(vision, text, prompt)
        tokens = self.fusion(torch.cat([text_audio, text_vision], dim=1), keep_first=self.config.fusion_tokens)
        return MmslfModelOutput(
            fusion_tokens=tokens, text_audio_attention=audio_map, text_vision_attention=vision_map,
            text_audio_modulated_attention=audio_modulated, text_vision_modulated_attention=vision_modulated,
            text_audio_hidden=text_audio, text_vision_hidden=text_vision)


class PromptEncoder(nn.Module):
    """The teacher's prompt path: a BERT of its own -> Linear -> a Transformer that prepends `text_max_length`
    learned query tokens; their outputs are the prompt stream (the prompt tokens' own outputs are discarded)."""

    def __init__(self, config: MmslfTeacherConfig):
        super().__init__()
        self.text_encoder = build_text_encoder(config.prompt_text_config)
        self.projection = nn.Linear(config.prompt_text_config.hidden_size, config.hidden_size)
        self.transformer = TokenTransformer(config.prompt_max_length, config.hidden_size, config.prompt_depth,
                                            config.prompt_heads, config.prompt_head_dim, config.prompt_mlp_dim,
                                            config.text_max_length)
        self.frozen, self.queries = config.freeze_prompt_encoder, config.text_max_length

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        hidden = _bert(self.text_encoder, self.frozen, input_ids, attention_mask, token_type_ids)
        return self.transformer(self.projection(hidden), keep_first=self.queries)


def _head_input(tokens: torch.Tensor) -> torch.Tensor:
    return tokens.reshape(tokens.shape[0], -1)  # token-major, as upstream


class MmslfTeacherForSentimentAnalysis(MmslfPreTrainedModel):
    """The teacher: reads a context prompt per clip (`prompt_input_ids`, `prompt_attention_mask`) that modulates
    its cross-modal attention; trained with L1(ŷ, y). It needs the prompt at inference too; the student does not."""

    config_class = MmslfTeacherConfig
    text_encoder_path = "mmslf.text_encoder"
    training_recipes = {"official": TEACHER_RECIPE}
    # per sample and modality q ~ U(min_sampling_rate, 1): elements / text positions dropped (hf_msa.data.corruption)
    training_corruption = "sequence_sampling"

    def __init__(self, config: MmslfTeacherConfig):
        super().__init__(config)
        self.mmslf = MmslfModel(config)
        self.prompt_encoder = PromptEncoder(config)
        self.regressor = nn.Linear(config.fusion_tokens * config.hidden_size, 1)
        self.post_init()

    @classmethod
    def from_text_pretrained(cls, text_model_name_or_path: str, config=None, **config_kwargs):
        """Both BERTs start from the same pretrained encoder, as upstream's two bert-base-uncased loads do."""
        from transformers import AutoConfig

        config_kwargs.setdefault("prompt_text_config", AutoConfig.from_pretrained(text_model_name_or_path).to_dict())
        model = super().from_text_pretrained(text_model_name_or_path, config, **config_kwargs)
        model.prompt_encoder.text_encoder.load_state_dict(model.get_text_encoder().state_dict())
        return model

    def encode_prompt(self, prompt_input_ids, prompt_attention_mask=None, prompt_token_type_ids=None) -> torch.Tensor:
        if prompt_input_ids is None:
            raise ValueError("prompt_input_ids is required: the MMSLF teacher reads a context prompt per clip "
                             "(hf-msa prompts generate writes them); the student needs none")
        prompt_input_ids = as_input_tensor(prompt_input_ids, "prompt_input_ids")
        self.check_token_ids(prompt_input_ids, "prompt_input_ids", self.config.prompt_text_config)
        if prompt_input_ids.shape[1] > self.config.prompt_max_length:
            raise ValueError(f"prompt_input_ids has {prompt_input_ids.shape[1]} tokens, more than prompt_max_length="
                             f"{self.config.prompt_max_length}: truncate the prompt when tokenising it")
        if prompt_attention_mask is None:
            prompt_attention_mask = torch.ones_like(prompt_input_ids)
        return self.prompt_encoder(prompt_input_ids, prompt_attention_mask, prompt_token_type_ids)

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None, prompt_input_ids=None,
                prompt_attention_mask=None, prompt_token_type_ids=None, labels=None) -> MmslfOutput:
        prompt = self.encode_prompt(prompt_input_ids, prompt_attention_mask, prompt_token_type_ids)
        if input_ids is not None and input_ids.shape[1] != self.config.text_max_length:
            raise ValueError(f"input_ids has {input_ids.shape[1]} tokens; the teacher needs exactly text_max_length="
                             f"{self.config.text_max_length} (its prompt stream is that long and the two logit maps "
                             "are multiplied element-wise): pad the text to max_length")
        encoded = self.mmslf(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                             vision_features, vision_attention_mask, prompt=prompt)
        logits = self.regressor(_head_input(encoded.fusion_tokens)).squeeze(-1)
        loss, loss_terms = None, None
        if labels is not None:
            labels = self.check_labels(labels, logits.shape[0])
            loss_terms = {"task": nn.functional.l1_loss(logits, labels)}
            loss = loss_terms["task"]
            self.record_loss_terms(loss_terms)
        return MmslfOutput(loss=loss, logits=logits, loss_terms=loss_terms,
                           fused_representation=_head_input(encoded.fusion_tokens),
                           fusion_tokens=encoded.fusion_tokens, text_audio_attention=encoded.text_audio_attention,
                           text_vision_attention=encoded.text_vision_attention)


class MmslfStudentForSentimentAnalysis(MmslfPreTrainedModel):
    """The prompt-free student. With `labels` alone its loss is α·L1(ŷ, y); given the teacher's targets
    (`teacher_fusion_tokens`, `teacher_text_audio_attention`, `teacher_text_vision_attention`) it adds the
    distillation terms: β·[L1(A^la) + L1(A^lv)] + γ·L1(H_reg)."""

    config_class = MmslfStudentConfig
    text_encoder_path = "mmslf.text_encoder"
    training_recipes = {"official": STUDENT_RECIPE}

    def __init__(self, config: MmslfStudentConfig):
        super().__init__(config)
        self.mmslf = MmslfModel(config)
        self.regressor = nn.Linear(config.fusion_tokens * config.hidden_size, 1)
        self.post_init()

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None,
                teacher_fusion_tokens=None, teacher_text_audio_attention=None, teacher_text_vision_attention=None,
                labels=None) -> MmslfOutput:
        config = self.config
        encoded = self.mmslf(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                             vision_features, vision_attention_mask)
        logits = self.regressor(_head_input(encoded.fusion_tokens)).squeeze(-1)
        targets = {"fusion_tokens": teacher_fusion_tokens, "text_audio_attention": teacher_text_audio_attention,
                   "text_vision_attention": teacher_text_vision_attention}
        given = [name for name, value in targets.items() if value is not None]
        if given and len(given) != len(targets):
            raise ValueError(f"distillation needs all three teacher targets; got only {['teacher_' + n for n in given]}")
        loss, loss_terms = None, None
        if labels is not None:
            labels = self.check_labels(labels, logits.shape[0])
            loss_terms = {"task": nn.functional.l1_loss(logits, labels)}
            loss = config.task_weight * loss_terms["task"]
            if given:
                for name, target in targets.items():
                    mine = getattr(encoded, name)
                    if tuple(target.shape) != tuple(mine.shape):
                        raise ValueError(f"teacher_{name} must have the student's shape {tuple(mine.shape)}, got "
                                         f"{tuple(target.shape)}: a teacher with other heads or lengths?")
                loss_terms["attention"] = (
                    nn.functional.l1_loss(encoded.text_audio_attention, teacher_text_audio_attention.to(logits.dtype))
                    + nn.functional.l1_loss(encoded.text_vision_attention,
                                            teacher_text_vision_attention.to(logits.dtype)))
                loss_terms["fusion"] = nn.functional.l1_loss(encoded.fusion_tokens,
                                                             teacher_fusion_tokens.to(logits.dtype))
                loss = loss + config.attention_weight * loss_terms["attention"] + \
                    config.fusion_weight * loss_terms["fusion"]
            self.record_loss_terms(loss_terms)
        return MmslfOutput(loss=loss, logits=logits, loss_terms=loss_terms,
                           fused_representation=_head_input(encoded.fusion_tokens),
                           fusion_tokens=encoded.fusion_tokens, text_audio_attention=encoded.text_audio_attention,
                           text_vision_attention=encoded.text_vision_attention)


__all__ = ["MmslfModel", "MmslfModelOutput", "MmslfOutput", "MmslfPreTrainedModel", "MmslfStudentForSentimentAnalysis",
           "MmslfTeacherForSentimentAnalysis", "PromptEncoder"]
