"""Input corruption protocols, applied to encoded inputs (never inside a model), seeded and reproducible.

* Random missing (LNLN, Zhang et al. NeurIPS 2024, `MMDataset.generate_m`): for each sample a rate r; every valid
  position is kept when u > r with u ~ U(0, 1) drawn over the whole [N, L] array; [CLS] (position 0) and the last
  valid token ([SEP]) are always kept; dropped text tokens become [UNK] (attention mask unchanged); dropped audio /
  vision frames become all-zero vectors (mask unchanged). NumPy's RandomState is reseeded with the same seed before
  each modality, as the reference does, so all modalities share one random stream.
* Whole-modality removal: text keeps only [CLS]/[SEP] (every other valid token [UNK], as LNLN's rate 1); audio /
  vision are zeroed and their masks cleared (a missing modality).
* Additive Gaussian noise on the valid audio / vision frames at a signal-to-noise ratio in dB, per sample.
* Dataset-level modality missing (GCNet / IMDer / CyIN / HME `generate_missing_matrix`): a [N, 3] presence matrix
  with a missing rate MR over all sample-modality cells and at least one modality kept per sample (MR >= 2/3: exactly
  one), applied per sample as whole-modality removal. Every removal also writes `modality_mask` [N, 3] (text, audio,
  vision; 1 = present), which models that take it (HME's `ps`) read instead of guessing from the inputs.
* Instance-level missing (CyIN's `MissingProtocol.py`): each sample, with probability MP, loses the modalities of
  one incomplete pattern drawn uniformly (six for three modalities), else stays complete.
* Sequence sampling (MMSLF's teacher, `core/utils.py` `sequence_input_sampling` / `tokenize_with_sampling`): per
  sample and modality a keep rate q ~ U(min_rate, 1); every audio / vision ELEMENT (not frame) is zeroed with
  probability 1 - q, and every text position, [CLS], [SEP] and padding included, becomes [UNK]; masks unchanged.
"""

import itertools

import numpy as np
import torch

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
    presence = np.ones((len(batch["input_ids"]), len(MODALITIES)), dtype=np.int64)
    presence[:, [MODALITIES.index(m) for m in removed]] = 0
    return apply_presence(batch, presence, unk_token_id)


def apply_presence(batch: dict, presence: np.ndarray, unk_token_id: int) -> dict:
    """A copy of `batch` in which sample i loses modality j where `presence[i, j]` is 0 (columns text, audio,
    vision), each removal as `remove_modalities` describes, plus `modality_mask` = presence (combined with any
    `modality_mask` the batch already carries)."""
    size = len(batch["input_ids"])
    presence = np.asarray(presence)
    if presence.shape != (size, len(MODALITIES)) or not np.isin(presence, (0, 1)).all():
        raise ValueError(f"presence must be a [{size}, 3] array of 0/1 (text, audio, vision), got shape "
                         f"{presence.shape}")
    if (presence.sum(axis=1) == 0).any():
        raise ValueError("presence removes every modality of some sample: at least one must stay")
    out = {key: np.array(value, copy=True) for key, value in batch.items()}
    text_gone = presence[:, 0] == 0
    if text_gone.any():  # random missing at rate 1: every valid token but the first and the last becomes [UNK]
        valid = np.asarray(out["attention_mask"]) == 1
        ends = np.zeros_like(valid)
        ends[:, 0] = True
        ends[np.arange(size), np.maximum(valid.sum(axis=1) - 1, 0)] = True
        out["input_ids"][text_gone[:, None] & valid & ~ends] = unk_token_id
    for index, modality in ((1, "audio"), (2, "vision")):
        gone = presence[:, index] == 0
        if gone.any() and f"{modality}_features" in out:
            out[f"{modality}_features"][gone] = 0
            out[f"{modality}_attention_mask"][gone] = 0
    previous = np.asarray(out.get("modality_mask", np.ones_like(presence)))
    out["modality_mask"] = (previous * presence).astype(np.int64)
    return out


def modality_missing_presence(batch: dict, missing_rate: float, rng: np.random.RandomState) -> np.ndarray:
    """[N, 3] presence (text, audio, vision) for `apply_presence`: `modality_missing_matrix` drawn over the
    modalities `batch` has (a text + vision dataset draws over two), 1 for the absent ones."""
    present = [m for m in MODALITIES if m == "text" or f"{m}_features" in batch]
    size = len(batch["input_ids"])
    presence = np.ones((size, len(MODALITIES)), dtype=np.int64)
    presence[:, [MODALITIES.index(m) for m in present]] = modality_missing_matrix(size, missing_rate, rng,
                                                                                 views=len(present))
    return presence


def instance_missing_presence(batch: dict, probability: float, rng: np.random.RandomState) -> np.ndarray:
    """[N, 3] presence (text, audio, vision) of CyIN's instance-level protocol (`MissingProtocol.py`): with
    probability `probability` a sample gets one of the incomplete patterns of the modalities `batch` has (6 for
    three), uniformly; otherwise it stays complete. Drawn per sample: first whether, then which."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"missing probability must be in [0, 1], got {probability}")
    present = [MODALITIES.index(m) for m in MODALITIES if m == "text" or f"{m}_features" in batch]
    size = len(batch["input_ids"])
    patterns = [bits for bits in itertools.product((0, 1), repeat=len(present)) if 0 < sum(bits) < len(present)]
    presence = np.ones((size, len(MODALITIES)), dtype=np.int64)
    if not patterns:  # a single modality: nothing can go while one stays
        return presence
    hit = rng.rand(size) < probability
    chosen = rng.randint(0, len(patterns), size=size)
    for row in np.flatnonzero(hit):
        presence[row, present] = patterns[chosen[row]]
    return presence


def modality_missing_matrix(size: int, missing_rate: float, rng: np.random.RandomState, views: int = 3) -> np.ndarray:
    """[size, views] int32 presence matrix of GCNet / IMDer (HME's and CyIN's `generate_missing_matrix`): each
    sample keeps at least one modality and the share of missing cells is `missing_rate` (within 0.005 over at least
    32 rows, redrawn until it is). MR = 0 keeps everything; MR >= 1 - 1/views keeps exactly one modality, drawn
    uniformly. The draws follow the reference's order, so `np.random.RandomState(seed)` reproduces its matrix after
    `np.random.seed(seed)`."""
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")
    keep_rate = 1.0 - missing_rate
    one_hot = lambda rows: np.eye(views)[rng.randint(0, views, size=(rows, 1))[:, 0]]  # noqa: E731
    if keep_rate <= 1.0 / views:
        return one_hot(size)
    if keep_rate == 1.0:
        return rng.randint(1, 2, size=(size, views))
    rows = max(size, 32)
    error = 1.0
    while error >= 0.005:
        preserved = one_hot(rows)  # the one modality every sample surely keeps
        extra = views * rows * keep_rate - rows  # cells still to keep beyond it
        ratio = extra / (views * rows)
        draws = (rng.randint(0, 100, size=(rows, views)) < int(ratio * 100)).astype(np.int32)
        overlap = np.sum(((draws + preserved) > 1).astype(np.int32))  # extra cells that fell on the preserved one
        ratio = extra / (1 - overlap / extra) / (views * rows)
        draws = (rng.randint(0, 100, size=(rows, views)) < int(ratio * 100)).astype(np.int32)
        matrix = ((draws + preserved) > 0).astype(np.int32)
        error = abs(keep_rate - np.sum(matrix) / (views * rows))
    return matrix[:size]


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


def sequence_sampling(batch: dict, min_rate: float, rng: np.random.RandomState, generator: torch.Generator,
                      unk_token_id: int) -> dict:
    """MMSLF's teacher augmentation on a padded batch (numpy arrays as the collator holds them). Draws in the
    reference's order, vision then audio then text: q ~ rng.uniform(min_rate, 1, B), then torch.rand(shape) from
    `generator`, an element kept where the uniform is < q. Returns a new dict with `keep_rate_<modality>` [B] added."""
    if not 0.0 <= min_rate <= 1.0:
        raise ValueError(f"min_rate must be in [0, 1], got {min_rate}")
    out = dict(batch)
    for modality, key in (("vision", "vision_features"), ("audio", "audio_features"), ("text", "input_ids")):
        if key not in batch:
            continue
        values = np.asarray(batch[key])
        rate = rng.uniform(min_rate, 1.0, size=values.shape[0])
        # float32 uniforms against the float64 rate, as torch compares them upstream
        keep = (torch.rand(values.shape, generator=generator) < torch.as_tensor(rate).view(-1, *[1] * (values.ndim - 1))
                ).numpy()
        out[key] = np.where(keep, values, unk_token_id if modality == "text" else 0).astype(values.dtype)
        out[f"keep_rate_{modality}"] = rate
    return out


__all__ = ["MODALITIES", "apply_presence", "gaussian_noise", "instance_missing_presence", "keep_mask",
           "lnln_training_rates", "modality_missing_matrix", "modality_missing_presence", "random_missing",
           "remove_modalities", "sequence_sampling"]
