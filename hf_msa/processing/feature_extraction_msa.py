"""MSAFeatureExtractor: pre-extracted audio and vision frame features -> padded tensors and masks.

One extractor holds both modalities (a processor with two feature extractors does not load in transformers 5).
Everything set in `__init__` is JSON and is saved inside `processor_config.json`, normalisation statistics included.
"""

import numpy as np
from transformers import BatchFeature
from transformers.feature_extraction_utils import FeatureExtractionMixin
from transformers.utils import logging

logger = logging.get_logger(__name__)

NON_FINITE_POLICIES = ("error", "zero")
FEATURE_MODALITIES = ("audio", "vision")


class MSAFeatureExtractor(FeatureExtractionMixin):
    r"""
    Pads/truncates audio and vision feature sequences and builds their masks.

    Args:
        audio_dim, vision_dim (`int`): size of one frame; 0 means the modality is not used.
        max_audio_length, max_vision_length (`int`): frames kept; longer sequences are cut (valid frames first, as
            MMSA stores them) and a warning says how many were cut.
        padding_value (`float`, *optional*, defaults to 0.0): value of padded frames.
        do_normalize (`bool`): subtract the mean and divide by the std fitted with `fit_normalization`.
        non_finite (`str`, *optional*, defaults to `"zero"`): `"zero"` replaces NaN/±inf by 0 and counts them in a
            warning (MMSA sets -inf audio to 0); `"error"` raises a ValueError naming the modality and sample.

    A modality given as `None` (or a sample given as `None` / an empty sequence) is missing: it gets an all-zero
    mask, never an error.
    """

    model_input_names = ["audio_features", "audio_attention_mask", "vision_features", "vision_attention_mask"]

    def __init__(
        self,
        audio_dim: int = 5,
        vision_dim: int = 20,
        max_audio_length: int = 375,
        max_vision_length: int = 500,
        padding_value: float = 0.0,
        do_normalize: bool = False,
        audio_mean: list[float] | None = None,
        audio_std: list[float] | None = None,
        vision_mean: list[float] | None = None,
        vision_std: list[float] | None = None,
        non_finite: str = "zero",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if non_finite not in NON_FINITE_POLICIES:
            raise ValueError(f"non_finite must be one of {NON_FINITE_POLICIES}, got {non_finite!r}")
        self.audio_dim, self.vision_dim = audio_dim, vision_dim
        self.max_audio_length, self.max_vision_length = max_audio_length, max_vision_length
        self.padding_value = padding_value
        self.do_normalize = do_normalize
        self.audio_mean, self.audio_std = audio_mean, audio_std
        self.vision_mean, self.vision_std = vision_mean, vision_std
        self.non_finite = non_finite

    @classmethod
    def from_model_config(cls, config, **kwargs) -> "MSAFeatureExtractor":
        """An extractor whose dims and lengths match an `MSAConfig`."""
        values = dict(
            audio_dim=config.audio_dim if config.has_audio else 0,
            vision_dim=config.vision_dim if config.has_vision else 0,
            max_audio_length=config.audio_max_length, max_vision_length=config.vision_max_length,
        )
        values.update(kwargs)
        return cls(**values)

    def _as_frames(self, sequence, modality: str, index: int) -> np.ndarray:
        dim = getattr(self, f"{modality}_dim")
        if sequence is None:
            return np.zeros((0, dim), dtype=np.float32)
        try:
            frames = np.asarray(sequence, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{modality}[{index}] must be numbers shaped [time, {modality}_dim={dim}], got "
                             f"{type(sequence).__name__} that is not ({error})") from None
        if frames.size == 0:
            return np.zeros((0, dim), dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != dim:
            raise ValueError(
                f"{modality}[{index}] must be [time, {modality}_dim={dim}] frames, got shape {frames.shape}"
            )
        return frames

    def fit_normalization(self, audio=None, vision=None) -> "MSAFeatureExtractor":
        """Per-dimension mean/std over every valid frame of a training set; non-finite values are ignored."""
        for modality, sequences in ((FEATURE_MODALITIES[0], audio), (FEATURE_MODALITIES[1], vision)):
            if sequences is None:
                continue
            frames = [self._as_frames(s, modality, i) for i, s in enumerate(sequences)]
            stacked = np.concatenate([f for f in frames if len(f)], axis=0) if any(len(f) for f in frames) else None
            if stacked is None:
                raise ValueError(f"fit_normalization: {modality} has no frames to fit statistics on")
            stacked = np.where(np.isfinite(stacked), stacked, np.nan)
            mean, std = np.nanmean(stacked, axis=0), np.nanstd(stacked, axis=0)
            setattr(self, f"{modality}_mean", np.nan_to_num(mean).tolist())
            setattr(self, f"{modality}_std", np.where(std > 1e-6, std, 1.0).tolist())
        self.do_normalize = True
        return self

    def _pad(self, modality: str, sequences, padding: str, truncation: bool):
        dim, max_length = getattr(self, f"{modality}_dim"), getattr(self, f"max_{modality}_length")
        if dim <= 0:
            raise ValueError(f"{modality} was given but this feature extractor has {modality}_dim=0")
        frames = [self._as_frames(s, modality, i) for i, s in enumerate(sequences)]
        bad = [(i, int((~np.isfinite(f)).sum())) for i, f in enumerate(frames) if not np.isfinite(f).all()]
        if bad:
            if self.non_finite == "error":
                raise ValueError(
                    f"{modality} contains non-finite values (sample index, count): {bad[:5]}; "
                    "use non_finite='zero' to replace them by 0"
                )
            logger.warning(f"{modality}: replaced {sum(c for _, c in bad)} non-finite values by 0 in {len(bad)} samples")
            frames = [np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0) for f in frames]
        mean = getattr(self, f"{modality}_mean")
        if self.do_normalize and mean is not None:
            mean, std = np.asarray(mean, np.float32), np.asarray(getattr(self, f"{modality}_std"), np.float32)
            frames = [(f - mean) / std for f in frames]
        if truncation:
            cut = sum(len(f) > max_length for f in frames)
            if cut:
                logger.warning_once(f"{modality}: sequences longer than max_{modality}_length={max_length} are cut "
                                    f"to it ({cut} in this batch)")
            frames = [f[:max_length] for f in frames]
        if padding == "max_length":
            target = max_length
        elif padding in ("longest", True):
            target = max(max(len(f) for f in frames), 1)
        else:
            raise ValueError(f"padding must be 'longest' or 'max_length', got {padding!r}")
        if max(len(f) for f in frames) > target:
            raise ValueError(f"{modality}: a sequence is longer than {target} frames and truncation=False")
        values = np.full((len(frames), target, dim), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(frames), target), dtype=np.int64)
        for i, f in enumerate(frames):
            values[i, : len(f)], mask[i, : len(f)] = f, 1
        return values, mask

    def __call__(self, audio=None, vision=None, batch_size: int | None = None, padding: str = "longest",
                 truncation: bool = True, return_tensors=None, **kwargs) -> BatchFeature:
        """audio / vision: lists of [time, dim] arrays (or None). `batch_size` is needed only when both are None."""
        given = {"audio": audio, "vision": vision}
        sizes = {m: len(s) for m, s in given.items() if s is not None}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"audio and vision must hold the same number of samples, got {sizes}")
        if batch_size is None:
            batch_size = next(iter(sizes.values()), None)
        if batch_size is None:
            raise ValueError("give audio, vision or batch_size")
        if sizes and batch_size != next(iter(sizes.values())):
            raise ValueError(f"batch_size={batch_size} disagrees with the {sizes} samples given")
        data = {}
        for modality, sequences in given.items():
            if getattr(self, f"{modality}_dim") <= 0 and sequences is None:
                continue  # the model has no such modality
            if sequences is None:
                sequences = [None] * batch_size
            data[f"{modality}_features"], data[f"{modality}_attention_mask"] = self._pad(
                modality, sequences, padding, truncation)
        return BatchFeature(data=data, tensor_type=return_tensors)


__all__ = ["MSAFeatureExtractor"]
