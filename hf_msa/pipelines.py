"""`multimodal-sentiment`: a transformers `Pipeline` from a raw clip (video, or audio + transcript) to a score.

    from hf_msa import pipeline
    sentiment = pipeline("multimodal-sentiment", model="runs/dib-whisper")   # folder with model + processor
    sentiment("clip.mp4")                      # transcript by Whisper
    sentiment({"audio": "clip.wav", "text": "anyhow it was really good"})
    -> {"score": 1.93, "polarity": "positive", "modalities": {"text": "whisper", "audio": True, "vision": True}, ...}

Features come from `hf_msa.features.ClipFeatureExtractor`; the settings a model was trained with are read from
`extraction_settings.json` in its folder when present (written by `hf-msa extract` and by `save_pretrained` here), so
the clip is featurised the way the training data was.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import Pipeline

TASK = "multimodal-sentiment"
SETTINGS_FILE = "extraction_settings.json"


def polarity_of(score: float) -> str:
    """The sign of a regression score (MMSA's convention: 0 is neutral)."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


class MultimodalSentimentPipeline(Pipeline):
    """Inputs: a video path, or a dict with `video` and/or `audio` paths and an optional `text` (and `id`).
    Output per clip: `score` (regression models) or `label` + `scores` (classification), `polarity`, `modalities`
    (where the text came from, whether audio/vision were present and used) and `text`."""

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args, clip_extractor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.processor is None:
            raise ValueError("the multimodal-sentiment pipeline needs the model's MSAProcessor (processor=...)")
        self.clip_extractor = clip_extractor if clip_extractor is not None else _extractor_for(self.model)
        self._check_dims()

    def _check_dims(self):
        config = self.model.config
        for modality in ("audio", "vision"):
            wants = getattr(config, f"has_{modality}", False)
            gives = getattr(self.clip_extractor.config, modality) != "none"
            if wants and gives:
                dim = getattr(self.clip_extractor, f"{modality}_dim")
                if dim != getattr(config, f"{modality}_dim"):
                    raise ValueError(
                        f"the model expects {modality}_dim={getattr(config, f'{modality}_dim')} but the clip extractor "
                        f"gives {dim} ({getattr(self.clip_extractor.config, modality)}); extract with the settings "
                        "the model was trained on")

    def _sanitize_parameters(self, **kwargs):
        return {}, {}, {}

    def preprocess(self, inputs):
        from .features.extract import clip_inputs

        clip = clip_inputs(inputs)
        unknown = set(clip) - {"video", "audio", "text", "id"}
        if unknown:
            raise ValueError(f"unknown input keys {sorted(unknown)}; give video, audio, text and/or id")
        row = self.clip_extractor(**clip)
        modalities = json.loads(row["modalities"])
        if not row["text"].strip():
            raise ValueError(f"{row['source']}: no transcript: none was given and none could be made (transcription "
                             "off, no audio track, or no speech heard); pass text=...")
        config = self.model.config
        features = {}
        for modality in ("audio", "vision"):
            wanted = getattr(config, f"has_{modality}", False)  # a text+audio model never receives vision
            used = wanted and modality in row and modalities[modality]
            features[modality] = [row[modality] if used else None] if wanted else None
            modalities[f"{modality}_used"] = bool(used)
        encoded = self.processor(text=[row["text"]], audio=features["audio"], vision=features["vision"],
                                 padding=config.input_padding, return_tensors="pt")
        return {"model_inputs": encoded, "meta": {"id": row["id"], "text": row["text"], "modalities": modalities}}

    def _forward(self, model_inputs):
        inputs = {k: v.to(self.device) for k, v in model_inputs["model_inputs"].items()}
        with torch.no_grad():
            logits = self.model(**inputs).logits
        return {"logits": logits.float().cpu(), "meta": model_inputs["meta"]}

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
        """Model, processor and the extraction settings, so `pipeline(model=folder)` featurises clips the same way.
        (Pipeline.save_pretrained would also copy this module as remote code; hf_msa is installed, so it is not.)"""
        Path(save_directory).mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)
        Path(save_directory, SETTINGS_FILE).write_text(json.dumps(self.clip_extractor.settings, indent=2))


def _extractor_for(model):
    """The extractor a model folder's `extraction_settings.json` describes, else the defaults."""
    from .features import ClipFeatureExtractor, ExtractionSettings

    settings_file = Path(str(getattr(model, "name_or_path", "") or "")) / SETTINGS_FILE
    if settings_file.is_file():
        request = json.loads(settings_file.read_text()).get("request", {})
        return ClipFeatureExtractor(ExtractionSettings.from_dict(request))
    return ClipFeatureExtractor()


def pipeline(task: str = TASK, model=None, processor=None, feature_extractor=None, device=None, **kwargs):
    """Build the multimodal-sentiment pipeline from a model folder (or a loaded model + processor).

    `feature_extractor` is a `ClipFeatureExtractor` or `ExtractionSettings`; by default the folder's
    `extraction_settings.json` decides, else Whisper tiny.en + FaceMesh."""
    from transformers import AutoModelForSequenceClassification, AutoProcessor

    from .features import ClipFeatureExtractor, ExtractionSettings

    if task != TASK:
        raise ValueError(f"unknown task {task!r}; hf_msa.pipeline serves {TASK!r}")
    if model is None:
        raise ValueError("give model= (a folder or a loaded hf_msa model)")
    folder = Path(model) if isinstance(model, (str, Path)) else None
    if folder is not None:
        model = AutoModelForSequenceClassification.from_pretrained(folder)
        processor = processor or AutoProcessor.from_pretrained(folder)
    if processor is None:
        raise ValueError("give processor= (the model's MSAProcessor) when model is an object")
    if isinstance(feature_extractor, ExtractionSettings):
        feature_extractor = ClipFeatureExtractor(feature_extractor)
    return MultimodalSentimentPipeline(model=model.eval(), processor=processor, clip_extractor=feature_extractor,
                                       task=TASK, device=device if device is not None else -1, **kwargs)


def register_pipeline() -> None:
    """Make `transformers.pipeline("multimodal-sentiment", model=..., processor=..., clip_extractor=...)` work."""
    from transformers import AutoModelForSequenceClassification
    from transformers.pipelines import PIPELINE_REGISTRY

    if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=MultimodalSentimentPipeline,
                                            pt_model=AutoModelForSequenceClassification, type="multimodal")


__all__ = ["MultimodalSentimentPipeline", "TASK", "pipeline", "polarity_of", "register_pipeline"]
