"""Smoke tests of the benchmark suite: each benchmark at its smallest size writes a results file with every field.
(Timings are measured by the benchmarks themselves, never asserted here.)"""

import json
from pathlib import Path

from benchmarks.__main__ import main as run_benchmark


def test_renyi_benchmark_writes_every_field(tmp_path):
    output = run_benchmark(["renyi", "--sizes", "16", "32", "--repeats", "1", "--runs", "2",
                            "--output", str(tmp_path / "r.json")])
    report = json.loads(output.read_text())
    assert {"benchmark", "command", "date", "machine", "versions", "alpha", "rank", "target", "meets_target",
            "sizes", "solvers", "spectra", "runs"} <= set(report)
    assert {"python", "torch", "transformers"} <= set(report["versions"])
    assert set(report["solvers"]) == set(report["spectra"]) == {"randomized", "block_krylov"}
    assert all(len(spectra) == 9 for spectra in report["spectra"].values())
    row = report["sizes"]["32"]
    assert {"full_eigh_s", "low_rank_eigh_s", "block_krylov_s", "block_krylov_speedup", "block_krylov_abs_error",
            "randomized_s"} <= set(row)
    assert len(row["block_krylov_speedup"]["runs"]) == 2
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


def test_dib_information_benchmark_writes_shares_sweep_and_ablation_and_resumes(tmp_path, shared_data):
    output = run_benchmark(["dib_information", "--max-samples", "32", "--epochs", "1", "--seeds", "1111", "1112",
                            "--output", str(tmp_path / "d.json")])
    report = json.loads(output.read_text())
    shares = report["gradient_shares"]
    assert set(shares["initialisation_by_weight"]) == {"1e-05", "0.001", "0.01", "0.1", "1"}
    # shares grow with the weight, and at the derived weight the Rényi terms are a sliver of the gradient
    by_weight = [shares["initialisation_by_weight"][w] for w in ("1e-05", "0.001", "0.01", "0.1")]
    assert by_weight == sorted(by_weight) and by_weight[0] < 0.05
    assert {"task", "unimodal_text", "mi_text", "mi_fusion"} <= set(shares["1e-05"]["after_one_epoch"]["gradient_norm"])
    assert shares["1e-05"]["initialisation"]["term_values"]["mi_text"] > 0.1  # bits: the text term is not degenerate
    # the sweep runs in ascending order and stops at the first harmful weight
    swept = list(report["sweep"])
    assert swept == ["0.001", "0.01", "0.1", "1"][: len(swept)] and swept
    threshold, largest = report["sweep_rule"]["threshold_validation_MAE"], report["sweep_rule"]["largest_harmless_weight"]
    harmless = [w for w in swept if report["sweep"][w]["validation"]["MAE"] <= threshold]
    assert harmless == swept[: len(harmless)] and len(swept) - len(harmless) <= 1  # only the last may be harmful
    assert largest == (float(harmless[-1]) if harmless else 1e-5)
    assert {"lambda=0", "lambda=1e-05 fixed", "lambda=1e-05 knn", "lambda=1e-05 fixed, unimodal heads off"} \
        <= set(report["ablation"])
    for entry in report["ablation"].values():
        assert len(entry["runs"]) == 2 and entry["test"]["MAE"]["n"] == 2
    assert not (tmp_path / "d.partial.json").exists() and not Path("runs/bench_dib_information").exists()
    # --resume keeps the runs a partial file holds and does only the rest
    partial = {k: v for k, v in report.items() if k not in ("benchmark", "command", "date", "machine", "versions")}
    partial["ablation"]["lambda=0"]["runs"][0]["seconds"] = -1.0  # a marker a rerun would overwrite
    del partial["ablation"]["lambda=1e-05 fixed, unimodal heads off"]
    (tmp_path / "d.partial.json").write_text(json.dumps(partial))
    resumed = json.loads(run_benchmark(["dib_information", "--max-samples", "32", "--epochs", "1", "--seeds", "1111",
                                        "1112", "--resume", "--output", str(tmp_path / "d.json")]).read_text())
    assert resumed["ablation"]["lambda=0"]["runs"][0]["seconds"] == -1.0
    assert len(resumed["ablation"]["lambda=1e-05 fixed, unimodal heads off"]["runs"]) == 2
    assert resumed["resumed_with_threads"]


def test_lnln_recipe_benchmark_compares_the_official_and_default_recipes(tmp_path, shared_data):
    output = run_benchmark(["lnln_recipe", "--max-samples", "16", "--epochs", "1", "--seeds", "1111",
                            "--output", str(tmp_path / "l.json")])
    report = json.loads(output.read_text())
    official, default = report["recipes"]["official"], report["recipes"]["default"]
    assert official["settings"]["per_device_train_batch_size"] == 64 and official["settings"]["decay_all_parameters"]
    assert official["settings"]["lr_schedule"] == "warmup_cosine" and default["settings"]["lr_schedule"] == "linear"
    for entry in (official, default):
        assert {"MAE", "Corr"} <= set(entry["test"]) and {"MAE", "Non0_acc_2"} <= set(entry["test_at_0.5"])
        assert entry["runs"][0]["per_epoch_corrupted"][0]["epoch"] == 1.0
    assert "scaled" in report["scaling"]


def test_hub_transfer_benchmark_pushes_and_pulls_a_mosi_sized_checkpoint(tmp_path):
    output = run_benchmark(["hub_transfer", "--repeats", "1", "--output", str(tmp_path / "h.json")])
    report = json.loads(output.read_text())
    sizes = report["sizes"]
    assert sizes["pulled_bytes"] >= sizes["checkpoint_bytes"] > sizes["weights_bytes"] > 80e6  # MiniLM + fusion, fp32
    assert sizes["code_bytes"] > 0 and sizes["parameters"] > 20e6
    assert {"save_s", "push_first_s", "push_again_s", "pull_s", "load_from_cache_s"} <= set(report["seconds"])
    assert report["requests"]["push_first_requests"] > 0 and report["requests"]["pull_requests"] > 0


def test_attention_benchmark_compares_the_three_paths(tmp_path, monkeypatch):
    from benchmarks import attention

    monkeypatch.setattr(attention, "SHAPES", {"tiny": dict(batch=2, heads=2, queries=16, keys=16, dim=4, dropout=0.5)})
    output = run_benchmark(["attention", "--repeats", "2", "--output", str(tmp_path / "a.json")])
    row = json.loads(output.read_text())["shapes"]["tiny"]
    assert set(row["forward_backward_median_s"]) == {"sdpa_with_dropout", "hf_msa_blockwise_with_dropout",
                                                     "sdpa_without_dropout_floor"}
    assert row["speedup_vs_sdpa_with_dropout"] > 0 and row["blockwise_over_floor"] > 0


def test_lnln_official_benchmark_runs_both_on_the_same_weights(tmp_path):
    from benchmarks.lnln_official import DEFAULT_OFFICIAL

    if not (DEFAULT_OFFICIAL / "run_official.py").is_file():
        import pytest

        pytest.skip(f"the official LNLN harness is not at {DEFAULT_OFFICIAL} (it lives beside the repository)")
    output = run_benchmark(["lnln_official", "--batch", "2", "--repeats", "1", "--warmup", "0",
                            "--output", str(tmp_path / "l.json")])
    report = json.loads(output.read_text())
    same = report["objective_before_training_eval_mode"]
    assert abs(same["official"] - same["port"]) < 1e-4 * abs(same["official"])
    assert set(report["median_s"]) == {"train_official", "train_port", "infer_official", "infer_port"}
    assert report["port_speedup_train"] > 0 and report["port_speedup_infer"] > 0


def test_mmslf_prompts_benchmark_writes_throughput_lengths_and_examples(tmp_path, shared_data):
    from benchmarks import mmslf_prompts

    report = mmslf_prompts.run(limit=3, batch_size=3, max_new_tokens=8, work_dir=str(tmp_path / "prompts"))
    assert (report["written"], report["total"], report["remaining"]) == (3, 3, 1281 + 229 + 685 - 3)
    assert report["clips_per_second"] > 0
    assert report["lengths_words"]["count"] == 3 and report["lengths_tokens_smollm2"]["unit"] == "tokens"
    assert report["examples"] and all(e["split"] == "train" for e in report["examples"])  # only train clips so far
    assert report["settings"]["no_repeat_ngram_size"] == 4 and report["label_echoes"]["training_prompts"] == 3
    echoes = mmslf_prompts.label_echoes({"train": [{"id": "a", "label": 2.4}, {"id": "b", "label": -1.0}]},
                                        {"a": "Sentiment label (from -3 ...): +2.4", "b": "sad words"})
    assert echoes == {"training_prompts": 2, "with_label_line": 1, "with_label_value": 1}
