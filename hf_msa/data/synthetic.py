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


__all__ = ["AUDIO_DIM", "SYNTHETIC_FEATURES", "VISION_DIM", "load_synthetic_mosi", "synthetic_rows"]
