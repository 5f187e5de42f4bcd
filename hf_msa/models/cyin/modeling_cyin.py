"""CyIN: Cyclic Informative Latent Space (Lin et al., NeurIPS 2025; github.com/RH-Lin/CyIN @da04a3d8).

A reconstruction from the official code that is there (reference/methods_ib_missing.md §2): its MulT encoder files
were committed only as bytecode, so the fusion is the standard MulT `TransformerEncoder` (hf_msa.modules). No golden
fixture exists. Pipeline (B = batch, L = align_length, m in {text, audio, vision}):
    text -> BERT (raw transcript, 128 tokens); every modality average-pooled to L steps (MMSA's strided windows)
    token-level IB: E_m(x_m) = μ_m, log σ²_m [B, C_B, L];  b_m = μ_m + σ_m ε
    label-level IB: ŷ_m = Linear(mean_time b_m)
    IB terms over all nine (source s, target t): KL(N(μ_s, σ_s²) || N(0, I)) + η · MSE(Sigmoid-decoder_t(b_s), x_t)
    translators Γ: one cascaded residual autoencoder per modality pair, used in both directions
    stage 2 (training): forward translations Γ(b_s) -> b_t, single sources and their sum (9 MSE terms), and back
        (9 more); each modality's fused latent replaced, once per batch, by one of {Γ from source 1, from source 2,
        their sum, the original}, chosen uniformly
    missing modalities (`modality_mask`, or a modality without valid steps): the latent is replaced by the sum of
        the translations from the available modalities; raw inputs are still encoded, never zeroed
    fusion: Conv1d(C_B -> C_U, k=3, no padding) -> MulT: six cross-modal Transformers (causal mask), three memory
        Transformers over the pairs, mean over time -> [B, 6 C_U] -> residual MLP -> Linear -> ŷ
Loss: L1(ŷ, y) + Σ_m L1(ŷ_m, y) + (1/η) · mean of the nine IB terms + γ · (forward + backward translation).

Zero-filling the raw input of a missing modality and running the complete path is not CyIN; this model replaces
the latent, as upstream.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import TrainerCallback
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ...configuration_utils import ALL_MODALITIES as MODALITIES
from ...modeling_utils import MSAModelOutput, MSAPreTrainedModel, build_text_encoder
from ...modules import CrossmodalTransformer
from ...modules.sequence_encoder import FusedInProjection, MultLinear
from .configuration_cyin import CyinConfig

PAIRS = (("text", "audio"), ("text", "vision"), ("audio", "vision"))  # one translator each, both directions
# config/config_regression.json (MOSI): AdamW 5e-4 (BERT 4e-5), weight decay 1e-3, batch 128, 30 epochs, no
# scheduler, gradients clipped by value at 5, no model selection (the final epoch is evaluated)
OFFICIAL_RECIPE = dict(
    learning_rate=5e-4, text_learning_rate=4e-5, weight_decay=1e-3, per_device_train_batch_size=128,
    num_train_epochs=30, early_stopping_patience=None, clip_grad_value=5.0, max_grad_norm=0.0,
    lr_schedule="constant",
)


def pair_name(first: str, second: str) -> str:
    return "_".join(sorted((first, second), key=MODALITIES.index))


def align_steps(sequence: torch.Tensor, length: int, alignment: str = "strided") -> torch.Tensor:
    """[B, T, D] -> [B, length, D] by averaging windows of ceil(T / length) steps, after padding T up to a multiple
    of `length` with copies of the last step (MMSA's AlignSubNet, avg_pool). `"strided"` (MMSA's code) averages
    steps j, j + length, j + 2 length, ... into step j; `"contiguous"` averages consecutive runs."""
    batch, steps, width = sequence.shape
    if steps == length:
        return sequence
    pool = -(-steps // length)
    pad = pool * length - steps
    if pad:
        sequence = torch.cat([sequence, sequence[:, -1:].expand(batch, pad, width)], dim=1)
    if alignment == "strided":
        return sequence.view(batch, pool, length, width).mean(dim=1)
    return sequence.view(batch, length, pool, width).mean(dim=2)


class BottleneckEncoder(nn.Module):
    """Token-level IB encoder: Conv1d(k=1) -> ReLU -> Conv1d(k=1) to μ and log σ² [B, C_B, L]."""

    def __init__(self, input_size: int, hidden_size: int, bottleneck_size: int):
        super().__init__()
        self.hidden, self.out = nn.Conv1d(input_size, hidden_size, 1), nn.Conv1d(hidden_size, 2 * bottleneck_size, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_variance = self.out(torch.relu(self.hidden(x))).chunk(2, dim=1)
        return mu, log_variance


class BottleneckDecoder(nn.Module):
    """Conv1d(k=1) -> ReLU -> Conv1d(k=1) -> Sigmoid: a target modality's token features from a latent. The Sigmoid
    is upstream's, although BERT and MMSA features are unbounded: the reconstruction error has a floor."""

    def __init__(self, bottleneck_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.hidden, self.out = nn.Conv1d(bottleneck_size, hidden_size, 1), nn.Conv1d(hidden_size, output_size, 1)

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.relu(self.hidden(b))))


class ResidualTranslator(nn.Module):
    """Cascaded residual autoencoder over [B, C_B, L] (CRA): block i adds the previous block's output to its input,
    encodes (Conv1d k=3 through `sizes`, LeakyReLU between) and decodes (mirrored, ReLU, then Conv1d k=1 back to
    C_B); the output is a two-layer Conv1d transition of the last input + output. No norm, no dropout."""

    def __init__(self, channels: int, sizes: list[int], blocks: int, negative_slope: float):
        super().__init__()
        widths = [channels, *sizes]

        def encoder():
            layers = []
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
                layers.append(nn.Conv1d(a, b, 3, padding=1))
                if i < len(widths) - 2:
                    layers.append(nn.LeakyReLU(negative_slope))
            return nn.Sequential(*layers)

        def decoder():
            layers = []
            backwards = widths[::-1]  # e.g. 16 -> 32 -> 64, then k=1 -> C_B
            for a, b in zip(backwards[:-2], backwards[1:-1]):
                layers += [nn.Conv1d(a, b, 3, padding=1), nn.ReLU()]
            layers.append(nn.Conv1d(backwards[-2], channels, 1))
            return nn.Sequential(*layers)

        self.encoders = nn.ModuleList(encoder() for _ in range(blocks))
        self.decoders = nn.ModuleList(decoder() for _ in range(blocks))
        self.transition = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
                                        nn.Conv1d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in, x_out = x, torch.zeros_like(x)
        for encoder, decoder in zip(self.encoders, self.decoders):
            x_in = x_in + x_out
            x_out = decoder(encoder(x_in))
        return self.transition(x_in + x_out)


def gaussian_kl(mu: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) || N(0, I)), averaged over every element (upstream's convention, not a per-sample sum)."""
    return torch.mean(-0.5 * (1 + log_variance - mu.pow(2) - log_variance.exp()))


@dataclass
class CyinModelOutput(ModelOutput):
    """
    Args:
        fused (`torch.FloatTensor` of shape `[B, 6 C_U]`): the MulT output, mean over time, the three pairs
            concatenated.
        latents (`torch.FloatTensor` of shape `[B, 3, C_B, L]`): b_m as sampled (text, audio, vision), before any
            replacement.
        fused_latents (`torch.FloatTensor` of shape `[B, 3, C_B, L]`): the latents the fusion read (missing ones
            replaced by translations; in stage 2 training, the stochastic replacement).
        mu, log_variance (`torch.FloatTensor` of shape `[B, 3, C_B, L]`): the IB encoders' outputs.
        present (`torch.BoolTensor` of shape `[B, 3]`): which modalities were treated as present.
        loss_terms (`dict`, *optional*): the IB and translation terms, when `return_loss_terms=True`.
    """

    fused: torch.FloatTensor | None = None
    latents: torch.FloatTensor | None = None
    fused_latents: torch.FloatTensor | None = None
    mu: torch.FloatTensor | None = None
    log_variance: torch.FloatTensor | None = None
    present: torch.BoolTensor | None = None
    loss_terms: dict[str, torch.FloatTensor] | None = None


class CyinPreTrainedModel(MSAPreTrainedModel):
    config_class = CyinConfig
    base_model_prefix = "cyin"
    _no_split_modules = ["SequenceEncoderLayer", "ResidualTranslator"]

    @torch.no_grad()
    def _init_weights(self, module):
        """PyTorch's defaults (the official code's), except MulT's own: its attention projections and feed-forward
        layers start Xavier-uniform with zero bias."""
        if isinstance(module, (FusedInProjection, MultLinear)):
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)
            return
        super()._init_weights(module)


class CyinModel(CyinPreTrainedModel):
    """CyIN up to the fused representation; the heads and the objective's task terms are in
    `CyinForSentimentAnalysis`. `training_stage` (1 or 2) is set by `CyinStageCallback` during training."""

    def __init__(self, config: CyinConfig):
        super().__init__(config)
        self.training_stage = 1
        inputs = {"text": config.text_config.hidden_size, "audio": config.audio_dim, "vision": config.vision_dim}
        c_b, c_u = config.bottleneck_size, config.fusion_size
        self.text_encoder = build_text_encoder(config.text_config)
        self.bottleneck_encoders = nn.ModuleDict(
            {m: BottleneckEncoder(inputs[m], config.bottleneck_hidden_size, c_b) for m in MODALITIES})
        self.bottleneck_decoders = nn.ModuleDict(
            {m: BottleneckDecoder(c_b, config.bottleneck_hidden_size, inputs[m]) for m in MODALITIES})
        self.translators = nn.ModuleDict({pair_name(*pair): ResidualTranslator(
            c_b, config.translator_sizes, config.translator_blocks, config.translator_negative_slope)
            for pair in PAIRS})
        self.projections = nn.ModuleDict(
            {m: nn.Conv1d(c_b, c_u, config.projection_kernel, padding=0, bias=False) for m in MODALITIES})
        common = dict(num_heads=config.num_attention_heads, relu_dropout=config.relu_dropout,
                      res_dropout=config.res_dropout, embed_dropout=config.embed_dropout,
                      causal=config.causal_attention)
        # MulT: the Transformer that reads modality k uses k's attention dropout (l <- a: audio's)
        dropout = {"text": config.attn_dropout_text, "audio": config.attn_dropout_audio,
                   "vision": config.attn_dropout_vision}
        self.crossmodal = nn.ModuleDict({f"{target}_from_{source}": CrossmodalTransformer(
            c_u, config.num_layers, attn_dropout=dropout[source], **common)
            for target in MODALITIES for source in MODALITIES if source != target})
        self.memory = nn.ModuleDict({m: CrossmodalTransformer(
            2 * c_u, max(config.num_layers, 3), attn_dropout=config.attn_dropout_memory, **common)
            for m in MODALITIES})
        self.post_init()

    def set_stage(self, stage: int) -> None:
        if stage not in (1, 2):
            raise ValueError(f"CyIN trains in stage 1 or 2, got {stage}")
        self.training_stage = stage

    def translate(self, latent: torch.Tensor, source: str, target: str) -> torch.Tensor:
        return self.translators[pair_name(source, target)](latent)

    def presence(self, inputs, modality_mask: torch.Tensor | None) -> torch.Tensor:
        """`modality_presence`, refusing a sample with nothing left to translate from."""
        present = self.modality_presence(inputs, modality_mask)
        empty = ~present.any(dim=1)
        if empty.any():
            raise ValueError(f"sample(s) {empty.nonzero().flatten().tolist()} have no modality present: CyIN "
                             "replaces a missing modality from the others, so at least one must stay")
        return present

    def _sample(self, mu: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
        if self.training or self.config.sample_at_eval:
            return mu + torch.randn_like(mu) * torch.exp(0.5 * log_variance)
        return mu

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None, modality_mask=None,
                return_loss_terms: bool = False) -> CyinModelOutput:
        """`modality_mask` [B, 3] (text, audio, vision; 1 = present) marks missing modalities: their latents are
        replaced by translations after the encoders. `return_loss_terms` adds the IB (and, in stage 2 training,
        translation) terms."""
        config = self.config
        inputs = self.prepare_inputs(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                     vision_features, vision_attention_mask)
        present = self.presence(inputs, modality_mask)
        kwargs = {"input_ids": inputs.input_ids, "attention_mask": inputs.attention_mask}
        if inputs.token_type_ids is not None:
            kwargs["token_type_ids"] = inputs.token_type_ids
        sequences = {"text": self.text_encoder(**kwargs).last_hidden_state, **inputs.features}
        # nothing is masked after BERT: padding is pooled in, as upstream (fixed-length inputs)
        aligned = {m: align_steps(sequences[m], config.align_length, config.alignment).transpose(1, 2)
                   for m in MODALITIES}  # [B, D_m, L]
        stats = {m: self.bottleneck_encoders[m](aligned[m]) for m in MODALITIES}
        terms = {}
        if return_loss_terms:
            # all nine (source, target) pairs; each call draws its own sample, the last one is kept (upstream)
            kl, reconstruction = [], []
            latents = {}
            for source in MODALITIES:
                for target in MODALITIES:
                    latents[source] = self._sample(*stats[source])
                    kl.append(gaussian_kl(*stats[source]))
                    reconstruction.append(nn.functional.mse_loss(self.bottleneck_decoders[target](latents[source]),
                                                                 aligned[target]))
            kl, reconstruction = torch.stack(kl), torch.stack(reconstruction)
            terms["ib"] = (kl + config.ib_weight * reconstruction).mean()
            terms["ib_kl"], terms["ib_reconstruction"] = kl.mean(), reconstruction.mean()
        else:
            latents = {m: self._sample(*stats[m]) for m in MODALITIES}

        stage_two = self.training and self.training_stage == 2
        needs_translation = stage_two or not bool(present.all())
        translations = {}  # (source, target) -> Γ(b_source)
        if needs_translation:
            translations = {(s, t): self.translate(latents[s], s, t)
                            for s in MODALITIES for t in MODALITIES if s != t}
        fused_latents = dict(latents)
        if stage_two:
            forward_terms, backward_terms = [], []
            choices = torch.randint(0, 4, (len(MODALITIES),)).tolist()  # once per batch, the same for every sample
            for index, target in enumerate(MODALITIES):
                first, second = (s for s in MODALITIES if s != target)
                one, two = translations[(first, target)], translations[(second, target)]
                forward_terms += [nn.functional.mse_loss(x, latents[target]) for x in (one, two, one + two)]
                # cyclic: what `target` became in the other two spaces, translated back
                back_one = self.translate(translations[(target, first)], first, target)
                back_two = self.translate(translations[(target, second)], second, target)
                backward_terms += [nn.functional.mse_loss(x, latents[target])
                                   for x in (back_one, back_two, back_one + back_two)]
                fused_latents[target] = (one, two, one + two, latents[target])[choices[index]]
            if return_loss_terms:
                terms["translation_forward"] = torch.stack(forward_terms).mean()
                terms["translation_backward"] = torch.stack(backward_terms).mean()
        if not bool(present.all()):
            for index, target in enumerate(MODALITIES):
                available = [s for s in MODALITIES if s != target]
                weights = [present[:, MODALITIES.index(s)].to(latents[s].dtype)[:, None, None] for s in available]
                replaced = sum(w * translations[(s, target)] for w, s in zip(weights, available))
                keep = present[:, index][:, None, None]
                fused_latents[target] = torch.where(keep, fused_latents[target], replaced)

        projected = {m: self.projections[m](fused_latents[m]).transpose(1, 2) for m in MODALITIES}  # [B, L', C_U]
        pooled = []
        for target in MODALITIES:
            streams = [self.crossmodal[f"{target}_from_{source}"](projected[target], projected[source])
                       for source in MODALITIES if source != target]
            pooled.append(self.memory[target](torch.cat(streams, dim=-1)).mean(dim=1))
        stack = lambda d: torch.stack([d[m] for m in MODALITIES], dim=1)  # noqa: E731
        return CyinModelOutput(
            fused=torch.cat(pooled, dim=-1), latents=stack(latents), fused_latents=stack(fused_latents),
            mu=stack({m: stats[m][0] for m in MODALITIES}),
            log_variance=stack({m: stats[m][1] for m in MODALITIES}), present=present,
            loss_terms=terms or None,
        )


class CyinForSentimentAnalysis(CyinPreTrainedModel):
    """CyIN with its residual output MLP, the label-level heads and the objective
    L1(ŷ, y) + Σ_m L1(ŷ_m, y) + (1/η) · IB + γ · (forward + backward translation, stage 2)."""

    text_encoder_path = "cyin.text_encoder"
    training_recipes = {"official": OFFICIAL_RECIPE}

    def __init__(self, config: CyinConfig):
        super().__init__(config)
        width = 6 * config.fusion_size
        self.cyin = CyinModel(config)
        self.output_hidden = nn.Linear(width, width)
        self.output_projection = nn.Linear(width, width)
        self.regressor = nn.Linear(width, 1)
        self.unimodal_heads = nn.ModuleDict({m: nn.Linear(config.bottleneck_size, 1) for m in MODALITIES})
        self.post_init()

    @property
    def training_stage(self) -> int:
        return self.cyin.training_stage

    def set_stage(self, stage: int) -> None:
        self.cyin.set_stage(stage)

    def training_callbacks(self) -> list:
        """What `hf_msa.training.build_trainer` adds to the Trainer: the stage switch."""
        return [CyinStageCallback()]

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None, modality_mask=None,
                labels=None) -> MSAModelOutput:
        config = self.config
        encoded = self.cyin(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                            vision_features, vision_attention_mask, modality_mask=modality_mask,
                            return_loss_terms=labels is not None)
        hidden = encoded.fused
        residual = self.output_projection(nn.functional.dropout(torch.relu(self.output_hidden(hidden)),
                                                                config.output_dropout, self.training))
        logits = self.regressor(residual + hidden).squeeze(-1)
        unimodal = {m: self.unimodal_heads[m](encoded.latents[:, i].mean(dim=2)).squeeze(-1)
                    for i, m in enumerate(MODALITIES)}
        loss, loss_terms = None, None
        if labels is not None:
            labels = self.check_labels(labels, logits.shape[0])
            loss_terms = {"task": nn.functional.l1_loss(logits, labels)}
            for m in MODALITIES:
                loss_terms[f"unimodal_{m}"] = nn.functional.l1_loss(unimodal[m], labels)
            loss_terms.update(encoded.loss_terms)
            loss = (loss_terms["task"] + sum(loss_terms[f"unimodal_{m}"] for m in MODALITIES)
                    + loss_terms["ib"] / config.ib_weight)
            if "translation_forward" in loss_terms:
                loss = loss + config.translation_weight * (loss_terms["translation_forward"]
                                                           + loss_terms["translation_backward"])
            self.record_loss_terms(loss_terms)
        return MSAModelOutput(loss=loss, logits=logits, loss_terms=loss_terms, unimodal_logits=unimodal,
                              fused_representation=encoded.fused)


class CyinStageCallback(TrainerCallback):
    """Stage 1 for the first `config.stage_divide` of the optimizer steps, stage 2 after (upstream switches at that
    fraction of its epochs). The stage is written into every training log as `cyin_stage`. `build_trainer` adds it;
    with a bare `Trainer`, pass `callbacks=[CyinStageCallback()]`, or the model stays in stage 1."""

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if model is not None and hasattr(model, "set_stage") and state.max_steps:
            switch = round(model.config.stage_divide * state.max_steps)
            model.set_stage(2 if state.global_step >= switch else 1)

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        if logs is None or "loss" not in logs or model is None or not hasattr(model, "training_stage"):
            return
        logs["cyin_stage"] = model.training_stage
        if state.log_history and state.log_history[-1].get("loss") == logs.get("loss"):
            state.log_history[-1]["cyin_stage"] = model.training_stage


__all__ = ["CyinForSentimentAnalysis", "CyinModel", "CyinModelOutput", "CyinPreTrainedModel", "CyinStageCallback",
           "ResidualTranslator", "align_steps"]
