"""From raw clips to the feature layout the dataset loaders read: one row per clip with `id`, `text`, `audio`
[frames, D], `vision` [frames, D], their lengths, and what each modality came from.

    extractor = ClipFeatureExtractor(ExtractionSettings(audio="whisper", vision="face_mesh"))
    row = extractor(video="clip.mp4")                        # transcript by Whisper when no text is given
    dataset = extract_clips(["a.mp4", {"audio": "b.wav", "text": "so good"}], extractor)
    save_features(dataset, "out/", extractor.settings, format="mmsa_pickle")
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .media import MediaError, load_audio, probe

AUDIO_EXTRACTORS = ("whisper", "opensmile", "librosa", "none")
VISION_EXTRACTORS = ("face_mesh", "none")


@dataclass
class ExtractionSettings:
    """What to extract. `missing="error"` refuses a file without a stream an extractor needs (a video without an
    audio track, a "video" without frames); `"mark"` keeps the clip with a zero-length sequence for that modality
    (the models read it as missing) and says so in the row. A clip given as audio alone has no vision by design:
    its vision is marked missing under either setting."""

    audio: str = "whisper"
    audio_model: str | None = None  # Whisper checkpoint (Hub id or folder); None = bundled tiny.en
    audio_feature_set: str | None = None  # opensmile: eGeMAPSv02 | ComParE_2016; librosa: sims
    audio_frame_rate: float | None = None  # frames per second after averaging; None = the extractor's own rate
    vision: str = "face_mesh"
    vision_fps: float | None = None  # None = every frame
    refine_landmarks: bool = False
    head_pose: bool = False  # append yaw/pitch/roll derived from the landmarks
    transcribe: bool = True  # Whisper transcript when a clip comes without text
    asr_model: str | None = None  # None = the audio Whisper checkpoint if audio == "whisper", else bundled tiny.en
    asr_language: str | None = None
    missing: str = "error"

    def __post_init__(self):
        if self.audio not in AUDIO_EXTRACTORS:
            raise ValueError(f"audio must be one of {AUDIO_EXTRACTORS}, got {self.audio!r}")
        if self.vision not in VISION_EXTRACTORS:
            raise ValueError(f"vision must be one of {VISION_EXTRACTORS}, got {self.vision!r}")
        if self.missing not in ("error", "mark"):
            raise ValueError(f"missing must be 'error' or 'mark', got {self.missing!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "ExtractionSettings":
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown extraction settings {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**values)


class ClipFeatureExtractor:
    """Runs the configured extractors on one clip (extractors are built on first use and reused)."""

    def __init__(self, settings: ExtractionSettings | None = None, **overrides):
        self.config = settings or ExtractionSettings(**overrides)
        self._audio = self._vision = self._asr = None

    # Built lazily so that, e.g., a text+audio user never imports mediapipe.
    @property
    def audio_extractor(self):
        if self._audio is None and self.config.audio != "none":
            from .audio import AcousticDescriptors, WhisperEncoderFeatures

            c = self.config
            if c.audio == "whisper":
                self._audio = WhisperEncoderFeatures(c.audio_model, frame_rate=c.audio_frame_rate)
            else:
                self._audio = AcousticDescriptors(c.audio, c.audio_feature_set, frame_rate=c.audio_frame_rate)
        return self._audio

    @property
    def vision_extractor(self):
        if self._vision is None and self.config.vision != "none":
            from .vision import FaceMeshLandmarks

            c = self.config
            self._vision = FaceMeshLandmarks(fps=c.vision_fps, refine_landmarks=c.refine_landmarks,
                                             head_pose=c.head_pose)
        return self._vision

    @property
    def transcriber(self):
        if self._asr is None:
            from .transcribe import WhisperTranscriber

            c = self.config
            model = c.asr_model or (c.audio_model if c.audio == "whisper" else None)
            self._asr = WhisperTranscriber(model, language=c.asr_language)
        return self._asr

    @property
    def audio_dim(self) -> int:
        return self.audio_extractor.dim if self.config.audio != "none" else 0

    @property
    def vision_dim(self) -> int:
        return self.vision_extractor.dim if self.config.vision != "none" else 0

    @property
    def settings(self) -> dict:
        """Everything that determines the features: the request plus each extractor's resolved settings."""
        out = {"request": asdict(self.config)}
        if self.config.audio != "none":
            out["audio"] = self.audio_extractor.settings
        if self.config.vision != "none":
            out["vision"] = self.vision_extractor.settings
        if self.config.transcribe and self._asr is not None:
            out["transcription"] = self._asr.settings
        return out

    def __call__(self, video: str | os.PathLike | None = None, audio: str | os.PathLike | None = None,
                 text: str | None = None, id: str | None = None) -> dict:
        """Features of one clip: a video file (its audio track is used unless `audio` names another file), or an
        audio file, with or without a transcript."""
        if video is None and audio is None:
            raise ValueError("give a video path, an audio path, or both")
        for name, path in (("video", video), ("audio", audio)):
            if path is not None and not Path(path).is_file():
                raise MediaError(f"{path}: no such file ({name})")
        audio_source = audio if audio is not None else video
        present = {"text": None, "audio": False, "vision": False}
        info = probe(audio_source)
        samples = None
        if info.has_audio:
            samples = {}
        elif self.config.audio != "none" or (text is None and self.config.transcribe):
            if self.config.missing == "error":
                raise MediaError(f"{audio_source}: the file has no audio stream (needed for "
                                 f"{'audio features' if self.config.audio != 'none' else 'transcription'}); "
                                 "set missing='mark' to keep the clip with audio marked missing")

        def samples_at(rate):  # decode once per rate
            if rate not in samples:
                samples[rate] = load_audio(audio_source, rate)
            return samples[rate]

        row: dict = {"id": id or Path(video or audio).stem}
        if text is not None:
            row["text"], present["text"] = str(text), "given"
        elif self.config.transcribe and samples is not None:
            transcript = self.transcriber(samples_at(self.transcriber.sample_rate), self.transcriber.sample_rate)
            row["text"], present["text"] = transcript.text, "whisper"
            row["transcript_segments"] = json.dumps(transcript.segments)
        else:
            row["text"] = ""
        if self.config.audio != "none":
            extractor = self.audio_extractor
            if samples is not None:
                sequence = extractor(samples_at(extractor.sample_rate), extractor.sample_rate)
                row["audio"], present["audio"] = sequence.values, True
            else:
                row["audio"] = np.zeros((0, extractor.dim), dtype=np.float32)
            row["audio_length"] = len(row["audio"])
        if self.config.vision != "none":
            extractor = self.vision_extractor
            video_info = None if video is None else info if audio is None else probe(video)  # one probe per file
            if video_info is not None and video_info.has_video:
                sequence, found = extractor(video)
                row["vision"], row["vision_face_found"] = sequence.values, found.tolist()
                present["vision"] = bool(found.any())
            elif video is not None and self.config.missing == "error":
                raise MediaError(f"{video}: the file has no video stream for face landmarks; set missing='mark' to "
                                 "keep the clip with vision marked missing, or vision='none'")
            else:  # an audio-only clip: vision is absent by the caller's choice
                row["vision"], row["vision_face_found"] = np.zeros((0, extractor.dim), dtype=np.float32), []
            row["vision_length"] = len(row["vision"])
        row["source"] = str(video or audio)
        row["duration"] = float(info.duration or 0.0)
        row["modalities"] = json.dumps(present)
        return row


def clip_inputs(item) -> dict:
    """A clip given as a path is read for every stream it has: a file with frames is the video (its audio track
    included), a file with sound only is the audio. Dicts (`video`/`audio`/`text`/`id`) pass through."""
    if isinstance(item, (str, os.PathLike)):
        return {"video": item} if probe(item).has_video else {"audio": item}
    if not isinstance(item, dict):
        raise TypeError(f"a clip is a path or a dict of video/audio/text/id, got {type(item).__name__}")
    return dict(item)


def extract_clips(items, extractor: ClipFeatureExtractor, labels: dict | None = None, progress: bool = True):
    """A `datasets.Dataset` with one row per item (a path, or a dict of `video`/`audio`/`text`/`id`); rows keep the
    input order, and a failing clip stops the run with its error (nothing is skipped silently)."""
    from datasets import Array2D, Dataset, Features, List, Value
    from tqdm.auto import tqdm

    rows, seen = [], {}
    for item in tqdm(list(items), desc="extracting", unit="clip", disable=not progress):
        row = extractor(**clip_inputs(item))
        if row["id"] in seen:
            raise ValueError(f"clip id {row['id']!r} of {row['source']} is already used by {seen[row['id']]}; "
                             "give each clip its own id (dict item with 'id')")
        seen[row["id"]] = row["source"]
        if labels is not None:
            if row["id"] not in labels:
                raise KeyError(f"no label for clip {row['id']!r}")
            row["label"] = float(labels[row["id"]])
        rows.append(row)
    if not rows:
        raise ValueError("no clips given")
    spec = {"id": Value("string"), "text": Value("string")}
    if any("transcript_segments" in r for r in rows):
        spec["transcript_segments"] = Value("string")
        for r in rows:
            r.setdefault("transcript_segments", "[]")
    if extractor.config.audio != "none":
        spec |= {"audio": Array2D((None, extractor.audio_dim), "float32"), "audio_length": Value("int32")}
    if extractor.config.vision != "none":
        spec |= {"vision": Array2D((None, extractor.vision_dim), "float32"), "vision_length": Value("int32"),
                 "vision_face_found": List(Value("bool"))}
    spec |= {"source": Value("string"), "duration": Value("float32"), "modalities": Value("string")}
    if labels is not None:
        spec["label"] = Value("float32")
    return Dataset.from_list(rows, features=Features(spec))


def to_mmsa_layout(dataset, split: str = "test") -> dict:
    """The MMSA pickle layout ({split: arrays}, zero-padded sequences with `*_lengths`) of an extracted dataset;
    `regression_labels` are NaN for clips without a label."""
    if split not in ("train", "valid", "test"):
        raise ValueError(f"split must be train, valid or test (MMSA's names), got {split!r}")
    absent = [m for m in ("audio", "vision") if m not in dataset.column_names]
    if absent:
        raise ValueError(f"the MMSA layout holds both audio and vision, but {absent} were not extracted "
                         "(vision='none' / audio='none'); extract both or save as format='arrow'")
    size = len(dataset)
    arrays = {"id": np.array(dataset["id"], dtype=object), "raw_text": np.array(dataset["text"], dtype=object),
              "regression_labels": np.asarray(dataset["label"] if "label" in dataset.column_names
                                              else np.full(size, np.nan), dtype=np.float32)}
    numpy_view = dataset.with_format("numpy")
    for modality in ("audio", "vision"):
        lengths = np.asarray(dataset[f"{modality}_length"], dtype=np.int64)
        dim = dataset.features[modality].shape[1]
        padded = np.zeros((size, max(int(lengths.max()), 1), dim), dtype=np.float32)
        for i in range(size):
            if lengths[i]:
                padded[i, : lengths[i]] = numpy_view[i][modality]
        arrays[modality], arrays[f"{modality}_lengths"] = padded, lengths
    return {split: arrays}


def save_features(dataset, output_dir: str | os.PathLike, settings: dict, format: str = "arrow",
                  split: str = "test") -> Path:
    """Write the features (`arrow`: `datasets.save_to_disk`; `mmsa_pickle`: `features.pkl` in MMSA's layout, the
    settings also under its `config` key, as MMSA-FET does) with `extraction_settings.json` beside them."""
    from ..data.synthetic import write_mmsa_pickle

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if format == "arrow":
        dataset.save_to_disk(str(output_dir / "dataset"))
        target = output_dir / "dataset"
    elif format == "mmsa_pickle":
        content = to_mmsa_layout(dataset, split)
        content["config"] = json.loads(json.dumps(settings))  # plain types only, for the safe unpickler
        target = output_dir / "features.pkl"
        write_mmsa_pickle(target, content)
    else:
        raise ValueError(f"format must be 'arrow' or 'mmsa_pickle', got {format!r}")
    (output_dir / "extraction_settings.json").write_text(json.dumps(settings, indent=2))
    return target


__all__ = ["ClipFeatureExtractor", "ExtractionSettings", "clip_inputs", "extract_clips", "save_features",
           "to_mmsa_layout"]
