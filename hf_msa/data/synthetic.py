"""The embedded default dataset: synthetic clips in the MOSI schema whose sentiment is spread over three modalities.

Each clip's label is the sum of a text part (the polarity of the adjective in its transcript), an audio part (a
shift of two acoustic dimensions over a stretch of frames) and a vision part (a shift of four facial dimensions
over a stretch of frames), clipped to MOSI's [-3, 3]. A text-only model can recover only the text part, so it
cannot reach the ceiling; a model that fuses all three can. Generated on the fly from a seed: nothing to download.
"""

import numpy as np
from datasets import Array2D, Dataset, DatasetDict, Features, Value

AUDIO_DIM, VISION_DIM = 5, 20  # MOSI's COVAREP subset and Facet sizes
TEXT_POLARITY = {
    -1.5: ["terrible", "awful", "horrible", "dreadful", "painful"],
    -0.75: ["boring", "weak", "disappointing", "dull", "forgettable"],
    0.0: ["long", "ordinary", "new", "average", "familiar"],
    0.75: ["nice", "good", "enjoyable", "pleasant", "fun"],
    1.5: ["amazing", "wonderful", "brilliant", "fantastic", "excellent"],
}
SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the ending", "the soundtrack", "the story"]
VERBS = ["was", "seemed", "felt", "is", "looked"]
FILLERS = ["i think", "honestly", "to be fair", "well", "you know", "anyway", "so"]
SPLIT_SIZES = {"train": 800, "validation": 200, "test": 200}


def _clip(rng: np.random.Generator, dim: int, level: float, signal_dims: int, strength: float, min_len: int,
          max_len: int) -> np.ndarray:
    """Gaussian frames with `level * strength` added to the first `signal_dims` dims over a random stretch."""
    length = int(rng.integers(min_len, max_len + 1))
    frames = rng.normal(0.0, 1.0, size=(length, dim)).astype(np.float32)
    span = max(2, length // 2)
    start = int(rng.integers(0, length - span + 1))
    frames[start : start + span, :signal_dims] += level * strength
    return frames


def synthetic_rows(num_samples: int, seed: int, min_frames: int = 20, max_frames: int = 60):
    """Yield `num_samples` rows: id, text, label, audio [Ta, 5], vision [Tv, 20], and the three hidden parts."""
    rng = np.random.default_rng(seed)
    levels = sorted(TEXT_POLARITY)
    for index in range(num_samples):
        text_part = float(levels[rng.integers(len(levels))])
        audio_part, vision_part = (float(v) for v in rng.uniform(-1.0, 1.0, size=2))
        words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(TEXT_POLARITY[text_part])]
        if rng.random() < 0.5:
            words.insert(0, rng.choice(FILLERS))
        label = float(np.clip(round(text_part + audio_part + vision_part, 1), -3.0, 3.0))
        yield {
            "id": f"synthetic_{seed}_{index}",
            "text": " ".join(words),
            "label": label,
            "audio": _clip(rng, AUDIO_DIM, audio_part, 2, 1.5, min_frames, max_frames),
            "vision": _clip(rng, VISION_DIM, vision_part, 4, 1.5, min_frames, max_frames),
            "text_part": text_part,
            "audio_part": audio_part,
            "vision_part": vision_part,
        }


SYNTHETIC_FEATURES = Features({
    "id": Value("string"),
    "text": Value("string"),
    "label": Value("float32"),
    "audio": Array2D(shape=(None, AUDIO_DIM), dtype="float32"),
    "vision": Array2D(shape=(None, VISION_DIM), dtype="float32"),
    "text_part": Value("float32"),
    "audio_part": Value("float32"),
    "vision_part": Value("float32"),
})


def load_synthetic_mosi(sizes: dict[str, int] | None = None, seed: int = 0) -> DatasetDict:
    """DatasetDict train/validation/test of synthetic MOSI-schema clips (800/200/200 by default)."""
    sizes = dict(SPLIT_SIZES if sizes is None else sizes)
    splits = {}
    for offset, (split, size) in enumerate(sizes.items()):
        rows = list(synthetic_rows(size, seed=seed * 1000 + offset))
        splits[split] = Dataset.from_list(rows, features=SYNTHETIC_FEATURES)
    return DatasetDict(splits)


def load_synthetic_domains(num_domains: int = 3, sizes: dict[str, int] | None = None, seed: int = 0,
                           shift: float = 1.0) -> dict[str, DatasetDict]:
    """{"domain0": DatasetDict, ...}: synthetic MOSI-schema datasets that differ in feature style, for
    domain-generalisation fixtures. Domain k's audio and vision frames are scaled by 1 + 0.5 k · shift and offset by
    k · shift per channel (the sentiment signal is unchanged, its "recording style" is not); every row carries
    `domain_id` = k."""
    domains = {}
    for k in range(num_domains):
        scale, offset = 1.0 + 0.5 * k * shift, k * shift
        data = load_synthetic_mosi(sizes, seed=seed * 100 + k)
        restyle = lambda row: {"audio": np.asarray(row["audio"]) * scale + offset,  # noqa: E731
                               "vision": np.asarray(row["vision"]) * scale + offset, "domain_id": k}
        features = Features({**SYNTHETIC_FEATURES, "domain_id": Value("int64")})
        domains[f"domain{k}"] = data.map(restyle, features=features)
    return domains


# ---- synthetic files in the exact MMSA pickle layout (tests and benchmarks; no real pickle is obtainable here) ----

MMSA_LAYOUTS = {
    # dataset: (text length, (audio frames, audio dim), (vision frames, vision dim)) of the unaligned files
    "mosi": (50, (375, 5), (500, 20)),
    "mosei": (50, (500, 74), (500, 35)),
    "sims": (39, (400, 33), (55, 709)),
}


def synthetic_mmsa_pickle(dataset: str = "mosi", aligned: bool = False, sizes: dict[str, int] | None = None,
                          seed: int = 0, text_dim: int = 768, non_finite: bool = False) -> dict:
    """A dict in MMSA's pickle layout (`train` / `valid` / `test`, §1.1 of the reference notes) with random values.

    Valid frames come first and padding is zero, as in MMSA's files; `aligned=True` gives the word-aligned layout
    (audio and vision as long as the text, no `*_lengths`). `non_finite=True` plants -inf and NaN in the audio,
    as MOSEI's float64 -> float32 cast does.
    """
    text_length, (audio_frames, audio_dim), (vision_frames, vision_dim) = MMSA_LAYOUTS[dataset]
    if aligned:
        audio_frames = vision_frames = text_length
    rng = np.random.default_rng(seed)
    out = {}
    for split, size in (sizes or {"train": 6, "valid": 3, "test": 4}).items():
        words = rng.integers(2, text_length - 2, size=size)
        text_bert = np.zeros((size, 3, text_length), dtype=np.float32)
        for i, count in enumerate(words):
            text_bert[i, 0, : count + 2] = [101] + list(rng.integers(1000, 29000, size=count)) + [102]
            text_bert[i, 1, : count + 2] = 1
        labels = np.round(rng.uniform(-1, 1, size) if dataset == "sims" else rng.uniform(-3, 3, size), 1)
        arrays = {
            "id": np.array([f"{split}video{i // 2}$_${i % 2 + 1:04d}" for i in range(size)], dtype=object),
            "raw_text": np.array([f"clip {i} of {split}" for i in range(size)], dtype=object),
            "text": rng.normal(size=(size, text_length, text_dim)).astype(np.float32),
            "text_bert": text_bert,
            "regression_labels": labels.astype(np.float32),
            "classification_labels": np.digitize(labels, [-1e-9, 1e-9]).astype(np.float32),
            "annotations": np.array([["Negative", "Neutral", "Positive"][int(c)]
                                     for c in np.digitize(labels, [-1e-9, 1e-9])], dtype=object),
        }
        for modality, frames, dim in (("audio", audio_frames, audio_dim), ("vision", vision_frames, vision_dim)):
            lengths = np.full(size, frames) if aligned else rng.integers(1, frames + 1, size=size)
            values = np.zeros((size, frames, dim), dtype=np.float32)
            for i, length in enumerate(lengths):
                values[i, :length] = rng.normal(size=(length, dim))
            arrays[modality] = values
            if not aligned:
                arrays[f"{modality}_lengths"] = lengths.astype(np.int64)
        if dataset == "sims":
            for suffix in ("T", "A", "V"):
                arrays[f"regression_labels_{suffix}"] = np.clip(labels + rng.normal(0, 0.2, size), -1, 1).round(1)
        if non_finite:
            arrays["audio"][0, 0, 0], arrays["audio"][-1, 0, 1] = -np.inf, np.nan
        out[split] = arrays
    return out


def write_mmsa_pickle(path, content: dict) -> None:
    """Write an MMSA-layout dict the way MMSA does (a plain `pickle.dump`)."""
    import pickle
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=4)


__all__ = [
    "AUDIO_DIM",
    "load_synthetic_domains",
    "MMSA_LAYOUTS",
    "SYNTHETIC_FEATURES",
    "VISION_DIM",
    "load_synthetic_mosi",
    "synthetic_mmsa_pickle",
    "synthetic_rows",
    "write_mmsa_pickle",
]
