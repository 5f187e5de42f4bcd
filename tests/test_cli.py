import json

import numpy as np
import pytest
import torch
from transformers import AutoModel

from hf_msa.cli import main


def test_demo_trains_saves_reloads_and_reports(tmp_path, capsys):
    main(["demo", "--text-encoder", "tiny", "--epochs", "1", "--output-dir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "(the same within 1e-05" in printed and "Non0_acc_2" in printed
    report = json.loads((tmp_path / "demo_metrics.json").read_text())
    assert report["reload_max_abs_difference"] <= 1e-5
    assert set(report["test"]) >= {"MAE", "Corr", "Has0_acc_2", "Non0_F1_score", "Mult_acc_7"}
    model = AutoModel.from_pretrained(tmp_path / "dib-synthetic")
    assert type(model).__name__ == "DibForSentimentAnalysis"


def test_train_then_evaluate_on_real_mosi_transcripts(shared_data, tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--data", str(shared_data / "mosi" / "label.csv"), "--text-encoder", "tiny", "--epochs", "1",
          "--max-samples", "40", "--seeds", "1", "2", "--output-dir", str(out), "--batch-size", "16",
          "--config-overrides", '{"hidden_size": 20, "num_attention_heads": 2, "num_encoder_layers": 1}'])
    report = json.loads((out / "seeds_report.json").read_text())
    assert report["seeds"] == [1, 2] and report["test"]["MAE"]["n"] == 2
    assert "test mean ± std" in capsys.readouterr().out
    main(["evaluate", "--model", str(out / "seed-1" / "best"), "--data", str(shared_data / "mosi" / "label.csv")])
    printed = capsys.readouterr().out
    assert "Non0_F1_score" in printed and "MAE" in printed


def test_saved_best_model_predicts_finite_scores(shared_data, tmp_path):
    out = tmp_path / "run"
    main(["train", "--data", "synthetic", "--text-encoder", "tiny", "--epochs", "1", "--max-samples", "40",
          "--output-dir", str(out), "--batch-size", "16"])
    model = AutoModel.from_pretrained(out / "seed-1111" / "best").eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[101, 2204, 102]])).logits
    assert logits.shape == (1,) and np.isfinite(logits.numpy()).all()


def test_example_script_fine_tunes_minilm_on_real_transcripts(shared_data, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "train.py"
    done = subprocess.run(
        [sys.executable, str(script), "--data", str(shared_data / "mosi" / "label.csv"), "--epochs", "1",
         "--max-samples", "48", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Non0_acc_2" in done.stdout and (tmp_path / "best" / "model.safetensors").is_file()


def test_example_script_trains_lnln_with_its_whole_objective(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "train.py"
    done = subprocess.run(
        [sys.executable, str(script), "--model", "lnln", "--epochs", "1", "--max-samples", "64", "--lr", "1e-4",
         "--logging-steps", "1", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    terms = done.stdout.split("loss terms (last log):")[1].splitlines()[0]
    for term in ("loss_completeness", "loss_adversarial", "loss_reconstruction", "loss_sentiment"):
        assert term in terms
    assert "partial objective" not in done.stderr


def test_data_export_writes_parquet_and_the_dataset_card(shared_data, tmp_path, capsys, monkeypatch):
    from pathlib import Path

    from datasets import load_dataset

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the default card is dataset_scripts/<name>/README.md
    out = tmp_path / "hub"
    main(["data", "export", "cmu_mosei", "--data-dir", str(shared_data / "mosei"), "--config", "transcripts",
          "--output", str(out), "--cache-dir", str(tmp_path / "cache")])
    assert "{'train': 16274, 'validation': 1861, 'test': 4653}" in capsys.readouterr().out
    readme = (out / "README.md").read_text()
    assert "# CMU-MOSEI" in readme and "config_name: transcripts" in readme
    assert "config_name: unaligned" not in readme  # only exported configs are listed
    back = load_dataset(str(out), "transcripts", cache_dir=str(tmp_path / "cache2"))
    assert {k: len(v) for k, v in back.items()} == {"train": 16274, "validation": 1861, "test": 4653}


def test_train_a_classifier_on_mvsa_single_text_with_vision_absent(shared_data, tmp_path, capsys):
    out = tmp_path / "mvsa"
    main(["train", "--data", "mvsa_single", "--data-dir", str(shared_data / "mvsa_single"), "--data-config", "text",
          "--preset", "mvsa", "--text-encoder", "tiny", "--epochs", "1", "--max-samples", "48", "--batch-size", "16",
          "--metric", "F1_score", "--output-dir", str(out),
          "--config-overrides", '{"hidden_size": 20, "num_attention_heads": 2, "num_encoder_layers": 1}'])
    report = json.loads((out / "seeds_report.json").read_text())
    assert set(report["test"]) >= {"Accuracy", "F1_score", "Macro_F1"}
    model = AutoModel.from_pretrained(out / "seed-1111" / "best")
    assert model.config.num_labels == 3 and model.config.id2label[0] == "positive"


def test_paper_selection_then_robustness_cli_flags_the_selection(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--data", "synthetic", "--text-encoder", "tiny", "--epochs", "1", "--max-samples", "32",
          "--output-dir", str(out), "--batch-size", "16", "--paper-selection",
          "--config-overrides", '{"hidden_size": 20, "num_attention_heads": 2, "num_encoder_layers": 1}'])
    assert "WARNING: --paper-selection" in capsys.readouterr().out
    best = out / "seed-1111" / "paper_selection" / "best_MAE"
    report_dir = tmp_path / "robustness"
    main(["robustness", "--model", str(best), "--model", str(out / "seed-1111" / "best"), "--data", "synthetic",
          "--max-samples", "24", "--rates", "0.0", "0.5", "--seeds", "1", "--snr", "10",
          "--selection", "test@0.5", "--output-dir", str(report_dir)])
    report = json.loads((report_dir / "robustness.json").read_text())
    assert "NOT selected on the validation split" in report["selection_warning"]
    assert set(report["models"]) == {"best_MAE", "best"} and (report_dir / "robustness_MAE.png").is_file()


def test_official_recipe_from_the_cli_then_a_seed_group_robustness_run(tmp_path, capsys):
    out = tmp_path / "run"
    small = '{"hidden_size": 16, "num_tokens": 2, "num_attention_heads": 2, "attention_head_dim": 8, "mlp_dim": 16, ' \
            '"embedding_depth": 1, "proxy_depth": 1, "completeness_depth": 1, "reconstructor_depth": 1, ' \
            '"language_encoder_depth": 1, "fusion_depth": 1, "audio_max_length": 60, "vision_max_length": 60}'
    main(["train", "--model", "lnln", "--recipe", "official", "--data", "synthetic", "--text-encoder", "tiny",
          "--epochs", "1", "--max-samples", "16", "--seeds", "1111", "1112", "--output-dir", str(out),
          "--config-overrides", small])
    printed = capsys.readouterr().out
    assert "recipe: official (epochs 1, batch 64, lr 0.0001, text lr 0.0001, schedule warmup_cosine" in printed
    report = json.loads((out / "seeds_report.json").read_text())
    assert len(report["runs"]) == 2
    report_dir = tmp_path / "robustness"
    main(["robustness", "--model-group", str(out / "seed-1111" / "best"), str(out / "seed-1112" / "best"),
          "--group-name", "LNLN", "--data", "synthetic", "--max-samples", "16", "--rates", "0.0", "0.5",
          "--snr", "10", "--output-dir", str(report_dir)])
    result = json.loads((report_dir / "robustness.json").read_text())["models"]["LNLN"]
    assert result["averaged_over"] == "2 models (seed-1111/best, seed-1112/best) at mask seed 1111"
    assert "mean over 2 models" in capsys.readouterr().out
    with pytest.raises(SystemExit) as raised:
        main(["train", "--model", "lnln", "--recipe", "paper", "--data", "synthetic", "--text-encoder", "tiny",
              "--max-samples", "8", "--output-dir", str(tmp_path / "x")])
    assert raised.value.code == 2 and "no recipe 'paper'" in capsys.readouterr().err
