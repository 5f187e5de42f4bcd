"""DIB configuration: Huang et al., "Robust Multimodal Sentiment Analysis via Double Information Bottleneck",
Information Fusion 2025 (arXiv 2511.01444). No official code was released; the defaults below follow the MIB
codebase and the derived code described in reference/methods_ib_missing.md §1 and are marked where reconstructed.
"""

from huggingface_hub.dataclasses import strict

from ...configuration_utils import MSAConfig

LRIB_MI_MODES = ("full_mi", "entropy_z")
LRIB_BANDWIDTH_MODES = ("fixed", "knn")


@strict
class DibConfig(MSAConfig):
    r"""
    Configuration of [`DibModel`] and [`DibForSentimentAnalysis`]. Inherits the shared fields of [`MSAConfig`].

    Args:
        hidden_size (`int`, *optional*, defaults to 50): common width d of every stream (MIB's value).
        num_attention_heads (`int`, *optional*, defaults to 5): heads of the audio/vision Transformers.
        num_encoder_layers (`int`, *optional*, defaults to 3): layers of the audio/vision Transformers.
        attn_dropout, relu_dropout, res_dropout, embed_dropout (`float`): MulT dropouts (0.5, 0.3, 0.3, 0.2).
        text_pooling (`str`, *optional*, defaults to `"cls"`): how the text sequence becomes one vector. MIB takes
            the raw last step of a word-aligned length-50 sequence (`"last"`, usually a padding position); with HF
            tokenisation the [CLS] step (`"cls"`) or the masked mean (`"mean"`) is what the notes recommend.
        av_pooling (`str`, *optional*, defaults to `"last_valid"`): the last non-padded frame, MIB's "last step"
            read with the mask; `"last"` reproduces MIB exactly, `"mean"` is a masked mean.
        vib_hidden_size (`int`, *optional*, defaults to 1024): hidden width of every variational bottleneck.
        vib_sigma_shift (`float`, *optional*, defaults to 5.0): sigma = softplus(s - shift), MIB's small initial noise.
        stochastic_eval (`bool`, *optional*, defaults to `False`): sample the latents at eval too (MIB does, the
            derived DIB code uses the mean).
        num_latents (`int`, *optional*, defaults to 4): bottleneck tokens of the attention bottleneck fusion.
        fusion_iterations (`int`, *optional*, defaults to 3): rounds of gather/read-back (parameters shared).
        unimodal_loss_weight (`float`, *optional*, defaults to 1.0): weight of each unimodal task loss (the
            I(Z_m; Y) relevance term).
        lrib_weight (`float`, *optional*, defaults to 1e-5): weight λ of each low-rank Rényi MI term.
        lrib_alpha (`float`, *optional*, defaults to 1.9): Rényi order α.
        lrib_rank (`int`, *optional*, defaults to 10): top-k eigenvalues kept (k = min(rank, n - 1) per batch).
        lrib_mi_mode (`str`, *optional*, defaults to `"full_mi"`): `"full_mi"` = S(X) + S(Z) - S(X, Z) as the paper
            words it; `"entropy_z"` = S(Z) only, what the derived code computes. See the model docstring.
        lrib_eig_solver (`str`, *optional*, defaults to `"auto"`): exact `eigh` up to n = 256, a randomised range
            finder above; `"lanczos"` is the derived code's SciPy route.
        lrib_input_bandwidth (`str`, *optional*, defaults to `"fixed"`): bandwidth of the Gram matrix of X:
            `"fixed"` uses `lrib_sigma_*` (the derived code's constants), `"knn"` the same k-NN rule as for Z.
        lrib_sigma_text, lrib_sigma_audio, lrib_sigma_vision, lrib_sigma_fusion (`float`): the fixed bandwidths of
            X per stream (1, 1, 65, 1000 in the derived code).
        lrib_knn (`int`, *optional*, defaults to 5): neighbours for the bandwidth of Z (mean k-NN distance).
        lrib_min_batch (`int`, *optional*, defaults to 8): LRIB terms are skipped (with a warning) on smaller
            batches; they are batch statistics.
        regression_loss (`str`, *optional*, defaults to `"l1"`): `"l1"` (MIB and DIB) or `"mse"`.
    """

    model_type = "dib"
    # SIMS uses the same width; presets only change the shared data fields.
    method_presets = {}

    hidden_size: int = 50
    num_attention_heads: int = 5
    num_encoder_layers: int = 3
    attn_dropout: float = 0.5
    relu_dropout: float = 0.3
    res_dropout: float = 0.3
    embed_dropout: float = 0.2
    text_pooling: str = "cls"
    av_pooling: str = "last_valid"
    vib_hidden_size: int = 1024
    vib_sigma_shift: float = 5.0
    stochastic_eval: bool = False
    num_latents: int = 4
    fusion_iterations: int = 3
    unimodal_loss_weight: float = 1.0
    lrib_weight: float = 1e-5
    lrib_alpha: float = 1.9
    lrib_rank: int = 10
    lrib_mi_mode: str = "full_mi"
    lrib_eig_solver: str = "auto"
    lrib_input_bandwidth: str = "fixed"
    lrib_sigma_text: float = 1.0
    lrib_sigma_audio: float = 1.0
    lrib_sigma_vision: float = 65.0
    lrib_sigma_fusion: float = 1000.0
    lrib_knn: int = 5
    lrib_min_batch: int = 8
    regression_loss: str = "l1"

    def check_msa_fields(self):
        super().check_msa_fields()
        from ...modules import EIGEN_SOLVERS, POOLING_MODES

        choices = {
            "lrib_mi_mode": LRIB_MI_MODES,
            "lrib_input_bandwidth": LRIB_BANDWIDTH_MODES,
            "lrib_eig_solver": EIGEN_SOLVERS,
            "text_pooling": POOLING_MODES,
            "av_pooling": POOLING_MODES,
            "regression_loss": ("l1", "mse"),
        }
        for field, allowed in choices.items():
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field} must be one of {allowed}, got {getattr(self, field)!r}")
        if self.hidden_size <= 0 or self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size must be a positive multiple of num_attention_heads, got hidden_size={self.hidden_size}, "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.lrib_alpha <= 0:
            raise ValueError(f"lrib_alpha must be > 0, got {self.lrib_alpha}")
        if self.lrib_rank < 1 or self.lrib_min_batch < 2:
            raise ValueError(f"lrib_rank must be >= 1 and lrib_min_batch >= 2, got {self.lrib_rank}, {self.lrib_min_batch}")
        for field in ("num_latents", "fusion_iterations", "vib_hidden_size", "num_encoder_layers"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")


__all__ = ["DibConfig", "LRIB_MI_MODES"]
