"""Raw clip -> model inputs, from PyPI packages alone: PyAV decoding, Whisper encoder states or openSMILE/librosa
descriptors for audio, MediaPipe FaceMesh landmarks for vision, Whisper transcripts for text. Heavy libraries are
imported when an extractor is built, so `import hf_msa.features` stays cheap."""

from .extract import ClipFeatureExtractor, ExtractionSettings, extract_clips, save_features, to_mmsa_layout
from .media import MediaError, MediaInfo, iter_video_frames, load_audio, probe

__all__ = [
    "ClipFeatureExtractor",
    "ExtractionSettings",
    "MediaError",
    "MediaInfo",
    "extract_clips",
    "iter_video_frames",
    "load_audio",
    "probe",
    "save_features",
    "to_mmsa_layout",
]
