"""MSAProcessor = a text tokenizer + MSAFeatureExtractor, returning exactly the inputs every hf_msa model takes."""

import os

import numpy as np
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import logging

logger = logging.get_logger(__name__)


class MSAProcessor(ProcessorMixin):
    r"""
    Tokenises transcripts and pads audio/vision features in one call.

    Args:
        feature_extractor ([`MSAFeatureExtractor`]): audio/vision padding, masks, normalisation.
        tokenizer ([`PreTrainedTokenizerBase`]): any BERT-family tokenizer.
        max_text_length (`int`, *optional*, defaults to 50): tokens kept per transcript (MMSA uses 50, SIMS 39).
        extraction_settings (`dict`, *optional*): how raw clips were featurised for the training data (the
            `request` of `hf_msa.features.ExtractionSettings`: extractors, frame rates, Whisper checkpoint), so a
            pipeline featurises a new clip the same way. Saved in `processor_config.json`, so it travels with the
            checkpoint to the Hub; local paths are refused, since they would mean nothing on another machine.
            None: the model was trained on features made elsewhere (e.g. MMSA's standard features).
    """

    def __init__(self, feature_extractor=None, tokenizer=None, max_text_length: int = 50,
                 extraction_settings: dict | None = None, **kwargs):
        self.max_text_length = max_text_length
        self.extraction_settings = check_extraction_settings(extraction_settings)
        super().__init__(feature_extractor, tokenizer, **kwargs)

    def __call__(self, text=None, audio=None, vision=None, padding="longest", truncation=True, return_tensors=None,
                 **kwargs) -> BatchFeature:
        if text is None:
            raise ValueError("text is required: every hf_msa model reads the transcript")
        if not isinstance(text, (str, list, tuple)):
            raise TypeError(f"text must be a string or a list of strings, got {type(text).__name__}")
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            raise ValueError("text is an empty list: give at least one transcript")
        empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise ValueError(f"text[{empty[0]}] is empty or not a string ({len(empty)} such samples): "
                             "give a transcript for every sample")
        for name, values in (("audio", audio), ("vision", vision)):
            if values is not None and not isinstance(values, (list, tuple, np.ndarray)):
                raise TypeError(f"{name} must be a list of [time, dim] arrays (one per text), got {type(values).__name__}")
            if values is not None and len(values) != len(texts):
                raise ValueError(f"{name} has {len(values)} samples but text has {len(texts)}")
        text_padding = "max_length" if padding == "max_length" else "longest"
        data = dict(self.tokenizer(texts, padding=text_padding, truncation=truncation,
                                   max_length=self.max_text_length))
        if truncation:
            lengths = [len(ids) for ids in self.tokenizer(texts, truncation=False)["input_ids"]]
            cut = sum(length > self.max_text_length for length in lengths)
            if cut:
                logger.warning_once(f"text: transcripts longer than max_text_length={self.max_text_length} tokens are "
                                    f"cut to it ({cut} in this batch, the longest {max(lengths)} tokens)")
        data.update(self.feature_extractor(audio=audio, vision=vision, batch_size=len(texts), padding=padding,
                                           truncation=truncation))
        return BatchFeature(data=data, tensor_type=return_tensors)

    @property
    def model_input_names(self):
        return list(dict.fromkeys(self.tokenizer.model_input_names + self.feature_extractor.model_input_names))


def check_extraction_settings(settings):
    """None, or a flat dict of JSON scalars whose strings are not local paths (they travel to other machines)."""
    if settings is None:
        return None
    if not isinstance(settings, dict):
        raise TypeError(f"extraction_settings must be a dict (ExtractionSettings fields) or None, "
                        f"got {type(settings).__name__}")
    for key, value in settings.items():
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise TypeError(f"extraction_settings[{key!r}] must be a string, number, bool or None, "
                            f"got {type(value).__name__}")
        if isinstance(value, str) and (os.path.isabs(value) or value.startswith(("~", "./", "../"))):
            raise ValueError(f"extraction_settings[{key!r}] = {value!r} is a local path: the settings travel with the "
                             "checkpoint, so name a Hub id (or None for the bundled default) instead")
    return dict(settings)


__all__ = ["MSAProcessor", "check_extraction_settings"]
