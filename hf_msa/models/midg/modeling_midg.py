"""MIDG: Mixture of Invariant Experts with knowledge injection for Domain Generalization in MSA (Li, Luo, Hu,
arXiv 2512.07430). No code and no full text are public: this is a reconstruction of what the abstract and summaries
name (reference/methods_ib_missing.md §4.3), every choice a `MidgConfig` field tagged with its source.

Pipeline (B = batch, d = hidden_size, E = num_experts):
    audio / vision frames -> shared Linear + the clip's domain adapter (residual, zero at the start; none for an
        unseen domain, `domain_ids` -1) -> masked mean over time -> [B, d] each
    text -> BERT whose layers are each followed by a cross-modal adapter: the layer's output attends to the projected
        audio and vision frames (plus a learned null frame) and adds a bottleneck update (up-projection starts at
        zero) -> [CLS] -> Linear -> [B, d]
    fused tokens [B, 3, d] -> router (softmax or top-k) over E expert MLPs on the flattened tokens -> Σ_e g_e · e(x)
        -> Linear -> ŷ
Training adds simulated out-of-domain clips (each clip's audio / vision re-styled with another clip's per-channel
mean and std, MixStyle), an invariance penalty over the environments of the batch (source domains, and the
simulated copies as their own environments; V-REx or IRMv1), and the router's load-balancing loss:
L = L1(ŷ, y) + w_sim · L1(ŷ_sim, y) + λ_inv · invariance + λ_bal · CV²(mean routing weights).
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ...modeling_utils import MSAModelOutput, MSAPreTrainedModel, build_text_encoder
from ...modules import attend
from .configuration_midg import MidgConfig


def check_domain_ids(domain_ids, batch: int, num_domains: int, device) -> torch.Tensor:
    """[B] long domain ids in [-1, num_domains) (-1: an unseen domain); None means every clip is unseen."""
    if domain_ids is None:
        return torch.full((batch,), -1, dtype=torch.long, device=device)
    domain_ids = torch.as_tensor(domain_ids, device=device)
    if domain_ids.shape != (batch,) or domain_ids.is_floating_point():
        raise ValueError(f"domain_ids must be [batch] = ({batch},) integer ids, got shape {tuple(domain_ids.shape)} "
                         f"and dtype {domain_ids.dtype}")
    if domain_ids.numel() and (domain_ids.min() < -1 or domain_ids.max() >= num_domains):
        raise ValueError(f"domain_ids must be in [-1, {num_domains}) (num_domains={num_domains}; -1 = an unseen "
                         f"domain), got values in [{domain_ids.min().item()}, {domain_ids.max().item()}]")
    return domain_ids.long()


class DomainAdapter(nn.Module):
    """Shared Linear(dim -> d) plus, per source domain, a residual Linear that starts at zero; an unseen domain
    (id -1) gets the shared projection alone."""

    def __init__(self, input_size: int, hidden_size: int, num_domains: int):
        super().__init__()
        self.shared = nn.Linear(input_size, hidden_size)
        self.domain_weight = nn.Parameter(torch.zeros(num_domains, input_size, hidden_size))
        self.domain_bias = nn.Parameter(torch.zeros(num_domains, hidden_size))

    def forward(self, frames: torch.Tensor, domain_ids: torch.Tensor) -> torch.Tensor:
        known = (domain_ids >= 0).to(frames.dtype)[:, None, None]
        index = domain_ids.clamp_min(0)
        delta = torch.einsum("btf,bfd->btd", frames, self.domain_weight[index]) + self.domain_bias[index][:, None]
        return self.shared(frames) + known * delta


class CrossModalAdapter(nn.Module):
    """h + up(GELU(down(h + CrossAttention(LN(h), audio/vision context)))), `up` zero at the start."""

    def __init__(self, width: int, context_size: int, bottleneck: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attn_implementation = "sdpa"  # set by the model from config._attn_implementation
        self.norm = nn.LayerNorm(width)
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(context_size, width)
        self.value = nn.Linear(context_size, width)
        self.out = nn.Linear(width, width)
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden.shape
        split = lambda x: x.view(batch, x.shape[1], self.heads, width // self.heads).transpose(1, 2)  # noqa: E731
        q = split(self.query(self.norm(hidden)))
        k, v = split(self.key(context)), split(self.value(context))
        attended = attend(q, k, v, context_mask[:, None, None, :], 0.0, self.attn_implementation)
        attended = self.out(attended.transpose(1, 2).reshape(batch, length, width))
        return hidden + self.up(nn.functional.gelu(self.down(hidden + attended)))


def mix_statistics(frames: torch.Tensor, mask: torch.Tensor, alpha: float) -> torch.Tensor:
    """MixStyle on [B, T, F] frames: each clip normalised by its own per-channel mean / std over its valid frames,
    then re-styled with statistics mixed (λ ~ Beta(α, α)) with those of another clip of the batch. Padding stays 0."""
    valid = mask.to(frames.dtype).unsqueeze(-1)
    count = valid.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (frames * valid).sum(dim=1, keepdim=True) / count
    std = ((((frames - mean) * valid) ** 2).sum(dim=1, keepdim=True) / count + 1e-6).sqrt()
    permutation = torch.randperm(frames.shape[0], device=frames.device)
    weight = torch.distributions.Beta(alpha, alpha).sample((frames.shape[0], 1, 1)).to(frames)
    mixed_mean = weight * mean + (1 - weight) * mean[permutation]
    mixed_std = weight * std + (1 - weight) * std[permutation]
    return ((frames - mean) / std * mixed_std + mixed_mean) * valid


@dataclass
class MidgModelOutput(ModelOutput):
    """
    Args:
        fused (`torch.FloatTensor` of shape `[B, d]`): the mixture of experts' output, the head's input.
        routing_weights (`torch.FloatTensor` of shape `[B, E]`): each clip's weight on each expert.
        tokens (`torch.FloatTensor` of shape `[B, 3, d]`): the fused tokens (text, audio, vision) the experts read.
    """

    fused: torch.FloatTensor | None = None
    routing_weights: torch.FloatTensor | None = None
    tokens: torch.FloatTensor | None = None


class MidgPreTrainedModel(MSAPreTrainedModel):
    config_class = MidgConfig
    base_model_prefix = "midg"

    def _set_gradient_checkpointing(self, *args, **kwargs):
        """Checkpointing everywhere but in the text-encoder layers a cross-modal adapter follows: their hooks read
        the audio / vision context of the current forward only, which a replay during backward would no longer see."""
        super()._set_gradient_checkpointing(*args, **kwargs)
        midg = self if isinstance(self, MidgModel) else self.midg
        layers = midg._text_layers()
        for index in midg.cross_modal_adapters:
            layers[int(index)].gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, CrossModalAdapter):  # the pretrained text encoder starts unchanged
            init.zeros_(module.up.weight)
            init.zeros_(module.up.bias)
        elif isinstance(module, DomainAdapter):
            init.zeros_(module.domain_weight)
            init.zeros_(module.domain_bias)
        elif isinstance(module, MidgModel):
            init.normal_(module.null_context, std=0.02)


class MidgModel(MidgPreTrainedModel):
    """MIDG up to the mixture's output [B, d] (and its routing weights); the head and objective are in
    `MidgForSentimentAnalysis`."""

    def __init__(self, config: MidgConfig):
        super().__init__(config)
        d = config.hidden_size
        self.text_encoder = build_text_encoder(config.text_config)
        width = config.text_config.hidden_size
        self.adapters = nn.ModuleDict({m: DomainAdapter(getattr(config, f"{m}_dim"), d, config.num_domains)
                                       for m in config.modalities if m != "text"})
        self.null_context = nn.Parameter(torch.zeros(1, 1, d))
        layers = self._text_layers()
        chosen = range(len(layers)) if config.adapter_layers is None else config.adapter_layers
        self.cross_modal_adapters = nn.ModuleDict(
            {str(i): CrossModalAdapter(width, d, config.adapter_size, config.adapter_heads) for i in chosen})
        for index, adapter in self.cross_modal_adapters.items():
            layers[int(index)].register_forward_hook(self._adapter_hook(adapter))
        self.text_projection = nn.Linear(width, d)
        self.router = nn.Linear(3 * d, config.num_experts)
        self.experts = nn.ModuleList(nn.Sequential(
            nn.Linear(3 * d, config.expert_hidden_size), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(config.expert_hidden_size, d)) for _ in range(config.num_experts))
        self._context = None
        self.post_init()

    def _text_layers(self) -> nn.ModuleList:
        encoder = getattr(self.text_encoder, "encoder", None)
        layers = getattr(encoder, "layer", None)
        if layers is None:
            raise ValueError(f"MIDG's cross-modal adapters need a BERT-style text encoder (`encoder.layer`), got "
                             f"{type(self.text_encoder).__name__}")
        return layers

    def _adapter_hook(self, adapter):
        def hook(module, args, output):
            if self._context is None:
                return None
            context, mask = self._context
            if isinstance(output, tuple):
                return (adapter(output[0], context, mask), *output[1:])
            return adapter(output, context, mask)
        return hook

    def encode(self, inputs, domain_ids: torch.Tensor, features: dict[str, torch.Tensor]):
        """Fused tokens [B, 3, d] from (possibly re-styled) audio / vision `features`."""
        frames = {m: self.adapters[m](features[m], domain_ids) for m in features}
        masks = {m: inputs.masks[m] for m in features}
        pooled = {}
        for m in features:
            valid = masks[m].to(frames[m].dtype).unsqueeze(-1)
            pooled[m] = (frames[m] * valid).sum(dim=1) / valid.sum(dim=1).clamp_min(1.0)  # missing: zeros
        batch = inputs.input_ids.shape[0]
        context = torch.cat([self.null_context.expand(batch, -1, -1)] + [frames[m] for m in features], dim=1)
        context_mask = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=context.device)]
                                 + [masks[m] for m in features], dim=1)
        kwargs = {"input_ids": inputs.input_ids, "attention_mask": inputs.attention_mask}
        if inputs.token_type_ids is not None:
            kwargs["token_type_ids"] = inputs.token_type_ids
        # the adapters' hooks read the context during this call only: the text encoder called on its own stays
        # plain BERT (adapted layers are never checkpointed, so no replay needs it later)
        self._context = (context, context_mask)
        try:
            states = self.text_encoder(**kwargs).last_hidden_state
        finally:
            self._context = None
        text = self.text_projection(states[:, 0])
        zeros = torch.zeros_like(text)
        return torch.stack([text, pooled.get("audio", zeros), pooled.get("vision", zeros)], dim=1)

    def mixture(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Σ_e g_e · expert_e(flattened tokens) [B, d], and the routing weights g [B, E]."""
        flat = tokens.flatten(1)
        weights = torch.softmax(self.router(flat), dim=-1)
        if self.config.router == "top_k":
            top, index = weights.topk(self.config.router_top_k, dim=-1)
            weights = torch.zeros_like(weights).scatter(-1, index, top / top.sum(dim=-1, keepdim=True))
        outputs = torch.stack([expert(flat) for expert in self.experts], dim=1)  # [B, E, d]
        return (weights.unsqueeze(-1) * outputs).sum(dim=1), weights

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None,
                domain_ids=None) -> MidgModelOutput:
        inputs = self.prepare_inputs(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                     vision_features, vision_attention_mask)
        domains = check_domain_ids(domain_ids, inputs.input_ids.shape[0], self.config.num_domains,
                                   inputs.input_ids.device)
        tokens = self.encode(inputs, domains, inputs.features)
        fused, weights = self.mixture(tokens)
        return MidgModelOutput(fused=fused, routing_weights=weights, tokens=tokens)


class MidgForSentimentAnalysis(MidgPreTrainedModel):
    """MIDG with its regression head and objective (see the module docstring); `domain_ids` [B] name each clip's
    source domain (-1 or absent: unseen)."""

    text_encoder_path = "midg.text_encoder"

    def __init__(self, config: MidgConfig):
        super().__init__(config)
        self.midg = MidgModel(config)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden_size, 1))
        self.post_init()

    def balance_loss(self, weights: torch.Tensor) -> torch.Tensor:
        """Squared coefficient of variation of the experts' mean routing weight: E · Σ_e P_e² - 1, zero exactly when
        every expert gets the same share (Shazeer et al.'s importance loss)."""
        share = weights.mean(dim=0)
        return share.numel() * share.pow(2).sum() - 1.0

    def invariance_penalty(self, predictions: torch.Tensor, labels: torch.Tensor, environments: torch.Tensor):
        """V-REx (variance of the environments' L1 risks) or IRMv1 (Σ_env (∂ risk(w · ŷ) / ∂w at w = 1)², in closed
        form for L1: mean(sign(ŷ - y) · ŷ)); 0 with fewer than two environments in the batch."""
        names = environments.unique()
        if self.config.invariance == "none" or len(names) < 2:
            return predictions.new_zeros(())
        groups = [environments == name for name in names]
        if self.config.invariance == "vrex":
            risks = torch.stack([nn.functional.l1_loss(predictions[g], labels[g]) for g in groups])
            return risks.var(unbiased=False)
        gradients = torch.stack([(torch.sign(predictions[g] - labels[g]) * predictions[g]).mean() for g in groups])
        return gradients.pow(2).sum()

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, audio_features=None,
                audio_attention_mask=None, vision_features=None, vision_attention_mask=None, domain_ids=None,
                labels=None) -> MSAModelOutput:
        config, midg = self.config, self.midg
        inputs = midg.prepare_inputs(input_ids, attention_mask, token_type_ids, audio_features, audio_attention_mask,
                                     vision_features, vision_attention_mask)
        domains = check_domain_ids(domain_ids, inputs.input_ids.shape[0], config.num_domains, inputs.input_ids.device)
        fused, weights = midg.mixture(midg.encode(inputs, domains, inputs.features))
        logits = self.head(fused).squeeze(-1)
        loss, loss_terms = None, None
        if labels is not None:
            labels = self.check_labels(labels, logits.shape[0])
            loss_terms = {"task": nn.functional.l1_loss(logits, labels), "balance": self.balance_loss(weights)}
            predictions, targets, environments = logits, labels, domains
            loss = loss_terms["task"] + config.balance_weight * loss_terms["balance"]
            if self.training and config.simulate_ood and inputs.features:
                restyled = {m: mix_statistics(v, inputs.masks[m], config.mix_alpha) for m, v in inputs.features.items()}
                simulated, sim_weights = midg.mixture(midg.encode(inputs, domains, restyled))
                simulated_logits = self.head(simulated).squeeze(-1)
                loss_terms["task_simulated"] = nn.functional.l1_loss(simulated_logits, labels)
                loss = loss + config.simulated_weight * loss_terms["task_simulated"]
                predictions = torch.cat([logits, simulated_logits])
                targets = torch.cat([labels, labels])
                environments = torch.cat([domains, domains + config.num_domains + 1])  # simulated: own environments
            loss_terms["invariance"] = self.invariance_penalty(predictions, targets, environments)
            loss = loss + config.invariance_weight * loss_terms["invariance"]
            self.record_loss_terms(loss_terms)
        return MSAModelOutput(loss=loss, logits=logits, loss_terms=loss_terms, fused_representation=fused)


__all__ = ["CrossModalAdapter", "DomainAdapter", "MidgForSentimentAnalysis", "MidgModel", "MidgModelOutput",
           "MidgPreTrainedModel",
           "check_domain_ids", "mix_statistics"]
