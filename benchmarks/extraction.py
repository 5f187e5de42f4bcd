"""Feature extraction cost: seconds of extraction per second of clip for each extractor, on the real MOSI clips
(../shared/data/mosi/raw_samples: a 3.3-s 16-kHz wav and a 7.5-s 480x360 30-fps mp4), median over repeats after one
warm-up call (model loading and JIT compilation are reported apart, as `setup_s`). Decoding is timed on its own.

    .venv/bin/python -m benchmarks extraction [--repeats 5] [--threads 2]
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from hf_msa.features import load_audio, probe
from hf_msa.features.audio import AcousticDescriptors, WhisperEncoderFeatures
from hf_msa.features.transcribe import WhisperTranscriber
from hf_msa.features.vision import FaceMeshLandmarks

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi" / "raw_samples"


def _timed(fn, repeats):
    fn()  # warm-up: first-call allocations, numba/XNNPACK initialisation
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def _row(times, clip_seconds, setup):
    median = statistics.median(times)
    return {"median_s": round(median, 4), "min_s": round(min(times), 4), "max_s": round(max(times), 4),
            "seconds_per_clip_second": round(median / clip_seconds, 4),
            "realtime_factor": round(clip_seconds / median, 2),
            "setup_s": round(setup, 2)}


def _audio_extractors():
    yield "whisper_tiny_en_encoder", lambda: WhisperEncoderFeatures()
    yield "whisper_tiny_en_encoder_10hz", lambda: WhisperEncoderFeatures(frame_rate=10)
    yield "whisper_tiny_en_transcription", lambda: WhisperTranscriber()
    yield "opensmile_eGeMAPSv02", lambda: AcousticDescriptors("opensmile", "eGeMAPSv02")
    yield "opensmile_ComParE_2016", lambda: AcousticDescriptors("opensmile", "ComParE_2016")
    yield "librosa_sims", lambda: AcousticDescriptors("librosa", "sims")


def run(repeats: int = 5, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    rows = {}
    for clip in sorted(CLIPS.iterdir()):
        info = probe(clip)
        seconds = info.duration
        block = {"duration_s": seconds, "audio_rate": info.audio_sample_rate, "video_fps": info.video_fps,
                 "video_size": info.video_size, "extractors": {}}
        block["extractors"]["decode_audio_16k"] = _row(_timed(lambda: load_audio(clip, 16000), repeats), seconds, 0.0)
        for name, build in _audio_extractors():
            started = time.perf_counter()
            extractor = build()
            setup = time.perf_counter() - started
            samples = load_audio(clip, extractor.sample_rate)
            block["extractors"][name] = _row(_timed(lambda: extractor(samples, extractor.sample_rate), repeats),
                                             seconds, setup)
        if info.has_video:
            for fps in (None, 10):
                started = time.perf_counter()
                mesh = FaceMeshLandmarks(fps=fps)
                setup = time.perf_counter() - started
                key = f"mediapipe_face_mesh_{'native' if fps is None else f'{fps}fps'}"
                block["extractors"][key] = _row(_timed(lambda: mesh(clip), repeats), seconds, setup)
        rows[clip.name] = block
    return {"threads": threads, "repeats": repeats, "clips": rows,
            "note": "seconds_per_clip_second < 1 means faster than real time; setup_s (loading, first conversion "
                    "excluded if cached) is paid once per process"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)


def main(args) -> dict:
    if not CLIPS.is_dir():
        raise SystemExit(f"clips not found: {CLIPS} (../shared/data beside the repository)")
    return run(args.repeats, args.threads)


__all__ = ["add_arguments", "main", "run"]
