"""Input corruption protocols, applied to encoded inputs (never inside a model), seeded and reproducible.

* Random missing (LNLN, Zhang et al. NeurIPS 2024, `MMDataset.generate_m`): for each sample a rate r; every valid
  position is kept when u > r with u ~ U(0, 1) drawn over the whole [N, L] array; [CLS] (position 0) and the last
  valid token ([SEP]) are always kept; dropped text tokens become [UNK] (attention mask unchanged); dropped audio /
  vision frames become all-zero vectors (mask unchanged). NumPy's RandomState is reseeded with the same seed before
  each modality, as the reference does, so all modalities share one random stream.
* Whole-modality removal: text keeps only [CLS]/[SEP] (every other valid token [UNK], as LNLN's rate 1); audio /
  vision are zeroed and their masks cleared (a missing modality).
* Additive Gaussian noise on the valid audio / vision frames at a signal-to-noise ratio in dB, per sample.
"""

import numpy as np

MODALITIES = ("text", "audio", "vision")


def keep_mask(lengths: np.ndarray, max_length: int, rates: np.ndarray, rng: np.random.RandomState,
              keep_ends: bool = False) -> np.ndarray:
    """[N, L] int mask: 1 where a valid position survives. `keep_ends` keeps position 0 and length - 1 (text)."""
    rates = np.asarray(rates, dtype=np.float64).reshape(-1, 1)
    if rates.shape[0] != len(lengths) or (rates < 0).any() or (rates > 1).any():
        raise ValueError(f"rates must be [N] values in [0, 1] for N={len(lengths)}, got shape {rates.shape}")
    draws = rng.uniform(size=(len(lengths), max_length))
    valid = np.arange(max_length)[None, :] < np.asarray(lengths)[:, None]
    keep = (draws > rates) & valid
    if keep_ends:
        rows = np.arange(len(lengths))
        keep[:, 0] = True
        keep[rows, np.maximum(np.asarray(lengths) - 1, 0)] = True
    return keep.astype(np.int64)


def random_missing(batch: dict, rates: dict[str, np.ndarray] | float, seed: int, unk_token_id: int) -> dict:
    """A corrupted copy of `batch` (numpy arrays: input_ids, attention_mask, audio_features, audio_attention_mask,
    vision_features, vision_attention_mask) plus `<modality>_keep_mask` and `<modality>_missing_rate`."""
    size = len(batch["input_ids"])
    if not isinstance(rates, dict):
        rates = {m: np.full(size, float(rates)) for m in MODALITIES}
    out = {key: np.array(value, copy=True) for key, value in batch.items()}
    text_lengths = np.asarray(batch["attention_mask"]).sum(axis=1)
    keep = keep_mask(text_lengths, batch["input_ids"].shape[1], rates["text"], np.random.RandomState(seed), True)
    out["input_ids"] = np.where((keep == 0) & (np.asarray(batch["attention_mask"]) == 1), unk_token_id,
                                batch["input_ids"])
    out["text_keep_mask"], out["text_missing_rate"] = keep, np.asarray(rates["text"], dtype=np.float32)
    for modality in ("audio", "vision"):
        if f"{modality}_features" not in batch:
            continue
        features, mask = batch[f"{modality}_features"], np.asarray(batch[f"{modality}_attention_mask"])
        keep = keep_mask(mask.sum(axis=1), features.shape[1], rates[modality], np.random.RandomState(seed))
        out[f"{modality}_features"] = features * keep[..., None].astype(features.dtype)
        out[f"{modality}_keep_mask"] = keep
        out[f"{modality}_missing_rate"] = np.asarray(rates[modality], dtype=np.float32)
    return out


def remove_modalities(batch: dict, removed: tuple[str, ...], unk_token_id: int) -> dict:
    """A copy of `batch` with whole modalities removed (see the module docstring for what removal means)."""
    unknown = set(removed) - set(MODALITIES)
    if unknown:
        raise ValueError(f"removed must name modalities from {MODALITIES}, got {sorted(unknown)}")
    if set(removed) == set(MODALITIES):
        raise ValueError("at least one modality must stay")
    out = {key: np.array(value, copy=True) for key, value in batch.items()}
    if "text" in removed:
        out = random_missing(out, {"text": np.ones(len(out["input_ids"])), "audio": np.zeros(len(out["input_ids"])),
                                   "vision": np.zeros(len(out["input_ids"]))}, seed=0, unk_token_id=unk_token_id)
    for modality in ("audio", "vision"):
        if modality in removed and f"{modality}_features" in out:
            out[f"{modality}_features"] = np.zeros_like(out[f"{modality}_features"])
            out[f"{modality}_attention_mask"] = np.zeros_like(out[f"{modality}_attention_mask"])
    return out


def gaussian_noise(batch: dict, snr_db: float, seed: int, modalities=("audio", "vision")) -> dict:
    """A copy of `batch` with N(0, σ²) noise on valid frames, σ² = signal power / 10^(snr_db / 10) per sample."""
    rng = np.random.RandomState(seed)
    out = {key: np.array(value, copy=True) for key, value in batch.items()}
    for modality in modalities:
        if f"{modality}_features" not in out:
            continue
        features = out[f"{modality}_features"]
        valid = np.asarray(out[f"{modality}_attention_mask"])[..., None].astype(features.dtype)
        power = (features**2 * valid).sum(axis=(1, 2)) / np.maximum(valid.sum(axis=(1, 2)) * features.shape[2], 1)
        sigma = np.sqrt(power / 10 ** (snr_db / 10)).astype(features.dtype)
        noise = rng.normal(size=features.shape).astype(features.dtype) * sigma[:, None, None]
        out[f"{modality}_features"] = features + noise * valid
    return out


def lnln_training_rates(size: int, rng: np.random.RandomState) -> dict[str, np.ndarray]:
    """LNLN's training rates: per modality r ~ U(0, 1), then exactly half of the samples (floor) get r = 0."""
    rates = {}
    for modality in MODALITIES:
        values = rng.uniform(size=size)
        values[rng.choice(size, size // 2, replace=False)] = 0.0
        rates[modality] = values
    return rates


__all__ = ["MODALITIES", "gaussian_noise", "keep_mask", "lnln_training_rates", "random_missing", "remove_modalities"]
