"""HME: Hyper-Modality Enhancement (Zhuang et al., NeurIPS 2025; github.com/YetZzzzzz/HME).

A port of the official code that reproduces its golden fixture (../shared/golden/hme; tests/test_hme_golden.py).
Pipeline (B = batch, d = hidden_size, m in {text, audio, vision}):
    missing modalities zero-filled: text on the BERT output, audio / vision on the raw features
    m -> Conv1d(k=1, no bias) -> MulT encoder -> max pool over time -> H_m [B, d]
    retrieval: H'_m[i] = mean of the other samples' H_m with cosine >= τ (else the mean of the non-zero H_m)
    E_m = LatentTransformer_m(H'_m);  E_S = LatentTransformer_S([H_l, H_a, H_v])
    E_{m->n} = CrossAttention(q = E_m, kv = E_n) for the six ordered pairs
    R_m = CrossAttention(q = E_S, kv = [E_{m->n}, E_{m->k}])
    VIB_m(R_m) -> μ_m, σ_m, F_m = μ_m + σ_m ε;  ŷ_m = Linear(F_m);  KL_m
    S_m = gate(H_m, F_m; ζ_m = clamp(1 / mean σ_m));  S_H = gate(F_l, F_a, F_v; softmax over m of 1 / mean σ_m)
    [S_l, S_a, S_v, S_H] -> 2-layer post-norm Transformer -> concat -> Linear -> Dropout -> ReLU -> Linear -> ŷ
Loss: L1(ŷ, y) + 0.8 · mean_m L1(ŷ_m, y) + 0.01 · mean_m KL_m.

Faithful behaviour kept (each in the model card; switches in `HmeConfig`):
* Retrieval is within the mini-batch (`retrieval_pool="batch"`): a prediction depends on the rest of the batch, also
  at test time. `"memory_bank"` retrieves from a bank of training features instead, so one clip can be served alone.
* The VIBs sample at test time (`sample_at_eval=True`): outputs are stochastic unless `vib_noise` is given.
* Nothing after BERT is masked (`attend_to_padding=True`); the MulT encoders attend from their running state to the
  embedded input at every layer (`static_keys=True`, MulT's `enc(x, x, x)`); fairseq positions skip zero frames.
* A missing modality's pooled feature is not zero (positions and biases reach it), so the "missing" fall-back of the
  retrieval fires only for rows that sum to exactly zero, as upstream.
* ζ uses σ (the std), not the variance; the hyper gate multiplies the logits by a near one-hot softmax of 1 / mean σ.
* The official training loop re-creates AdamW every epoch; `HmeOptimizerResetCallback` reproduces that (opt-in).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import TrainerCallback
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ...configuration_utils import ALL_MODALITIES as MODALITIES
from ...modeling_utils import MSAModelOutput, MSAPreTrainedModel, build_text_encoder
from ...modules import CrossAttentionStack, LatentTransformer, SequenceEncoder, VariationalBottleneck
from ...modules.sequence_encoder import FusedInProjection
from .configuration_hme import HmeConfig

PAIRS = tuple((source, target) for source in MODALITIES for target in MODALITIES if source != target)
# HME_main.py (train_epoch, the README commands): one learning rate for everything, BERT included
OFFICIAL_RECIPE = dict(
    learning_rate=2e-5, text_learning_rate=None, weight_decay=1e-4, per_device_train_batch_size=256,
    num_train_epochs=100, early_stopping_patience=10, clip_grad_value=0.8, max_grad_norm=0.0,
)


@dataclass
class HmeModelOutput(ModelOutput):
    """
    Args:
        pooled (`torch.FloatTensor` of shape `[B, 4d]`): the head Transformer's four output tokens, concatenated.
        modality_features (`torch.FloatTensor` of shape `[B, 3, d]`): H_m, the pooled encoder outputs (text, audio,
            vision).
        retrieved (`torch.FloatTensor` of shape `[B, 3, d]`): H'_m, the retrieved neighbour means.
        enhanced (`torch.FloatTensor` of shape `[B, 3, d]`): E_m; `sample_enhanced` `[B, d]`: E_S.
        hyper_features (`torch.FloatTensor` of shape `[B, 3, d]`): R_m, the hyper-modality representations.
        vib_z, vib_mu, vib_sigma (`torch.FloatTensor` of shape `[B, 3, d]`): F_m, μ_m, σ_m of the bottlenecks.
        fused_tokens (`torch.FloatTensor` of shape `[B, 4, d]`): [S_l, S_a, S_v, S_H], the head's input.
        neighbour_counts (`torch.LongTensor` of shape `[B, 3]`): neighbours found per sample and modality (0: the
            fall-back mean was used).
    """

    pooled: torch.FloatTensor | None = None
    modality_features: torch.FloatTensor | None = None
    retrieved: torch.FloatTensor | None = None
    enhanced: torch.FloatTensor | None = None
    sample_enhanced: torch.FloatTensor | None = None
    hyper_features: torch.FloatTensor | None = None
    vib_z: torch.FloatTensor | None = None
    vib_mu: torch.FloatTensor | None = None
    vib_sigma: torch.FloatTensor | None = None
    fused_tokens: torch.FloatTensor | None = None
    neighbour_counts: torch.LongTensor | None = None


@dataclass
class HmeOutput(MSAModelOutput):
    """MSAModelOutput plus each modality's VIB σ (`vib_sigma` [B, 3, d]), the uncertainty the fusions read."""

    vib_sigma: torch.FloatTensor | None = None


def retrieve_neighbours(queries: torch.Tensor, candidates: torch.Tensor, threshold: float,
                        exclude_diagonal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """HME's cross-sample retrieval, vectorised: for each query row the mean of the candidate rows whose cosine
    similarity is >= `threshold`; rows with no such candidate, or that sum to zero ("missing"), get the mean of the
    candidates that do not sum to zero (zeros if none). `exclude_diagonal`: candidates are the queries themselves
    (plus any rows after them) and a row never retrieves itself. Returns the means [Q, d] and the counts [Q]."""
    normalised = lambda x: x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)  # noqa: E731
    similarity = normalised(queries) @ normalised(candidates).T  # [Q, C]
    neighbours = similarity >= threshold
    if exclude_diagonal:
        neighbours[:, : queries.shape[0]].fill_diagonal_(False)
    counts = neighbours.sum(dim=1)
    means = (neighbours.to(candidates.dtype) @ candidates) / counts.clamp_min(1).unsqueeze(1).to(candidates.dtype)
    non_zero = candidates.sum(dim=1) != 0
    fallback = candidates[non_zero].mean(dim=0, keepdim=True) if bool(non_zero.any()) else candidates.new_zeros(
        1, candidates.shape[1])
    use_fallback = (counts == 0) | (queries.sum(dim=1) == 0)
    return torch.where(use_fallback.unsqueeze(1), fallback, means), counts


class ModalityGate(nn.Module):
    """S = w_0 H + w_1 F, w = softmax(score([H; F]) * [1, ζ] / sqrt(d)), ζ = clamp(1 / (mean σ + 1e-8), lb, ub)
    (upstream `Attention_Uncertainty_2`)."""

    def __init__(self, dim: int, dropout: float, lower: float, upper: float):
        super().__init__()
        self.score_hidden, self.score_out = nn.Linear(2 * dim, dim), nn.Linear(dim, 2)
        self.dropout, self.lower, self.upper, self.scale = dropout, lower, upper, dim ** -0.5

    def forward(self, feature, encoding, sigma):
        hidden = torch.relu(nn.functional.dropout(self.score_hidden(torch.cat([feature, encoding], dim=1)),
                                                  self.dropout, self.training))
        zeta = (1.0 / (sigma.mean(dim=1) + 1e-8)).clamp(self.lower, self.upper)
        scores = self.score_out(hidden) * torch.stack([torch.ones_like(zeta), zeta], dim=1)
        weights = torch.softmax(scores * self.scale, dim=1)
        return weights[:, :1] * feature + weights[:, 1:] * encoding


class HyperGate(nn.Module):
    """S_H = Σ_m w_m F_m, w = softmax(score([F_l; F_a; F_v]) * u / sqrt(d)), u = softmax_m(1 / (mean σ_m + 1e-8))
    (upstream `Attention_Uncertainty_3`)."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.score_hidden, self.score_out = nn.Linear(3 * dim, dim), nn.Linear(dim, 3)
        self.dropout, self.scale = dropout, dim ** -0.5

    def forward(self, encodings, sigma):  # [B, 3, d] each
        hidden = torch.relu(nn.functional.dropout(self.score_hidden(encodings.flatten(1)), self.dropout,
                                                  self.training))
        certainty = torch.softmax(1.0 / (sigma.mean(dim=2) + 1e-8), dim=1)
        weights = torch.softmax(self.score_out(hidden) * certainty * self.scale, dim=1)  # [B, 3]
        return (weights.unsqueeze(2) * encodings).sum(dim=1)


class HmePreTrainedModel(MSAPreTrainedModel):
    config_class = HmeConfig
    base_model_prefix = "hme"
    _no_split_modules = ["SequenceEncoderLayer", "LatentBlock"]

    @torch.no_grad()
    def _init_weights(self, module):
        """The reference is a `BertPreTrainedModel` (transformers 4.30): every Linear N(0, 0.02) with zero bias and
        LayerNorm 1 / 0 by BERT's rule; what that rule does not touch keeps PyTorch's or its own init: Conv1d
        kaiming-uniform, MulT's fused in-projection Xavier-uniform with zero bias, the head's
        nn.MultiheadAttention likewise, the latents N(0, 1)."""
        if isinstance(module, nn.Conv1d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            return
        super()._init_weights(module)
        if isinstance(module, FusedInProjection):
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            init.xavier_uniform_(module.in_proj_weight)
            init.zeros_(module.in_proj_bias)
        elif isinstance(module, LatentTransformer):
            init.normal_(module.latents, mean=0.0, std=1.0)


class HmeModel(HmePreTrainedModel):
    """HME up to the head Transformer's output; the regression head and unimodal heads are in
    `HmeForSentimentAnalysis`."""

    def __init__(self, config: HmeConfig):
        super().__init__(config)
        d, heads = config.hidden_size, config.num_attention_heads
        self.text_encoder = build_text_encoder(config.text_config)
        inputs = {"text": config.text_config.hidden_size, "audio": config.audio_dim, "vision": config.vision_dim}
        self.encoders = nn.ModuleDict({m: SequenceEncoder(
            inputs[m], d, config.num_encoder_layers, heads, config.attn_dropout, config.relu_dropout,
            config.res_dropout, config.embed_dropout, projection_kernel=config.projection_kernel,
            static_keys=config.static_keys, positions="nonzero") for m in MODALITIES})
        latent = dict(num_latents=config.num_latents, dim=d, depth=config.latent_depth, heads=heads,
                      head_dim=d // heads)
        self.enhancers = nn.ModuleDict({m: LatentTransformer(**latent) for m in MODALITIES})
        self.sample_enhancer = LatentTransformer(**latent)
        stack = dict(dim=d, depth=config.hyper_depth, heads=heads, head_dim=d // heads)
        self.cross_modal = nn.ModuleDict({f"{s}_to_{t}": CrossAttentionStack(**stack) for s, t in PAIRS})
        self.hyper = nn.ModuleDict({m: CrossAttentionStack(**stack) for m in MODALITIES})
        self.bottlenecks = nn.ModuleDict({m: VariationalBottleneck(
            d, d, hidden_size=2 * d, sigma_shift=config.sigma_shift, stochastic_eval=config.sample_at_eval,
            num_hidden_layers=2) for m in MODALITIES})
        self.modality_gates = nn.ModuleDict({m: ModalityGate(d, config.gate_dropout, config.uncertainty_lower,
                                                             config.uncertainty_upper) for m in MODALITIES})
        self.hyper_gate = HyperGate(d, config.gate_dropout)
        layer = nn.TransformerEncoderLayer(d, heads, config.head_intermediate_size, config.head_dropout,
                                           batch_first=True)
        self.head = nn.TransformerEncoder(layer, config.head_num_layers, enable_nested_tensor=False)
        if config.retrieval_pool == "memory_bank":
            self.register_buffer("memory_bank", torch.zeros(len(MODALITIES), config.memory_bank_size, d))
            self.register_buffer("memory_bank_filled", torch.zeros((), dtype=torch.long))
            self.register_buffer("memory_bank_next", torch.zeros((), dtype=torch.long))
        self.post_init()

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            return hidden.amax(dim=1) if self.config.pooling == "max" else hidden.mean(dim=1)
        valid = mask.bool().unsqueeze(-1)
        if self.config.pooling == "max":
            pooled = hidden.masked_fill(~valid, float("-inf")).amax(dim=1)
        else:
            pooled = (hidden * valid).sum(dim=1) / valid.sum(dim=1).clamp_min(1)
        return torch.where(valid.any(dim=1), pooled, torch.zeros_like(pooled))  # no valid step: missing, zero

    def _retrieve(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, 3, d] pooled features -> retrieved means [B, 3, d] and neighbour counts [B, 3]."""
        threshold = self.config.similarity_threshold
        results = []
        for index in range(len(MODALITIES)):
            queries = features[:, index]
            if self.config.retrieval_pool == "batch":
                results.append(retrieve_neighbours(queries, queries, threshold, exclude_diagonal=True))
                continue
            bank = self.memory_bank[index, : int(self.memory_bank_filled)]
            if self.training:
                results.append(retrieve_neighbours(queries, torch.cat([queries, bank]), threshold, True))
            elif len(bank):
                results.append(retrieve_neighbours(queries, bank, threshold, exclude_diagonal=False))
            else:  # an empty bank: every clip falls back to itself, as a batch of one does upstream
                results.append((queries, torch.zeros(len(queries), dtype=torch.long, device=queries.device)))
        return torch.stack([r[0] for r in results], dim=1), torch.stack([r[1] for r in results], dim=1)

    @torch.no_grad()
    def _remember(self, features: torch.Tensor) -> None:
        """Write a training batch's pooled features into the FIFO memory bank."""
        size = self.memory_bank.shape[1]
        rows = features.detach()[-size:]
        slots = (self.memory_bank_next + torch.arange(len(rows), device=rows.device)) % size
        self.memory_bank[:, slots] = rows.transpose(0, 1).to(self.memory_bank.dtype)
        self.memory_bank_next.copy_((self.memory_bank_next + len(rows)) % size)
        self.memory_bank_filled.copy_(torch.clamp(self.memory_bank_filled + len(rows), max=size))

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None, modality_mask=None,
                vib_noise=None) -> HmeModelOutput:
        """`modality_mask` [B, 3] removes modalities (upstream's `ps`); `vib_noise` [B, 3, d] replaces the VIBs'
        normal draws (text, audio, vision), e.g. to replay the reference run."""
        config = self.config
        inputs = self.prepare_inputs(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                     vision_features, vision_attention_mask)
        present = self.modality_presence(inputs, modality_mask)
        kwargs = {"input_ids": inputs.input_ids, "attention_mask": inputs.attention_mask}
        if inputs.token_type_ids is not None:
            kwargs["token_type_ids"] = inputs.token_type_ids
        sequences = {"text": self.text_encoder(**kwargs).last_hidden_state, **inputs.features}
        masks = {"text": inputs.attention_mask, **inputs.masks}
        pooled = []
        for index, modality in enumerate(MODALITIES):
            keep = present[:, index].to(sequences[modality].dtype)[:, None, None]
            mask = None if config.attend_to_padding else masks[modality]
            encoded = self.encoders[modality](sequences[modality] * keep, mask)
            pooled.append(self._pool(encoded, mask))
        features = torch.stack(pooled, dim=1)  # [B, 3, d]: H_l, H_a, H_v
        retrieved, counts = self._retrieve(features)
        if config.retrieval_pool == "memory_bank" and self.training:
            self._remember(features)
        enhanced = {m: self.enhancers[m](retrieved[:, i]) for i, m in enumerate(MODALITIES)}
        sample = self.sample_enhancer(features)
        cross = {f"{s}_to_{t}": self.cross_modal[f"{s}_to_{t}"](enhanced[s].unsqueeze(1), enhanced[t].unsqueeze(1))
                 for s, t in PAIRS}
        hyper = {m: self.hyper[m](sample.unsqueeze(1), torch.stack(
            [cross[f"{m}_to_{t}"] for t in MODALITIES if t != m], dim=1)) for m in MODALITIES}
        if vib_noise is not None and tuple(vib_noise.shape) != (features.shape[0], 3, config.hidden_size):
            raise ValueError(f"vib_noise must be [batch, 3, hidden_size] = {(features.shape[0], 3, config.hidden_size)}"
                             f" (text, audio, vision), got shape {tuple(vib_noise.shape)}")
        bottlenecks = [self.bottlenecks[m](hyper[m], None if vib_noise is None else vib_noise[:, i])
                       for i, m in enumerate(MODALITIES)]
        z, mu, sigma = (torch.stack(parts, dim=1) for parts in zip(*bottlenecks))
        gated = [self.modality_gates[m](features[:, i], z[:, i], sigma[:, i]) for i, m in enumerate(MODALITIES)]
        fused = torch.stack(gated + [self.hyper_gate(z, sigma)], dim=1)  # [B, 4, d]
        tokens = self.head(fused)
        return HmeModelOutput(
            pooled=tokens.flatten(1), modality_features=features, retrieved=retrieved,
            enhanced=torch.stack([enhanced[m] for m in MODALITIES], dim=1), sample_enhanced=sample,
            hyper_features=torch.stack([hyper[m] for m in MODALITIES], dim=1), vib_z=z, vib_mu=mu, vib_sigma=sigma,
            fused_tokens=fused, neighbour_counts=counts,
        )


class HmeForSentimentAnalysis(HmePreTrainedModel):
    """HME with its regression head and unimodal VIB heads; `forward` holds the objective
    L1(ŷ, y) + unimodal_weight · mean_m L1(ŷ_m, y) + kl_weight · mean_m KL_m."""

    text_encoder_path = "hme.text_encoder"
    training_corruption = "modality_missing"  # at config.missing_rate: HME trains without complete data
    training_recipes = {"official": OFFICIAL_RECIPE}

    def __init__(self, config: HmeConfig):
        super().__init__(config)
        d = config.hidden_size
        self.hme = HmeModel(config)
        self.regressor_hidden = nn.Linear(4 * d, 2 * d)
        self.regressor = nn.Linear(2 * d, 1)
        self.unimodal_heads = nn.ModuleDict({m: nn.Linear(d, 1) for m in MODALITIES})
        self.post_init()

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None, modality_mask=None,
                vib_noise=None, labels=None) -> HmeOutput:
        config = self.config
        encoded = self.hme(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                           vision_features, vision_attention_mask, modality_mask=modality_mask, vib_noise=vib_noise)
        hidden = nn.functional.dropout(self.regressor_hidden(encoded.pooled), config.fusion_dropout, self.training)
        logits = self.regressor(torch.relu(hidden)).squeeze(-1)
        unimodal = {m: self.unimodal_heads[m](encoded.vib_z[:, i]).squeeze(-1) for i, m in enumerate(MODALITIES)}
        loss, loss_terms = None, None
        if labels is not None:
            labels = self.check_labels(labels, logits.shape[0])
            mu, sigma = encoded.vib_mu, encoded.vib_sigma
            loss_terms = {"task": nn.functional.l1_loss(logits, labels)}
            for i, m in enumerate(MODALITIES):
                loss_terms[f"unimodal_{m}"] = nn.functional.l1_loss(unimodal[m], labels)
            for i, m in enumerate(MODALITIES):
                loss_terms[f"kl_{m}"] = 0.5 * torch.mean(mu[:, i].pow(2) + sigma[:, i].pow(2)
                                                         - 2 * sigma[:, i].log() - 1)
            loss = (loss_terms["task"]
                    + config.unimodal_weight * sum(loss_terms[f"unimodal_{m}"] for m in MODALITIES) / 3
                    + config.kl_weight * sum(loss_terms[f"kl_{m}"] for m in MODALITIES) / 3)
            self.record_loss_terms(loss_terms)
        return HmeOutput(loss=loss, logits=logits, loss_terms=loss_terms, unimodal_logits=unimodal,
                         fused_representation=encoded.pooled, vib_sigma=encoded.vib_sigma)


class HmeOptimizerResetCallback(TrainerCallback):
    """Re-create the optimiser's state at the start of every epoch, as HME_main.py builds a fresh AdamW each epoch
    (moment estimates and step counts reset; the learning-rate schedule is untouched). Off by default (the stock
    Trainer keeps one optimiser): pass it to `Trainer(callbacks=[...])` to reproduce the reference."""

    def on_epoch_begin(self, args, state, control, optimizer=None, **kwargs):
        if optimizer is not None and state.epoch and state.epoch > 0:
            target = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps it
            target.state.clear()


__all__ = ["HmeForSentimentAnalysis", "HmeModel", "HmeModelOutput", "HmeOptimizerResetCallback", "HmeOutput",
           "HmePreTrainedModel", "retrieve_neighbours"]
