"""MIDG configuration: Li, Luo, Hu, "Mixture of Invariant Experts with knowledge injection for Domain Generalization
in Multimodal Sentiment Analysis" (arXiv 2512.07430). No code and no full text are public: every field below is a
reconstruction choice, tagged with its source in the docstring ([PAPER] the abstract, [NOTE] third-party summaries,
[OURS] this port's decision; reference/methods_ib_missing.md §4).
"""

from huggingface_hub.dataclasses import strict

from ...configuration_utils import MSAConfig

INVARIANCE_PENALTIES = ("vrex", "irm", "none")
ROUTERS = ("softmax", "top_k")


@strict
class MidgConfig(MSAConfig):
    r"""
    Configuration of [`MidgModel`] and [`MidgForSentimentAnalysis`]; inherits the shared fields of [`MSAConfig`].

    Args:
        hidden_size (`int`, *optional*, defaults to 128): d, the shared width every modality is projected to [OURS].
        num_domains (`int`, *optional*, defaults to 2): source domains (datasets) seen in training. Each gets a
            residual input adapter on top of the shared projection (zero at the start); `domain_ids` -1 (an unseen
            target) uses the shared projection alone [OURS; the notes name per-domain adapters, not how an unseen
            domain is served].
        num_experts (`int`, *optional*, defaults to 4): experts of the mixture over the fused multimodal tokens
            [PAPER names the mixture; the count is OURS within the notes' 4-8].
        expert_hidden_size (`int`, *optional*, defaults to 256): hidden width of each expert MLP [OURS].
        router (`str`, *optional*, defaults to `"softmax"`): `"softmax"` weighs every expert; `"top_k"` keeps the
            `router_top_k` largest weights, renormalised [NOTE].
        router_top_k (`int`, *optional*, defaults to 2).
        balance_weight (`float`, *optional*, defaults to 0.01): λ_bal of the load-balancing loss, the squared
            coefficient of variation of the experts' mean routing weight (0 for a uniform router) [NOTE + OURS].
        invariance (`str`, *optional*, defaults to `"vrex"`): the penalty across the source domains (and the
            simulated out-of-domain batch) of a training batch: `"vrex"` the variance of the per-domain risks (V-REx),
            `"irm"` IRMv1's squared gradient of each domain's risk with respect to a fixed scale, `"none"` [NOTE].
        invariance_weight (`float`, *optional*, defaults to 1.0): λ_inv [OURS].
        simulate_ood (`bool`, *optional*, defaults to `True`): simulated out-of-domain samples by mixing feature
            statistics between samples (the audio / vision frames of each clip re-styled with another clip's
            per-channel mean and standard deviation, MixStyle), our reading of the "information entropy
            disentanglement" module: content kept, domain style swapped [NOTE + OURS]. `False` turns it off.
        mix_alpha (`float`, *optional*, defaults to 0.1): Beta(α, α) of the statistics mixing weight [OURS: MixStyle's].
        simulated_weight (`float`, *optional*, defaults to 1.0): weight of the task loss on the simulated samples.
        adapter_size (`int`, *optional*, defaults to 64): bottleneck width of the cross-modal adapters [OURS].
        adapter_heads (`int`, *optional*, defaults to 4): heads of the adapters' cross-attention to audio / vision.
        adapter_layers (`list[int]`, *optional*): text encoder layers followed by a cross-modal adapter (default:
            every layer). The adapter reads the layer's output, attends to the projected audio and vision frames and
            adds a bottleneck update whose up-projection starts at zero, so the pretrained text encoder starts
            unchanged [PAPER: cross-modal adapter; NOTE: into the unimodal representations; the form is OURS].
        dropout (`float`, *optional*, defaults to 0.1): dropout in the experts and the head [OURS].
    """

    model_type = "midg"

    hidden_size: int = 128
    num_domains: int = 2
    num_experts: int = 4
    expert_hidden_size: int = 256
    router: str = "softmax"
    router_top_k: int = 2
    balance_weight: float = 0.01
    invariance: str = "vrex"
    invariance_weight: float = 1.0
    simulate_ood: bool = True
    mix_alpha: float = 0.1
    simulated_weight: float = 1.0
    adapter_size: int = 64
    adapter_heads: int = 4
    adapter_layers: list[int] | tuple[int, ...] | None = None
    dropout: float = 0.1

    def check_msa_fields(self):
        super().check_msa_fields()
        self.check_field_ranges(
            positive=("hidden_size", "num_domains", "num_experts", "expert_hidden_size", "router_top_k",
                      "adapter_size", "adapter_heads", "mix_alpha"),
            unit_interval=("dropout",),
            non_negative=("balance_weight", "invariance_weight", "simulated_weight"),
        )
        if self.router not in ROUTERS:
            raise ValueError(f"router must be one of {ROUTERS}, got {self.router!r}")
        if self.invariance not in INVARIANCE_PENALTIES:
            raise ValueError(f"invariance must be one of {INVARIANCE_PENALTIES}, got {self.invariance!r}")
        if self.router == "top_k" and self.router_top_k > self.num_experts:
            raise ValueError(f"router_top_k ({self.router_top_k}) cannot exceed num_experts ({self.num_experts})")
        if self.problem_type != "regression":
            raise ValueError(f"this MIDG port is a regression model (L1 on the sentiment score), got problem_type="
                             f"{self.problem_type!r}")
        text_width = getattr(self.text_config, "hidden_size", None)
        if text_width is not None and text_width % self.adapter_heads:
            raise ValueError(f"the text encoder's hidden_size ({text_width}) must be divisible by adapter_heads "
                             f"({self.adapter_heads})")
        if self.adapter_layers is not None:
            self.adapter_layers = [int(i) for i in self.adapter_layers]
            layers = getattr(self.text_config, "num_hidden_layers", None)
            bad = [i for i in self.adapter_layers if i < 0 or (layers is not None and i >= layers)]
            if bad:
                raise ValueError(f"adapter_layers must index the text encoder's {layers} layers, got {bad}")


__all__ = ["INVARIANCE_PENALTIES", "MidgConfig", "ROUTERS"]
