"""Decoding media files with PyAV: audio as mono float32 at the rate an extractor asks for, video as RGB frames.

Every failure names the file: missing, empty, not media, or without the stream asked for. Any container, codec,
sample rate and channel count FFmpeg reads is accepted; channels are averaged to mono and the audio is resampled
by FFmpeg's resampler (`av.AudioResampler`), so a 44.1 kHz stereo AAC track and a 16 kHz stereo wav reach a
16 kHz extractor the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np


class MediaError(ValueError):
    """A media file cannot give what was asked of it; the message names the file."""


@dataclass(frozen=True)
class MediaInfo:
    path: str
    duration: float | None  # seconds, from the container
    audio_sample_rate: int | None  # None when there is no audio stream
    audio_channels: int | None
    video_fps: float | None  # None when there is no video stream
    video_frames: int | None
    video_size: tuple[int, int] | None  # (width, height)

    @property
    def has_audio(self) -> bool:
        return self.audio_sample_rate is not None

    @property
    def has_video(self) -> bool:
        return self.video_fps is not None


def _open(path):
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as error:  # InvalidDataError for text or garbage, EOFError for a cut header, ...
        raise MediaError(f"{path}: not a media file FFmpeg can read ({error.strerror or error})") from None


def probe(path: str | os.PathLike) -> MediaInfo:
    """What a file holds: duration, audio rate/channels, video fps/frame count/size."""
    with _open(path) as container:
        audio = next(iter(container.streams.audio), None)
        video = next(iter(container.streams.video), None)
        fps = float(video.average_rate) if video is not None and video.average_rate else None
        return MediaInfo(
            path=str(path),
            duration=container.duration / 1_000_000 if container.duration else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            audio_channels=audio.codec_context.channels if audio is not None else None,
            video_fps=fps if video is not None else None,
            video_frames=(video.frames or None) if video is not None else None,
            video_size=(video.codec_context.width, video.codec_context.height) if video is not None else None,
        )


def load_audio(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """The first audio stream as mono float32 samples in [-1, 1] at `sample_rate` (channels averaged)."""
    import av

    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    with _open(path) as container:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            raise MediaError(f"{path}: the file has no audio stream")
        # Resample at the source channel layout, then average here: mono is exactly the mean of the channels,
        # whatever downmix matrix FFmpeg would otherwise pick.
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=sample_rate)
        chunks = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.InvalidDataError as error:
            raise MediaError(f"{path}: the audio stream could not be decoded ({error})") from None
    if not chunks:
        raise MediaError(f"{path}: the audio stream holds no samples")
    samples = np.concatenate(chunks, axis=1)
    return samples.mean(axis=0).astype(np.float32)


def iter_video_frames(path: str | os.PathLike, fps: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, RGB uint8 [H, W, 3]) for each frame, or for frames sampled at `fps` (nearest earlier
    frame for each sampling instant; `fps` above the native rate keeps every frame once)."""
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive or None (every frame), got {fps}")
    with _open(path) as container:
        stream = next(iter(container.streams.video), None)
        if stream is None:
            raise MediaError(f"{path}: the file has no video stream")
        time_base = stream.time_base or Fraction(1, 1)
        next_instant = 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if frame.pts is not None:
                    time = float(frame.pts * time_base)
                else:
                    time = index / float(stream.average_rate or 1)
                if fps is not None:
                    if time + 1e-6 < next_instant:
                        continue
                    while next_instant <= time + 1e-6:
                        next_instant += 1.0 / fps
                yield time, frame.to_ndarray(format="rgb24")
        except Exception as error:  # noqa: BLE001 - FFmpeg raises many error types; name the file whatever it is
            if isinstance(error, MediaError):
                raise
            import av

            if isinstance(error, av.error.FFmpegError):
                raise MediaError(f"{path}: the video stream could not be decoded ({error})") from None
            raise


__all__ = ["MediaError", "MediaInfo", "iter_video_frames", "load_audio", "probe"]
