"""LNLN: Language-dominated Noise-resistant Learning Network (Zhang, Wang, Yu; NeurIPS 2024, arXiv 2409.20012).

A port of the official code (github.com/Haoyu-ha/LNLN @ 80a052c) that reproduces its golden fixture
(../shared/golden/lnln; tests/test_lnln_golden.py). Pipeline (B = batch, d = 128, 8 summary tokens per modality):
    text  -> BERT -> Linear(768 -> d) -> TokenTransformer (+8 extra tokens) -> first 8 tokens: H_l
    audio -> Linear(Da -> d) -> TokenTransformer (+8) -> H_a;  vision likewise -> H_v
    DMC: completeness check w = sigmoid(MLP(TokenTransformer(+1 token)(H_l)[:, 0]))          [B, 1]
         proxy dominant feature H_p' = GRL(TokenTransformer(+8)([H_p; H_a; H_v])[:, :8])
         dominant feature H_d = w * H_l + (1 - w) * H_p'
    DMML: language encoder states [H_d^0, H_d^1, H_d^2]; hyper tokens updated from audio/vision by each state;
          fusion CrossTransformer(source = hyper tokens, target = H_d^2); mean of target tokens 1..8 -> Linear -> y
    Training only (when the uncorrupted inputs are given): an effectiveness discriminator tells H_d tokens (label 1)
    from the complete text's tokens (label 0), and three reconstructors map the corrupted tokens to the complete ones.
Loss: α·MSE(w, 1 - r_text) + β·CE(discriminator) + γ·MSE(reconstruction, complete tokens) + σ·MSE(y, label).

Faithful behaviour kept (each listed in the model card):
* The gradient reversal layer sits in the forward path of H_p', so every loss term reaches the proxy generator
  reversed, not only the adversarial one.
* No padding mask inside LNLN's own attention (`attend_to_padding=True`); `False` masks padding out (a deviation).
* The complete-input embeddings (discriminator input and reconstruction target) are computed with gradient.
* The completeness target is 1 - the text missing rate; when the inputs are not marked as corrupted
  (`text_missing_rate=None`) they are complete and the target is 1.
* Initialisation: PyTorch's defaults for every Linear (`linear_init="pytorch"`), plus the reference's own
  positions N(0, 1), extra tokens 0, proxy and hyper tokens 1.
* Corruption belongs to the data pipeline, never to the model, but LNLN asks for it: `training_corruption =
  "random_missing"` makes the training helpers (`hf_msa.data.training_collator`, `build_trainer`, `hf-msa train`)
  corrupt the training split and pass the uncorrupted inputs by default. A training forward with labels and without
  them warns once that the objective is partial.
* `training_recipes["official"]`: the reference's schedule (AdamW 1e-4 on everything, BERT included, weight decay
  1e-4 on every parameter, batch 64, 200 epochs, warm-up from 0 over 20 epochs then cosine over 180, stepped per
  epoch, no early stopping, validation and test corrupted at r = 0.5 scored every epoch).
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput, logging
from transformers.utils.generic import can_return_tuple

from ...modeling_utils import MSAModelOutput, MSAPreTrainedModel, build_text_encoder
from ...modules import CrossTokenTransformer, HyperModalityLayer, TokenTransformer, reverse_gradient
from ...modules.token_transformer import init_reference_tables
from .configuration_lnln import LnlnConfig

logger = logging.get_logger(__name__)

# configs/train_{mosi,mosei,sims}.yaml and core/scheduler.py of the reference (see the card for each item)
OFFICIAL_RECIPE = dict(
    learning_rate=1e-4, text_learning_rate=None, weight_decay=1e-4, decay_all_parameters=True,
    per_device_train_batch_size=64, num_train_epochs=200, lr_schedule="warmup_cosine", warmup_fraction=0.1,
    schedule_unit="epoch", early_stopping_patience=None, corrupted_evaluation_rate=0.5, random_missing_training=True,
)


@dataclass
class LnlnModelOutput(ModelOutput):
    """
    Args:
        pooled (`torch.FloatTensor` of shape `[B, d]`): mean of the fusion target tokens 1..N (the head's input).
        completeness (`torch.FloatTensor` of shape `[B, 1]`): w, the estimated completeness of the text.
        text_tokens, audio_tokens, vision_tokens (`torch.FloatTensor` of shape `[B, N, d]`): H_l, H_a, H_v.
        proxy_tokens (`torch.FloatTensor` of shape `[B, N, d]`): H_p' (after the gradient reversal layer).
        dominant_tokens (`torch.FloatTensor` of shape `[B, N, d]`): H_d.
        language_states (`tuple[torch.FloatTensor]`): the language encoder's input + positions and each layer's output.
        hyper_tokens (`torch.FloatTensor` of shape `[B, N, d]`): the hyper-modality tokens after the last layer.
        fused_tokens (`torch.FloatTensor` of shape `[B, N + 1, d]`): the fusion output, token 0 the shared token.
    """

    pooled: torch.FloatTensor | None = None
    completeness: torch.FloatTensor | None = None
    text_tokens: torch.FloatTensor | None = None
    audio_tokens: torch.FloatTensor | None = None
    vision_tokens: torch.FloatTensor | None = None
    proxy_tokens: torch.FloatTensor | None = None
    dominant_tokens: torch.FloatTensor | None = None
    language_states: tuple[torch.FloatTensor, ...] | None = None
    hyper_tokens: torch.FloatTensor | None = None
    fused_tokens: torch.FloatTensor | None = None


@dataclass
class LnlnOutput(MSAModelOutput):
    """MSAModelOutput plus LNLN's completeness score and, in training calls, the discriminator and reconstruction
    tensors (`discriminator_logits` [2B*N, 2], `reconstructed_tokens` / `complete_tokens` [B, 3N, d], order a, v, l)."""

    completeness: torch.FloatTensor | None = None
    discriminator_logits: torch.FloatTensor | None = None
    reconstructed_tokens: torch.FloatTensor | None = None
    complete_tokens: torch.FloatTensor | None = None


class TwoLayerHead(nn.Module):
    """Linear -> LeakyReLU(0.1) -> Linear (LNLN's completeness MLP and effectiveness discriminator)."""

    def __init__(self, dim: int, hidden: int, out: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, out)

    def forward(self, x):
        return self.fc2(nn.functional.leaky_relu(self.fc1(x), 0.1))


class LnlnPreTrainedModel(MSAPreTrainedModel):
    config_class = LnlnConfig
    base_model_prefix = "lnln"
    _no_split_modules = ["TokenTransformerLayer"]

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        # the reference: positional embeddings ~ N(0, 1), extra tokens 0, proxy and hyper tokens 1
        if isinstance(module, (TokenTransformer, CrossTokenTransformer)):
            init_reference_tables(module)
        elif isinstance(module, LnlnModel):
            init.ones_(module.proxy_tokens)
            init.ones_(module.hyper_tokens)


class LnlnModel(LnlnPreTrainedModel):
    """LNLN without its regression head and training-only branches."""

    def __init__(self, config: LnlnConfig):
        super().__init__(config)
        d, n = config.hidden_size, config.num_tokens
        blocks = dict(dim=d, heads=config.num_attention_heads, head_dim=config.attention_head_dim,
                      mlp_dim=config.mlp_dim, dropout=config.dropout)
        self.text_encoder = build_text_encoder(config.text_config)
        self.text_projection = nn.Linear(config.text_config.hidden_size, d)
        self.audio_projection = nn.Linear(config.audio_dim, d)
        self.vision_projection = nn.Linear(config.vision_dim, d)
        depth = config.embedding_depth
        self.text_embedding = TokenTransformer(config.text_max_length, depth=depth, num_extra_tokens=n, **blocks)
        self.audio_embedding = TokenTransformer(config.audio_max_length, depth=depth, num_extra_tokens=n, **blocks)
        self.vision_embedding = TokenTransformer(config.vision_max_length, depth=depth, num_extra_tokens=n, **blocks)
        self.completeness_encoder = TokenTransformer(n, depth=config.completeness_depth, num_extra_tokens=1, **blocks)
        self.completeness_head = TwoLayerHead(d, config.completeness_hidden_size, 1)
        self.proxy_tokens = nn.Parameter(torch.ones(1, n, d))
        self.proxy_generator = TokenTransformer(3 * n, depth=config.proxy_depth, num_extra_tokens=n, **blocks)
        self.language_encoder = TokenTransformer(n, depth=config.language_encoder_depth, **blocks)
        self.hyper_tokens = nn.Parameter(torch.ones(1, n, d))
        self.hyper_layers = nn.ModuleList(
            HyperModalityLayer(d, config.num_attention_heads, config.dropout) for _ in range(config.language_encoder_depth + 1))
        self.fusion = CrossTokenTransformer(n, n, depth=config.fusion_depth, **blocks)
        self.post_init()

    def _mask(self, mask):
        return None if self.config.attend_to_padding else mask

    def embed_text(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        states = self.text_projection(self.text_encoder(**kwargs).last_hidden_state)
        return self.text_embedding(states, self._mask(attention_mask), keep_first=self.config.num_tokens)

    def embed_sequence(self, modality: str, features, mask) -> torch.Tensor:
        states = getattr(self, f"{modality}_projection")(features)
        # only the n learned tokens are kept: the last embedding layer computes those rows alone (same numbers)
        return getattr(self, f"{modality}_embedding")(states, self._mask(mask), keep_first=self.config.num_tokens)

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None) -> LnlnModelOutput:
        inputs = self.prepare_inputs(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                     vision_features, vision_attention_mask)
        n = self.config.num_tokens
        vision = self.embed_sequence("vision", inputs.features["vision"], inputs.masks["vision"])
        audio = self.embed_sequence("audio", inputs.features["audio"], inputs.masks["audio"])
        text = self.embed_text(inputs.input_ids, inputs.attention_mask, inputs.token_type_ids)
        completeness = torch.sigmoid(self.completeness_head(self.completeness_encoder(text, keep_first=1)[:, 0]))
        proxy_input = torch.cat([self.proxy_tokens.expand(text.shape[0], -1, -1), audio, vision], dim=1)
        proxy = reverse_gradient(self.proxy_generator(proxy_input, keep_first=n), self.config.gradient_reversal_scale)
        weight = completeness.unsqueeze(-1)  # [B, 1, 1]
        dominant = proxy * (1 - weight) + text * weight
        _, states = self.language_encoder(dominant, return_hidden_states=True)
        hyper = self.hyper_tokens.expand(text.shape[0], -1, -1)
        for layer, state in zip(self.hyper_layers, states):
            hyper = layer(state, audio, vision, hyper)
        fused = self.fusion(hyper, states[-1])
        return LnlnModelOutput(
            pooled=fused[:, 1:].mean(dim=1), completeness=completeness, text_tokens=text, audio_tokens=audio,
            vision_tokens=vision, proxy_tokens=proxy, dominant_tokens=dominant, language_states=tuple(states),
            hyper_tokens=hyper, fused_tokens=fused,
        )


class LnlnForSentimentAnalysis(LnlnPreTrainedModel):
    """LNLN with its regression head, effectiveness discriminator and reconstructors; `forward` holds the objective.

    Training with the reference objective needs the uncorrupted inputs as well (`complete_*`) and the per-sample
    text missing rate; `hf_msa.data.RandomMissingCollator` produces both views, and the training helpers use it by
    default (`training_corruption`). Without them (evaluation,
    inference) the discriminator and reconstruction terms are skipped, as in the reference.
    """

    text_encoder_path = "lnln.text_encoder"
    training_corruption = "random_missing"
    training_recipes = {"official": OFFICIAL_RECIPE}

    def __init__(self, config: LnlnConfig):
        super().__init__(config)
        d, n = config.hidden_size, config.num_tokens
        self.lnln = LnlnModel(config)
        self.regressor = nn.Linear(d, 1)
        self.discriminator = TwoLayerHead(d, config.discriminator_hidden_size, 2)
        blocks = dict(dim=d, heads=config.num_attention_heads, head_dim=config.attention_head_dim,
                      mlp_dim=config.mlp_dim, dropout=config.dropout)
        self.reconstructors = nn.ModuleDict(
            {m: TokenTransformer(n, depth=config.reconstructor_depth, **blocks) for m in ("audio", "vision", "text")})
        self.post_init()

    def _complete_tokens(self, modality, complete, corrupted, mask, corrupted_tokens):
        """Tokens of the uncorrupted `modality` inputs. Random missing leaves many samples untouched (the reference
        protocol: half the batch per modality); their tokens are those of the corrupted view, since the embedding has
        no randomness when `dropout` is 0, so they are reused and only the changed samples are embedded again. The
        same values, and the same gradients (the shared tokens receive both uses' gradients, as two copies would)."""
        if (self.training and self.config.dropout > 0) or complete.shape != corrupted.shape:
            return self.lnln.embed_sequence(modality, complete, mask)
        changed = (complete != corrupted).flatten(1).any(dim=1).nonzero().squeeze(1)
        if len(changed) == len(complete):
            return self.lnln.embed_sequence(modality, complete, mask)
        if len(changed) == 0:
            return corrupted_tokens
        fresh = self.lnln.embed_sequence(modality, complete[changed], None if mask is None else mask[changed])
        return corrupted_tokens.index_copy(0, changed, fresh)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
        audio_attention_mask: torch.LongTensor | None = None,
        vision_features: torch.FloatTensor | None = None,
        vision_attention_mask: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        complete_input_ids: torch.LongTensor | None = None,
        complete_audio_features: torch.FloatTensor | None = None,
        complete_vision_features: torch.FloatTensor | None = None,
        text_missing_rate: torch.FloatTensor | None = None,
    ) -> LnlnOutput:
        config = self.config
        encoded = self.lnln(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                            vision_features, vision_attention_mask)
        logits = self.regressor(encoded.pooled).squeeze(-1)
        completes = (complete_input_ids, complete_audio_features, complete_vision_features)
        if any(c is not None for c in completes) and not all(c is not None for c in completes):
            raise ValueError("give all of complete_input_ids, complete_audio_features and complete_vision_features "
                             "(the uncorrupted inputs), or none of them")
        discriminator_logits = reconstructed = complete = None
        if complete_input_ids is not None:
            if complete_input_ids.shape != input_ids.shape:
                raise ValueError(f"complete_input_ids must have the shape of input_ids {tuple(input_ids.shape)}, "
                                 f"got {tuple(complete_input_ids.shape)}")
            complete_text = self.lnln.embed_text(complete_input_ids, attention_mask, token_type_ids)
            complete_vision = self._complete_tokens("vision", complete_vision_features, vision_features,
                                                    vision_attention_mask, encoded.vision_tokens)
            complete_audio = self._complete_tokens("audio", complete_audio_features, audio_features,
                                                   audio_attention_mask, encoded.audio_tokens)
            tokens = torch.cat([encoded.dominant_tokens, complete_text], dim=0)  # [2B, N, d]
            discriminator_logits = self.discriminator(tokens.reshape(-1, tokens.shape[-1]))
            reconstructed = torch.cat([self.reconstructors["audio"](encoded.audio_tokens),
                                       self.reconstructors["vision"](encoded.vision_tokens),
                                       self.reconstructors["text"](encoded.text_tokens)], dim=1)
            complete = torch.cat([complete_audio, complete_vision, complete_text], dim=1)
        loss, loss_terms = None, None
        if labels is not None:
            if self.training and complete_input_ids is None:
                logger.warning_once(
                    "LNLN: a training forward without the uncorrupted inputs (complete_input_ids, complete_audio_features, "
                    "complete_vision_features) trains a partial objective: the adversarial and reconstruction terms are "
                    "skipped and the completeness target is 1 - text_missing_rate (1 when not given). Train through "
                    "hf_msa.data.training_collator / RandomMissingCollator(emit_complete=True) for LNLN's objective."
                )
            labels = self.check_labels(labels, input_ids.shape[0])
            rate = torch.zeros_like(labels) if text_missing_rate is None else text_missing_rate.reshape(-1).float()
            if rate.shape != labels.shape or (rate < 0).any() or (rate > 1).any():
                raise ValueError(f"text_missing_rate must be [batch] values in [0, 1], got shape {tuple(rate.shape)}")
            loss_terms = {
                "completeness": nn.functional.mse_loss(encoded.completeness.reshape(-1), 1 - rate),
                "sentiment": nn.functional.mse_loss(logits, labels),
            }
            loss = config.completeness_weight * loss_terms["completeness"] + config.sentiment_weight * loss_terms["sentiment"]
            if discriminator_logits is not None:
                n_tokens = encoded.dominant_tokens.shape[0] * encoded.dominant_tokens.shape[1]
                target = torch.cat([torch.ones(n_tokens), torch.zeros(n_tokens)]).long().to(logits.device)
                loss_terms["adversarial"] = nn.functional.cross_entropy(discriminator_logits, target)
                loss_terms["reconstruction"] = nn.functional.mse_loss(reconstructed, complete)
                loss = (loss + config.adversarial_weight * loss_terms["adversarial"]
                        + config.reconstruction_weight * loss_terms["reconstruction"])
            self.record_loss_terms(loss_terms)
        return LnlnOutput(loss=loss, logits=logits, loss_terms=loss_terms, fused_representation=encoded.pooled,
                          completeness=encoded.completeness, discriminator_logits=discriminator_logits,
                          reconstructed_tokens=reconstructed, complete_tokens=complete)


__all__ = ["LnlnForSentimentAnalysis", "LnlnModel", "LnlnModelOutput", "LnlnOutput", "LnlnPreTrainedModel"]
