import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hf_msa.cli import main
from hf_msa.training import summarize_runs


def test_model_card_is_rendered_from_a_results_file(tmp_path):
    runs = [{"MAE": 0.80, "Corr": 0.70, "Non0_acc_2": 0.81}, {"MAE": 0.90, "Corr": 0.60, "Non0_acc_2": 0.79}]
    keys = ["Non0_acc_2", "Non0_F1_score", "Has0_acc_2", "Has0_F1_score", "Mult_acc_5", "Mult_acc_7", "MAE", "Corr"]
    runs = [{k: r.get(k, 0.5) for k in keys} for r in runs]
    summary = summarize_runs(runs)
    results = {  # the layout `python -m benchmarks accuracy` writes
        "benchmark": "accuracy", "command": "pytest", "encoder": "tiny", "epochs": 4, "seeds": [1, 2],
        "settings": {"num_train_epochs": 4, "per_device_train_batch_size": 32, "text_learning_rate": 5e-5},
        "machine": {"platform": "linux", "cpus": 2}, "versions": {"torch": "t", "transformers": "v"},
        "datasets": {"mosi": {"file": "x/mosi/label.csv", "sizes": {"train": 1, "validation": 2, "test": 3},
                              "models": {"dib": {"recipe": {"learning_rate": 1e-3}, "test": summary},
                                         "text_only": {"recipe": {"learning_rate": 5e-5}, "test": summary}}}},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    output = tmp_path / "card.md"
    main(["card", "--results", str(path), "--output", str(output)])
    card = ModelCard.load(output)
    evals = {e.metric_name: e.metric_value for e in card.data.eval_results}
    assert evals["MAE"] == 0.85 and evals["Corr"] == 0.65
    assert card.data.model_name == "dib-mosi" and "dib" in card.data.tags
    text = output.read_text()
    assert "| MAE | 0.8500 ± 0.0500 |" in text and "Seeds: 1, 2" in text and "Audio and vision are absent" in text
    assert "DIB's other parameters 0.001" in text
    with pytest.raises(KeyError, match="no 'lnln' under datasets.mosi.models"):
        main(["card", "--results", str(path), "--output", str(output), "--result-key", "datasets.mosi.models.lnln"])


def test_lnln_card_renders_the_robustness_section_from_a_report(tmp_path, processor):
    from hf_msa import LnlnForSentimentAnalysis
    from hf_msa.data import load_synthetic_mosi
    from hf_msa.robustness import RobustnessSettings, run_robustness

    from .test_modeling_lnln import small_config

    test = load_synthetic_mosi({"train": 4, "validation": 4, "test": 24}, seed=1).with_format("numpy")["test"]
    model = LnlnForSentimentAnalysis(small_config()).eval()
    report = run_robustness({"LNLN": (model, processor)}, test, "mosi",
                            RobustnessSettings(missing_rates=(0.0, 0.3), seeds=(1,), snr_db=(), modality_removal=False))
    report.update(command="pytest", training={"encoder": "tiny", "epochs": 1, "seed": 1, "learning_rates": {"LNLN": "1e-4"},
                                              "LNLN": "augmented", "selection": "validation", "runs": {}})
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    output = tmp_path / "lnln.md"
    template = Path(__file__).resolve().parents[1] / "model_cards" / "templates" / "lnln-mosi.md"
    main(["card", "--template", str(template), "--results", str(path), "--output", str(output),
          "--model-name", "lnln-mosi", "--method", "LNLN", "--repo-id", "hf-msa/lnln-mosi",
          "--result-key", "lnln", "--robustness-model", "LNLN"])
    card = ModelCard.load(output)
    assert {e.metric_name for e in card.data.eval_results} >= {"MAE", "Corr", "Non0_acc_2"}
    text = output.read_text()
    assert "| 0.3 |" in text and "**average**" in text and "| LNLN |" in text
