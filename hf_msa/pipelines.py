"""`multimodal-sentiment`: a transformers `Pipeline` from a raw clip, a transcript or ready features to a score.

    from hf_msa import pipeline
    sentiment = pipeline("multimodal-sentiment", model="runs/dib-whisper")   # a folder or a Hub repo id
    sentiment("clip.mp4")                      # transcript by Whisper
    sentiment({"audio": "clip.wav", "text": "anyhow it was really good"})
    -> {"score": 1.93, "polarity": "positive", "modalities": {"text": "whisper", "audio": True, "vision": True}, ...}
    sentiment("anyhow it was really good")     # the transcript alone: audio and vision go in as missing
    sentiment({"text": "so good", "audio_features": audio [T, audio_dim], "vision_features": vision [T, vision_dim]})
    sentiment([clip_or_text, ...], batch_size=8)  # a list: one result per item, in order

What an input is, decided by its type and keys alone:
- a string is a clip path when it names an existing file or ends in one of `MEDIA_SUFFIXES` (`.mp4`, `.wav`, ...:
  containers FFmpeg reads for `hf_msa.features`); any other string is a transcript. A string with a media suffix
  that names no file raises FileNotFoundError (it is never read as text; a model that cannot take clips at all
  says so first); send such a transcript as `{"text": ...}`. An `os.PathLike` is always a clip path.
- a dict with `video` and/or `audio` (paths, plus optional `text` and `id`) is a clip, featurised by the clip
  extractor; a dict with `audio_features` and/or `vision_features` (arrays or nested lists [T, D], None = missing,
  plus `text` and optional `id`) is ready features, fed straight to the processor; a dict with `text` (and `id`)
  alone is the transcript alone. Clip keys and feature keys in one dict, or any other key, raise ValueError.

Raw clips are featurised as the training data was: by the extractor given (`feature_extractor=` / `clip_extractor=`),
else the settings the processor carries (`processor.extraction_settings`, saved in `processor_config.json`, so they
come from a Hub repo as from a folder), else `extraction_settings.json` in a local folder saved before those
existed, else the default extractor (Whisper tiny.en + FaceMesh) when its widths are the model's. A model trained
on features made elsewhere (MMSA's standard features: audio_dim 5, vision_dim 20 for MOSI) still takes transcripts
and ready features; a raw clip gets a ValueError that says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
from transformers import Pipeline

TASK = "multimodal-sentiment"
SETTINGS_FILE = "extraction_settings.json"  # read from folders saved before the processor carried the settings

# Suffixes that make a string a clip path even before it is found: video and audio containers FFmpeg (PyAV, which
# hf_msa.features decodes with) reads. Any existing file is a clip whatever its suffix.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".flv", ".wmv", ".mpg", ".mpeg", ".3gp", ".ts")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".aif", ".aiff", ".amr")
MEDIA_SUFFIXES = VIDEO_SUFFIXES + AUDIO_SUFFIXES
CLIP_KEYS = ("video", "audio")
FEATURE_KEYS = ("audio_features", "vision_features")
SHARED_KEYS = ("text", "id")
CALL_ARGUMENTS = ("batch_size", "num_workers")
INIT_ARGUMENTS = ("model", "processor", "feature_extractor", "clip_extractor", "device", "batch_size", "num_workers")


def polarity_of(score: float) -> str:
    """The sign of a regression score (MMSA's convention: 0 is neutral)."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def is_clip_path(text: str) -> bool:
    """The rule for a plain string: a clip path if it names an existing file or ends in a media suffix."""
    return os.path.isfile(text) or Path(text.strip()).suffix.lower() in MEDIA_SUFFIXES


def input_kind(item) -> tuple[str, dict]:
    """("clip" | "features" | "text", the item as a dict) by the rule in the module docstring."""
    if isinstance(item, os.PathLike) or (isinstance(item, str) and is_clip_path(item)):
        return "clip", {"path": os.fspath(item)}  # existence is checked after the model is known to take clips
    if isinstance(item, str):
        return "text", {"text": item}
    if not isinstance(item, dict):
        raise TypeError(f"an input is a clip path, a transcript string or a dict of {CLIP_KEYS + SHARED_KEYS} or "
                        f"{FEATURE_KEYS + SHARED_KEYS}, got {type(item).__name__}")
    unknown = sorted(set(item) - set(CLIP_KEYS + FEATURE_KEYS + SHARED_KEYS))
    if unknown:
        raise ValueError(f"unknown input keys {unknown}; a clip dict takes {list(CLIP_KEYS + SHARED_KEYS)}, a "
                         f"features dict {list(FEATURE_KEYS + SHARED_KEYS)}")
    clip, features = [k for k in CLIP_KEYS if k in item], [k for k in FEATURE_KEYS if k in item]
    if clip and features:
        raise ValueError(f"clip keys {clip} and feature keys {features} in one input: give paths (featurised here) "
                         "or ready features, not both")
    if clip:
        return "clip", dict(item)
    if "text" not in item:
        raise ValueError(f"an input dict needs `text` (with {list(FEATURE_KEYS)}) or a clip path "
                         f"({list(CLIP_KEYS)}); got keys {sorted(item)}")
    return ("features" if features else "text"), dict(item)


class MultimodalSentimentPipeline(Pipeline):
    """Inputs (one, or a list with `batch_size=N`): a clip path, a transcript string, a clip dict
    (`video`/`audio`/`text`/`id`), a features dict (`text`/`audio_features`/`vision_features`/`id`) or a text dict
    (`text`/`id`); the module docstring gives the rule that tells them apart.
    Output per input: `score` (regression models) or `label` + `scores` (classification), `polarity`, `modalities`
    (where the text came from, whether audio/vision were present and used), `text` and `id`.

    Constructor arguments beyond transformers' own: `clip_extractor` (or `feature_extractor`): a
    `ClipFeatureExtractor` or `ExtractionSettings` for raw clips, checked against the model's widths at once."""

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args, clip_extractor=None, feature_extractor=None, **kwargs):
        explicit = _explicit_extractor(clip_extractor, feature_extractor)
        super().__init__(*args, **kwargs)
        if self.processor is None:
            raise ValueError("the multimodal-sentiment pipeline needs the model's MSAProcessor (processor=...)")
        if explicit is not None:
            self.clip_extractor, self.clip_settings_source = explicit, "the extractor given"
        else:
            self.clip_extractor, self.clip_settings_source = _extractor_for(self.model, self.processor)
        self._clip_checked = False
        if explicit is not None:  # a mismatch the caller chose is an error now; the others wait for a clip
            self._check_clip_extractor()

    def _width_mismatch(self):
        """(modality, model width, extractor width) for the first modality the extractor cannot feed, else None.
        Vision first: FaceMesh is cheap to build, Whisper is not."""
        config = self.model.config
        for modality in ("vision", "audio"):
            if getattr(config, f"has_{modality}", False) and getattr(self.clip_extractor.config, modality) != "none":
                gives = getattr(self.clip_extractor, f"{modality}_dim")
                if gives != getattr(config, f"{modality}_dim"):
                    return modality, getattr(config, f"{modality}_dim"), gives
        return None

    def _check_clip_extractor(self):
        """Raise before any clip is read if the clip extractor cannot give this model its inputs."""
        if self._clip_checked:
            return
        mismatch = self._width_mismatch()
        if mismatch is not None:
            modality, wants, gives = mismatch
            extractor = getattr(self.clip_extractor.config, modality)
            if self.clip_settings_source is None:
                config = self.model.config
                widths = ", ".join(f"{m}_dim={getattr(config, f'{m}_dim')}" for m in ("audio", "vision")
                                   if getattr(config, f"has_{m}", False))
                shapes = ", ".join(f"'{m}_features': array [T, {getattr(config, f'{m}_dim')}]"
                                   for m in ("audio", "vision") if getattr(config, f"has_{m}", False))
                raise ValueError(
                    f"this model was trained on features of widths {widths} (e.g. MMSA's standard features), which "
                    f"hf_msa cannot compute from a raw clip: its extractors give {modality} {gives} ({extractor}), "
                    "and the model's processor records no extraction settings. Give the features instead: "
                    f"sentiment({{'text': transcript, {shapes}}}) (None = missing), or the transcript alone: "
                    "sentiment({'text': transcript})")
            raise ValueError(
                f"the model expects {modality}_dim={wants} but the clip extractor gives {gives} ({extractor}; "
                f"settings from {self.clip_settings_source}); extract with the settings the model was trained on")
        self._clip_checked = True

    def _sanitize_parameters(self, **kwargs):
        if kwargs:
            raise TypeError(f"the {TASK} pipeline got unknown argument(s) {sorted(kwargs)}; a call accepts "
                            f"{list(CALL_ARGUMENTS)}, the constructor {list(INIT_ARGUMENTS)}")
        return {}, {}, {}

    # Batching is transformers' own (Pipeline.get_iterator + pad_collate_fn): preprocess returns one input's tensors
    # (batch 1, as the processor gives them) plus a `meta` dict; the collate pads input_ids with the tokenizer's pad
    # id and every other tensor (features, masks, token types) with 0 on the right, every model masks those frames
    # (LNLN, which attends to padding, gets fixed max_length inputs: nothing to pad), and meta becomes a list that
    # PipelineIterator splits back per input. Only what the base cannot take is handled here.
    def __call__(self, inputs, *args, **kwargs):
        if args:
            raise TypeError(f"the {TASK} pipeline takes one input (or a list) and keyword arguments "
                            f"{list(CALL_ARGUMENTS)}; got {len(args)} more positional argument(s)")
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list) and not inputs:
            self._sanitize_parameters(**{k: v for k, v in kwargs.items() if k not in CALL_ARGUMENTS})
            return []
        return super().__call__(inputs, **kwargs)

    def preprocess(self, inputs):
        kind, item = input_kind(inputs)
        if kind == "clip":
            text, features, modalities, clip_id = self._featurise(item)
        else:
            text, clip_id = item.get("text"), item.get("id")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"text must be a non-empty transcript string, got {text!r}")
            features = self._given_features(item) if kind == "features" else {}
            modalities = {"text": "given", "audio": features.get("audio") is not None,
                          "vision": features.get("vision") is not None}
        config = self.model.config
        encoded = {}
        for modality in ("audio", "vision"):
            wanted = getattr(config, f"has_{modality}", False)  # a text+audio model never receives vision
            value = features.get(modality)
            encoded[modality] = [value] if wanted else None
            modalities[f"{modality}_used"] = bool(wanted and value is not None)
        model_inputs = self.processor(text=[text], audio=encoded["audio"], vision=encoded["vision"],
                                      padding=config.input_padding, return_tensors="pt")
        return {**model_inputs, "meta": {"id": clip_id, "text": text, "modalities": modalities}}

    def _featurise(self, item):
        from .features.extract import clip_inputs

        self._check_clip_extractor()
        if "path" in item:
            if not os.path.isfile(item["path"]):
                raise FileNotFoundError(f"{item['path']}: no such file (a string ending in a media suffix is read as "
                                        "a clip path; to score it as a transcript, give {'text': ...})")
            item = clip_inputs(item["path"])
        row = self.clip_extractor(**item)  # a clip dict naming no file: the extractor's MediaError, as before
        modalities = json.loads(row["modalities"])
        if not row["text"].strip():
            raise ValueError(f"{row['source']}: no transcript: none was given and none could be made (transcription "
                             "off, no audio track, or no speech heard); pass text=...")
        features = {m: row[m] for m in ("audio", "vision") if m in row and modalities[m]}
        return row["text"], features, modalities, row["id"]

    def _given_features(self, item) -> dict:
        """`audio_features` / `vision_features` as float32 [T, D] arrays (None or empty = missing), widths checked."""
        config, out = self.model.config, {}
        for modality in ("audio", "vision"):
            key, value = f"{modality}_features", item.get(f"{modality}_features")
            if value is None:
                continue
            if not getattr(config, f"has_{modality}", False):
                raise ValueError(f"{key} was given but this model reads no {modality} (has_{modality}=False)")
            dim = getattr(config, f"{modality}_dim")
            try:
                frames = np.asarray(value, dtype=np.float32)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{key} must be numbers shaped [T, {dim}] (frames x {modality}_dim), "
                                 f"got {type(value).__name__} ({error})") from None
            if frames.size == 0:
                continue
            if frames.ndim != 2 or frames.shape[1] != dim:
                raise ValueError(f"{key} must be shaped [T, {dim}] (frames x the model's {modality}_dim={dim}), "
                                 f"got shape {tuple(frames.shape)}")
            out[modality] = frames
        return out

    def _forward(self, model_inputs):
        inputs = {k: v for k, v in model_inputs.items() if k != "meta"}
        logits = self.model(**inputs).logits  # the base runs this under no_grad, on self.device
        return {"logits": logits.float(), "meta": model_inputs["meta"]}  # logits first: the batch size is read there

    def postprocess(self, model_outputs):
        logits, meta = model_outputs["logits"][0], model_outputs["meta"]
        config = self.model.config
        if logits.numel() == 1:
            score = float(logits.reshape(()))
            if not np.isfinite(score):
                raise RuntimeError(f"{meta['id']}: the model returned a non-finite score")
            out = {"score": score, "polarity": polarity_of(score)}
        else:
            probabilities = logits.softmax(-1)
            index = int(probabilities.argmax())
            label = config.id2label.get(index, str(index))
            out = {"label": label, "polarity": label.lower(),
                   "scores": {config.id2label.get(i, str(i)): float(p) for i, p in enumerate(probabilities)}}
        return {**out, **meta}

    def save_pretrained(self, save_directory, **kwargs):
        """Model and processor; the processor carries the extraction settings (`processor.extraction_settings`,
        inside `processor_config.json`) when they are known (given, or read from the processor or an old folder),
        so `pipeline(model=folder_or_repo)` featurises clips the same way. Settings naming a local path (e.g.
        `audio_model="/some/folder"`) are refused before anything is written. (Pipeline.save_pretrained would
        also copy this module as remote code; hf_msa is installed, so it is not.)"""
        from .processing.processing_msa import check_extraction_settings

        settings = None
        if self.clip_settings_source is not None:
            settings = check_extraction_settings(asdict(self.clip_extractor.config))
        Path(save_directory).mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(save_directory, **kwargs)
        if settings is not None:
            self.processor.extraction_settings = settings
        self.processor.save_pretrained(save_directory)


def _explicit_extractor(clip_extractor, feature_extractor):
    """The clip extractor the caller gave (either name; `ExtractionSettings` built), or None."""
    from .features import ClipFeatureExtractor, ExtractionSettings

    if clip_extractor is not None and feature_extractor is not None:
        raise ValueError("give the clip extractor once: clip_extractor= or feature_extractor=, not both")
    given = clip_extractor if clip_extractor is not None else feature_extractor
    if isinstance(given, ExtractionSettings):
        return ClipFeatureExtractor(given)
    if given is not None and not isinstance(given, ClipFeatureExtractor):
        raise TypeError(f"feature_extractor / clip_extractor must be a ClipFeatureExtractor or ExtractionSettings "
                        f"(the MSAFeatureExtractor comes inside processor=), got {type(given).__name__}")
    return given


def _extractor_for(model, processor):
    """(extractor, where its settings came from): the processor's settings, else a local folder's
    `extraction_settings.json` (its `request`), else the defaults with source None (not known to fit the model)."""
    from .features import ClipFeatureExtractor, ExtractionSettings

    settings = getattr(processor, "extraction_settings", None)
    if settings is not None:
        return ClipFeatureExtractor(ExtractionSettings.from_dict(settings)), "the processor's extraction_settings"
    folder = str(getattr(model, "name_or_path", "") or "")
    settings_file = Path(folder) / SETTINGS_FILE
    if folder and settings_file.is_file():
        request = json.loads(settings_file.read_text()).get("request", {})
        return ClipFeatureExtractor(ExtractionSettings.from_dict(request)), str(settings_file)
    return ClipFeatureExtractor(), None


def pipeline(task: str = TASK, model=None, processor=None, feature_extractor=None, device=None, *,
             revision: str | None = None, token: str | bool | None = None, trust_remote_code: bool | None = None,
             **kwargs):
    """Build the multimodal-sentiment pipeline from a folder or Hub repo id (or a loaded model + processor).

    `feature_extractor` (or `clip_extractor`) is a `ClipFeatureExtractor` or `ExtractionSettings` for raw clips; by
    default the processor's saved `extraction_settings` decide (see the module docstring). `revision`, `token` and
    `trust_remote_code` go to `from_pretrained` of the model and of the processor."""
    from transformers import AutoModelForSequenceClassification, AutoProcessor

    if task != TASK:
        raise ValueError(f"unknown task {task!r}; hf_msa.pipeline serves {TASK!r}")
    if model is None:
        raise ValueError("give model= (a folder, a Hub repo id or a loaded hf_msa model)")
    hub = {k: v for k, v in dict(revision=revision, token=token, trust_remote_code=trust_remote_code).items()
           if v is not None}
    if isinstance(model, (str, os.PathLike)):
        name = os.fspath(model)  # a folder or a repo id: from_pretrained tells them apart
        model = AutoModelForSequenceClassification.from_pretrained(name, **hub)
        processor = processor if processor is not None else name
    if isinstance(processor, (str, os.PathLike)):
        processor = AutoProcessor.from_pretrained(os.fspath(processor), **hub)
    if processor is None:
        raise ValueError("give processor= (the model's MSAProcessor) when model is an object")
    return MultimodalSentimentPipeline(model=model.eval(), processor=processor, feature_extractor=feature_extractor,
                                       task=TASK, device=device if device is not None else -1, **kwargs)


def register_pipeline() -> None:
    """Make `transformers.pipeline("multimodal-sentiment", model=..., processor=..., clip_extractor=...)` work."""
    from transformers import AutoModelForSequenceClassification
    from transformers.pipelines import PIPELINE_REGISTRY

    if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=MultimodalSentimentPipeline,
                                            pt_model=AutoModelForSequenceClassification, type="multimodal")


__all__ = ["MultimodalSentimentPipeline", "TASK", "input_kind", "is_clip_path", "pipeline", "polarity_of",
           "register_pipeline"]
