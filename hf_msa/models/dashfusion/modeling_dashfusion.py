"""DashFusion: Dual-stream Alignment with Hierarchical Bottleneck Fusion (Wen et al., IEEE T-NNLS 2025;
github.com/ultramarineX/DashFusion).

A port of the official code that reproduces its golden fixture (../shared/golden/dashfusion;
tests/test_dashfusion_golden.py). Pipeline (B = batch, d = hidden_size):
    text:  BERT -> Linear(no bias) -> GELU -> Linear(no bias) -> GELU -> LayerNorm -> x mask = T_all; T = masked mean
    audio / vision: Linear -> [CLS; frames] + learned positions -> dropout -> post-norm Transformer (dropout 0.5, the
        attention weights included) -> LayerNorm -> x valid = A_all / V_all; A / V = masked mean (CLS included)
    temporal alignment: F_all = T_all + W_o(Attn(T_all -> A_all) + Attn(T_all -> V_all)); F = F_all[:, 0]
    hierarchical bottleneck fusion, level l = 0 .. depth-1, keep_l = bottleneck_tokens / 2^l:
        Q = SelfEnc_l(F_all if l == 0 else Q)[:, :keep_l];  Q = MultiCA_l(Q; M_t, M_v, M_a)
        M_m = CrossEnc_{l,m}(M_m -> Q) for m in text, vision, audio  (M starts as T_all, V_all, A_all)
    head: MLP([Q_0, M_t,0, M_v,0, M_a,0]) -> y
Loss: MSE(y, label) + 0.2 · NT-Xent (τ 0.5) over [anchor + 6 partners] x 4 views (T, V, A, F), when partners are given.

Faithful behaviour kept (each in the model card):
* Nothing after the encoders is masked: padded text tokens and padded frames (zeros) take part in the alignment and
  the fusion, so the model pads audio and vision to their max lengths as the reference's arrays are; a prediction
  still depends on the padded text length of its batch, as upstream (the text is padded to the longest).
* Audio / vision padding is a zero feature sum (`padding_rule="zero_sum"`): silent frames inside a clip are masked.
* The fusion's attention scales by 1/sqrt(d_model), has no output projection and normalises the branch before the
  residual (x + LN(f(x))); the bottleneck tokens are the first positions of the aligned text.
* The released code feeds vision where its fusion says "a" and audio where it says "v"; the port names streams by
  what they carry and keeps the head's input order [Q, text, vision, audio].
* The contrastive positives anchored at the partners' text (T_1 .. T_6) have no negatives: they are exactly 0 and
  still count in the mean, as in pytorch-metric-learning 0.9.99's NTXentLoss.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ...modeling_utils import MSAModelOutput, MSAPreTrainedModel, build_text_encoder
from ...modules import attend
from ...modules.post_norm_encoder import AttentionOutProjection, PostNormEncoder
from ...modules.sequence_encoder import FusedInProjection
from .configuration_dashfusion import DashFusionConfig

PARTNERS_PER_ANCHOR = 6  # ss, ss, dd, dd, sd, sd
VIEWS = ("text", "vision", "audio", "aligned")  # the four row blocks of the contrastive matrix, in upstream order
# OFFICIAL src/config.py (MOSI / SIMS; MOSEI: lr 2e-5, batch 8, 125 epochs, 1 warm-up epoch): one AdamW for
# everything, BERT included, linear warm-up then linear decay per step, selection by validation MAE
OFFICIAL_RECIPE = dict(
    learning_rate=5e-5, text_learning_rate=None, weight_decay=1e-3, per_device_train_batch_size=16,
    num_train_epochs=100, warmup_fraction=0.1, lr_schedule="linear", early_stopping_patience=None,
)


def contrastive_pairs(partners: int = PARTNERS_PER_ANCHOR) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive pairs [22, 2] and, per positive pair, its negatives' columns [22, 4] (-1 = none) in the
    [4 views x (anchor + 6 partners)] matrix: cross-modal T_k-V_k and T_k-A_k for every sample k, then the anchor
    with its two same-label partners in each view; negatives are the anchor's four different-label partners in its
    own view (dd1, dd2, sd1, sd2), for the pairs anchored at a view's anchor row only."""
    group = partners + 1
    blocks = {view: index * group for index, view in enumerate(VIEWS)}
    positives = []
    for k in range(group):
        positives += [(blocks["text"] + k, blocks["vision"] + k), (blocks["text"] + k, blocks["audio"] + k)]
    for view in VIEWS:
        positives += [(blocks[view], blocks[view] + 1), (blocks[view], blocks[view] + 2)]
    anchors = {blocks[view]: [blocks[view] + j for j in range(3, group)] for view in VIEWS}
    negatives = [anchors.get(a, [-1] * (group - 3)) for a, _ in positives]
    return torch.tensor(positives), torch.tensor(negatives)


def nt_xent(matrix: torch.Tensor, temperature: float) -> torch.Tensor:
    """[B, 28, d] -> [B, 22] per-pair losses -log(e^{s(a,p)/τ} / (e^{s(a,p)/τ} + Σ_n e^{s(a,n)/τ}) + tiny), cosine s,
    with the max subtracted first and masked negatives at finfo.min, as pytorch-metric-learning 0.9.99 computes it."""
    positives, negatives = (t.to(matrix.device) for t in contrastive_pairs((matrix.shape[1] // len(VIEWS)) - 1))
    unit = nn.functional.normalize(matrix, dim=-1)
    similarity = unit @ unit.transpose(1, 2) / temperature  # [B, 28, 28]
    positive = similarity[:, positives[:, 0], positives[:, 1]]  # [B, 22]
    finfo = torch.finfo(similarity.dtype)
    negative = similarity[:, positives[:, :1].expand_as(negatives), negatives.clamp_min(0)]  # [B, 22, 4]
    negative = negative.masked_fill(negatives < 0, finfo.min)
    top = torch.maximum(positive, negative.amax(dim=-1)).detach()
    numerator = torch.exp(positive - top)
    denominator = numerator + torch.exp(negative - top.unsqueeze(-1)).sum(dim=-1)
    return -torch.log(numerator / denominator + finfo.tiny)


class TextProjector(nn.Module):
    """Upstream's FeatureProjector: two bias-free Linears with GELU after each, then LayerNorm (its dropout's output
    is discarded upstream, so there is none)."""

    def __init__(self, text_hidden_size: int, hidden_size: int):
        super().__init__()
        self.fc1 = nn.Linear(text_hidden_size, hidden_size, bias=False)
        self.fc2 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.norm(nn.functional.gelu(self.fc2(nn.functional.gelu(self.fc1(hidden)))))


class FrameEncoder(nn.Module):
    """Audio / vision: per-frame Linear, a learned [CLS] (init ones) before the frames, learned positions (init
    zeros) over all T + 1 slots, dropout, a post-norm Transformer with `padding_mask`, LayerNorm."""

    def __init__(self, input_dim: int, max_length: int, config: DashFusionConfig):
        super().__init__()
        d = config.hidden_size
        self.proj = nn.Linear(input_dim, d)
        self.cls_token = nn.Parameter(torch.ones(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.zeros(1, max_length + 1, d))
        self.embed_dropout = config.embed_dropout
        self.encoder = PostNormEncoder(config.num_encoder_layers, d, config.num_attention_heads,
                                       config.encoder_intermediate_size, config.encoder_dropout, activation="gelu")
        self.norm = nn.LayerNorm(d)

    def forward(self, frames: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """[B, T, dim] frames, [B, T + 1] padding (True = padding, column 0 the CLS slot) -> [B, T + 1, d]."""
        hidden = self.proj(frames)
        hidden = torch.cat([self.cls_token.expand(hidden.shape[0], -1, -1), hidden], dim=1)
        hidden = hidden + self.position_embeddings[:, : hidden.shape[1]]
        hidden = nn.functional.dropout(hidden, self.embed_dropout, self.training)
        return self.norm(self.encoder(hidden, padding_mask))


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)


class TemporalAlignment(nn.Module):
    """Text queries attend over audio and over vision (own K/V per modality, no masks, no biases); the two
    head-concatenated outputs are summed, projected and added to the text."""

    def __init__(self, config: DashFusionConfig):
        super().__init__()
        d, inner = config.hidden_size, config.alignment_heads * config.alignment_head_dim
        self.heads = config.alignment_heads
        self.attn_implementation = "sdpa"
        self.to_q = nn.Linear(d, inner, bias=False)
        self.to_k_audio, self.to_v_audio = nn.Linear(d, inner, bias=False), nn.Linear(d, inner, bias=False)
        self.to_k_vision, self.to_v_vision = nn.Linear(d, inner, bias=False), nn.Linear(d, inner, bias=False)
        self.to_out = nn.Linear(inner, d)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> torch.Tensor:
        q = _split_heads(self.to_q(text), self.heads)
        summed = sum(attend(q, _split_heads(k(m), self.heads), _split_heads(v(m), self.heads),
                            implementation=self.attn_implementation)
                     for m, k, v in ((audio, self.to_k_audio, self.to_v_audio),
                                     (vision, self.to_k_vision, self.to_v_vision)))
        return text + self.to_out(_merge_heads(summed))


class FusionAttention(nn.Module):
    """The fusion's attention: q/k/v Linears with bias, scale 1/sqrt(d_model) (not per head), no output projection."""

    def __init__(self, hidden_size: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attn_implementation = "sdpa"
        self.to_query, self.to_key, self.to_value = (nn.Linear(hidden_size, hidden_size) for _ in range(3))

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        # attend scales by 1/sqrt(head_dim); pre-scaling q by 1/sqrt(heads) gives upstream's 1/sqrt(d_model)
        q = _split_heads(self.to_query(hidden), self.heads) / math.sqrt(self.heads)
        k, v = _split_heads(self.to_key(context), self.heads), _split_heads(self.to_value(context), self.heads)
        p = self.dropout if self.training else 0.0
        return _merge_heads(attend(q, k, v, dropout_p=p, implementation=self.attn_implementation))


class FeedForward(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(hidden_size, intermediate_size), nn.Linear(intermediate_size, hidden_size)
        self.dropout = dropout

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.dropout(nn.functional.gelu(self.fc1(hidden)), self.dropout, self.training)
        return nn.functional.dropout(self.fc2(hidden), self.dropout, self.training)


class FusionBlock(nn.Module):
    """One layer of upstream's TransformerEncoder / CrossTransformerEncoder: x + LN(Attn(x, context)), then
    x + LN(FFN(x)) (the norm on the branch, before the residual). Self-attention when `context` is None."""

    def __init__(self, config: DashFusionConfig):
        super().__init__()
        d = config.hidden_size
        self.attn = FusionAttention(d, config.fusion_heads, config.fusion_dropout)
        self.attn_norm = nn.LayerNorm(d)
        self.ffn = FeedForward(d, config.fusion_intermediate_size, config.fusion_dropout)
        self.ffn_norm = nn.LayerNorm(d)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        hidden = hidden + self.attn_norm(self.attn(hidden, hidden if context is None else context))
        return hidden + self.ffn_norm(self.ffn(hidden))


class MultiCrossAttention(nn.Module):
    """Upstream's Multi_CA: the bottleneck tokens attend to text, vision and audio (bias-free projections per
    modality, scale 1/sqrt(head_dim), no output projection); Q' = LN(Q + Σ_m Attn(Q, M_m)); LN(Q' + FFN(Q'))."""

    def __init__(self, config: DashFusionConfig):
        super().__init__()
        d = config.hidden_size
        self.heads, self.dropout = config.fusion_heads, config.fusion_dropout
        self.attn_implementation = "sdpa"
        self.to_q = nn.Linear(d, d, bias=False)
        self.to_k = nn.ModuleDict({m: nn.Linear(d, d, bias=False) for m in ("text", "vision", "audio")})
        self.to_v = nn.ModuleDict({m: nn.Linear(d, d, bias=False) for m in ("text", "vision", "audio")})
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ffn = FeedForward(d, config.fusion_intermediate_size, config.fusion_dropout)

    def forward(self, tokens: torch.Tensor, streams: dict[str, torch.Tensor]) -> torch.Tensor:
        q = _split_heads(self.to_q(tokens), self.heads)
        p = self.dropout if self.training else 0.0
        hidden = tokens
        for m in ("text", "vision", "audio"):
            k, v = _split_heads(self.to_k[m](streams[m]), self.heads), _split_heads(self.to_v[m](streams[m]), self.heads)
            hidden = hidden + _merge_heads(attend(q, k, v, dropout_p=p, implementation=self.attn_implementation))
        hidden = self.norm1(hidden)
        return self.norm2(hidden + self.ffn(hidden))


class FusionLevel(nn.Module):
    def __init__(self, config: DashFusionConfig):
        super().__init__()
        self.query_encoder = FusionBlock(config)
        self.gather = MultiCrossAttention(config)
        self.stream_encoders = nn.ModuleDict({m: FusionBlock(config) for m in ("text", "vision", "audio")})


class HierarchicalBottleneckFusion(nn.Module):
    def __init__(self, config: DashFusionConfig):
        super().__init__()
        self.bottleneck_tokens = config.bottleneck_tokens
        self.levels = nn.ModuleList(FusionLevel(config) for _ in range(config.fusion_depth))

    def forward(self, aligned: torch.Tensor, streams: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        tokens = aligned
        for index, level in enumerate(self.levels):
            tokens = level.query_encoder(tokens)[:, : self.bottleneck_tokens // 2 ** index]
            tokens = level.gather(tokens, streams)
            streams = {m: level.stream_encoders[m](streams[m], tokens) for m in streams}
        return tokens, streams


@dataclass
class DashFusionModelOutput(ModelOutput):
    """
    Args:
        fused (`torch.FloatTensor` of shape `[B, 4d]`): [Q_0, M_text,0, M_vision,0, M_audio,0], the head's input.
        text_pooled, audio_pooled, vision_pooled (`torch.FloatTensor` of shape `[B, d]`): T, A, V, the masked means
            of the projected text and of the encoded audio / vision (the retrieval and contrastive views).
        aligned_cls (`torch.FloatTensor` of shape `[B, d]`): F, the aligned text's first position.
        bottleneck_tokens (`torch.FloatTensor` of shape `[B, keep, d]`): the last level's bottleneck tokens.
    """

    fused: torch.FloatTensor | None = None
    text_pooled: torch.FloatTensor | None = None
    audio_pooled: torch.FloatTensor | None = None
    vision_pooled: torch.FloatTensor | None = None
    aligned_cls: torch.FloatTensor | None = None
    bottleneck_tokens: torch.FloatTensor | None = None


class DashFusionPreTrainedModel(MSAPreTrainedModel):
    config_class = DashFusionConfig
    base_model_prefix = "dashfusion"
    _no_split_modules = ["PostNormEncoderLayer", "FusionLevel"]

    @torch.no_grad()
    def _init_weights(self, module):
        """The reference is a plain nn.Module: PyTorch's init everywhere (`linear_init="pytorch"`), torch
        MultiheadAttention's Xavier in-projection with zero biases, [CLS] ones, positions zeros."""
        if isinstance(module, FusedInProjection):
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)
            return
        super()._init_weights(module)
        if isinstance(module, AttentionOutProjection):
            init.zeros_(module.bias)
        elif isinstance(module, FrameEncoder):
            init.ones_(module.cls_token)
            init.zeros_(module.position_embeddings)


class DashFusionModel(DashFusionPreTrainedModel):
    """DashFusion up to the head's input; the head and the objective are in `DashFusionForSentimentAnalysis`."""

    def __init__(self, config: DashFusionConfig):
        super().__init__(config)
        self.text_encoder = build_text_encoder(config.text_config)
        self.text_projector = TextProjector(config.text_config.hidden_size, config.hidden_size)
        self.audio_encoder = FrameEncoder(config.audio_dim, config.audio_max_length, config)
        self.vision_encoder = FrameEncoder(config.vision_dim, config.vision_max_length, config)
        self.alignment = TemporalAlignment(config)
        self.fusion = HierarchicalBottleneckFusion(config)
        self.post_init()

    def _frames(self, inputs, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames zero-padded to the max length (the reference's fixed-length arrays) and the padding mask with the
        CLS slot prepended ([B, T + 1], True = padding)."""
        frames, mask = inputs.features[modality], inputs.masks[modality]
        limit = getattr(self.config, f"{modality}_max_length")
        if frames.shape[1] > limit:
            raise ValueError(f"{modality}_features has {frames.shape[1]} frames, more than {modality}_max_length="
                             f"{limit} (DashFusion's learned positions); cut or resample the clip")
        if frames.shape[1] < limit:
            frames = nn.functional.pad(frames, (0, 0, 0, limit - frames.shape[1]))
            mask = nn.functional.pad(mask, (0, limit - mask.shape[1]), value=False)
        frames = frames * mask.unsqueeze(-1).to(frames.dtype)  # what the mask calls padding is zero, as upstream
        if self.config.padding_rule == "zero_sum":
            padding = frames.sum(dim=-1) == 0
            padding[:, 0] = False  # frame 0 always counts
        else:
            padding = ~mask
        return frames, torch.cat([torch.zeros_like(padding[:, :1]), padding], dim=1)

    def encode(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
               audio_attention_mask=None, vision_features=None, vision_attention_mask=None) -> dict:
        """Every stream up to the temporal alignment: {"text", "audio", "vision"}: sequences (padding zeroed),
        {"text_pooled", ...}: masked means, "aligned": F_all. What partners and the similarity refresh need."""
        inputs = self.prepare_inputs(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                     vision_features, vision_attention_mask)
        kwargs = {"input_ids": inputs.input_ids, "attention_mask": inputs.attention_mask}
        if inputs.token_type_ids is not None:
            kwargs["token_type_ids"] = inputs.token_type_ids
        valid = inputs.attention_mask.unsqueeze(-1).to(self.dtype)
        text = self.text_projector(self.text_encoder(**kwargs).last_hidden_state) * valid
        out = {"text": text, "text_pooled": text.sum(dim=1) / valid.sum(dim=1)}
        for modality in ("audio", "vision"):
            frames, padding = self._frames(inputs, modality)
            keep = (~padding).unsqueeze(-1).to(self.dtype)
            encoded = getattr(self, f"{modality}_encoder")(frames, padding) * keep
            out[modality], out[f"{modality}_pooled"] = encoded, encoded.sum(dim=1) / keep.sum(dim=1)
        out["aligned"] = self.alignment(out["text"], out["audio"], out["vision"])
        return out

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None) -> DashFusionModelOutput:
        encoded = self.encode(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                              vision_features, vision_attention_mask)
        tokens, streams = self.fusion(encoded["aligned"], {m: encoded[m] for m in ("text", "vision", "audio")})
        fused = torch.cat([tokens[:, 0], streams["text"][:, 0], streams["vision"][:, 0], streams["audio"][:, 0]], -1)
        return DashFusionModelOutput(
            fused=fused, text_pooled=encoded["text_pooled"], audio_pooled=encoded["audio_pooled"],
            vision_pooled=encoded["vision_pooled"], aligned_cls=encoded["aligned"][:, 0], bottleneck_tokens=tokens)


class DashFusionForSentimentAnalysis(DashFusionPreTrainedModel):
    """DashFusion with its regression MLP; `forward` holds MSE(ŷ, y) + contrastive_weight · NT-Xent, the second
    term only when the batch carries partners (`partner_*`, 6 per anchor in the order ss, ss, dd, dd, sd, sd;
    `hf_msa.data.partners` draws them, and `build_trainer` wires that in). Inference needs no partners."""

    text_encoder_path = "dashfusion.text_encoder"
    training_recipes = {"official": OFFICIAL_RECIPE}
    training_partners = True  # the training helpers draw 6 partners per training row (hf_msa.data.partners)

    def __init__(self, config: DashFusionConfig):
        super().__init__(config)
        self.dashfusion = DashFusionModel(config)
        widths = [4 * config.hidden_size, *config.head_hidden_sizes, 1]
        self.head = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.post_init()

    def _partners(self, batch: int, **partner) -> dict | None:
        given = {k: v for k, v in partner.items() if v is not None}
        if not given:
            return None
        if partner.get("input_ids") is None:
            raise ValueError("partner_input_ids is required when any partner_* input is given")
        rows = partner["input_ids"].shape[0]
        if rows != PARTNERS_PER_ANCHOR * batch:
            raise ValueError(f"partner_input_ids must hold {PARTNERS_PER_ANCHOR} partners per anchor (ss, ss, dd, dd, "
                             f"sd, sd) = {PARTNERS_PER_ANCHOR * batch} rows for a batch of {batch}, got {rows}")
        return self.dashfusion.encode(**partner)

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None, partner_input_ids=None,
                partner_attention_mask=None, partner_token_type_ids=None, partner_audio_features=None,
                partner_audio_attention_mask=None, partner_vision_features=None, partner_vision_attention_mask=None,
                labels=None) -> MSAModelOutput:
        config = self.config
        encoded = self.dashfusion(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                  vision_features, vision_attention_mask)
        hidden = encoded.fused
        for index, layer in enumerate(self.head):
            hidden = layer(hidden) if index == len(self.head) - 1 else nn.functional.gelu(layer(hidden))
        logits = hidden.squeeze(-1)
        partners = self._partners(
            logits.shape[0], input_ids=partner_input_ids, attention_mask=partner_attention_mask,
            token_type_ids=partner_token_type_ids, audio_features=partner_audio_features,
            audio_attention_mask=partner_audio_attention_mask, vision_features=partner_vision_features,
            vision_attention_mask=partner_vision_attention_mask)
        loss, loss_terms = None, None
        if labels is not None:
            labels = self.check_labels(labels, logits.shape[0])
            loss_terms = {"task": nn.functional.mse_loss(logits, labels)}
            loss = loss_terms["task"]
            if partners is not None:
                loss_terms["contrastive"] = self.contrastive_loss(encoded, partners).mean()
                loss = loss + config.contrastive_weight * loss_terms["contrastive"]
            self.record_loss_terms(loss_terms)
        return MSAModelOutput(loss=loss, logits=logits, loss_terms=loss_terms, fused_representation=encoded.fused)

    def contrastive_loss(self, anchors: DashFusionModelOutput, partners: dict) -> torch.Tensor:
        """[B] per-anchor NT-Xent: the mean of the 22 pair terms of its [4 views x 7 samples] matrix."""
        batch = anchors.fused.shape[0]
        views = {"text": (anchors.text_pooled, partners["text_pooled"]),
                 "vision": (anchors.vision_pooled, partners["vision_pooled"]),
                 "audio": (anchors.audio_pooled, partners["audio_pooled"]),
                 "aligned": (anchors.aligned_cls, partners["aligned"][:, 0])}
        matrix = torch.cat([torch.cat([anchor.unsqueeze(1), partner.view(batch, PARTNERS_PER_ANCHOR, -1)], dim=1)
                            for anchor, partner in (views[v] for v in VIEWS)], dim=1)  # [B, 28, d]
        return nt_xent(matrix, self.config.temperature).mean(dim=-1)


__all__ = ["DashFusionForSentimentAnalysis", "DashFusionModel", "DashFusionModelOutput", "DashFusionPreTrainedModel",
           "contrastive_pairs", "nt_xent"]
