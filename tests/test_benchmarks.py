"""Smoke tests of the benchmark suite: each benchmark at its smallest size writes a results file with every field.
(Timings are measured by the benchmarks themselves, never asserted here.)"""

import json

from benchmarks.__main__ import main as run_benchmark


def test_renyi_benchmark_writes_every_field(tmp_path):
    output = run_benchmark(["renyi", "--sizes", "16", "32", "--repeats", "1", "--output", str(tmp_path / "r.json")])
    report = json.loads(output.read_text())
    assert {"benchmark", "command", "date", "machine", "versions", "alpha", "rank", "target", "meets_target",
            "sizes"} <= set(report)
    assert {"python", "torch", "transformers"} <= set(report["versions"])
    assert len(report["spectra"]) == 9 and report["worst_abs_error_over_spectra"] >= 0
    row = report["sizes"]["32"]
    assert {"full_eigh_s", "full_entropy", "low_rank_eigh_s", "low_rank_exact_entropy", "low_rank_randomized_s",
            "low_rank_randomized_entropy", "speedup_vs_full_eigh", "abs_error_vs_exact_low_rank"} <= set(row)
    assert isinstance(report["meets_target"], bool)


def test_speed_benchmark_covers_every_registered_model(tmp_path):
    from hf_msa import MODEL_REGISTRY

    output = run_benchmark(["speed", "--encoder", "tiny", "--repeats", "2", "--shapes", "batch1",
                            "--output", str(tmp_path / "s.json")])
    report = json.loads(output.read_text())
    assert set(report["models"]) == set(MODEL_REGISTRY) and report["target_overhead"] == 1.15
    for result in report["models"].values():
        rows = result["shapes"]["batch1"]
        for mode in ("train", "infer"):
            for who in ("model", "text_encoder"):
                assert {"median_s", "q1_s", "q3_s", "peak_extra_mb"} <= set(rows[f"{mode}_{who}"])
            assert rows[f"{mode}_time_ratio"] > 0 and isinstance(rows[f"{mode}_meets_target"], bool)
            assert f"{mode}_memory_ratio" in rows


def test_accuracy_benchmark_writes_every_field(tmp_path, shared_data):
    output = run_benchmark(["accuracy", "--max-samples", "24", "--epochs", "1", "--seeds", "1",
                            "--output", str(tmp_path / "a.json")])
    report = json.loads(output.read_text())
    from hf_msa import MODEL_REGISTRY

    mosi = report["datasets"]["mosi"]
    assert set(mosi["models"]) == set(MODEL_REGISTRY) | {"text_only"}
    assert mosi["file"].endswith("label.csv") and report["settings"]["per_device_train_batch_size"] == 32
    assert {"python", "torch", "transformers"} <= set(report["versions"])
    for result in mosi["models"].values():
        assert {"Non0_acc_2", "MAE", "Corr", "Mult_acc_7"} <= set(result["test"])
        assert result["test"]["MAE"]["n"] == 1 and "recipe" in result


def test_extraction_benchmark_times_every_extractor_per_clip(tmp_path, shared_data):
    output = run_benchmark(["extraction", "--repeats", "1", "--output", str(tmp_path / "e.json")])
    report = json.loads(output.read_text())
    assert set(report["clips"]) == {"03bSnISJMiM_1.wav", "Oz06ZWiO20M_6.mp4"}
    mp4 = report["clips"]["Oz06ZWiO20M_6.mp4"]["extractors"]
    assert {"decode_audio_16k", "whisper_tiny_en_encoder", "whisper_tiny_en_transcription", "opensmile_eGeMAPSv02",
            "librosa_sims", "mediapipe_face_mesh_native", "mediapipe_face_mesh_10fps"} <= set(mp4)
    for row in mp4.values():
        assert {"median_s", "seconds_per_clip_second", "realtime_factor", "setup_s"} <= set(row)
        assert row["seconds_per_clip_second"] > 0
