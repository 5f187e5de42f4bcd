import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hf_msa.cli import main
from hf_msa.training import summarize_runs


KEYS = ["Non0_acc_2", "Non0_F1_score", "Has0_acc_2", "Has0_F1_score", "Mult_acc_5", "Mult_acc_7", "MAE", "Corr"]


def summary_of(*maes):
    return summarize_runs([{k: (mae if k == "MAE" else 0.5) for k in KEYS} for mae in maes])


def shares(mi):
    row = {"task": 0.7, "unimodal_text": 0.6, "mi_text": mi, "mi_fusion": 1e-9}
    return {"share_of_total_gradient_norm": row, "mi_share_of_total": mi,
            "term_values": {"task": 1.0, "unimodal_text": 1.0, "mi_text": 3.0, "mi_fusion": 1e-5}}


def dib_information_results(derived_maes=(0.80, 0.90)):
    """The layout `python -m benchmarks dib_information` writes (two seeds, a harmless weight of 0.01)."""
    ablation = {}
    for tag, overrides, maes in [("lambda=0", {"lrib_weight": 0.0}, (0.80, 0.90)),
                                 ("lambda=1e-05 fixed", {"lrib_weight": 1e-5}, derived_maes),
                                 ("lambda=1e-05 knn", {"lrib_weight": 1e-5, "lrib_input_bandwidth": "knn"}, (0.8, 0.9)),
                                 ("lambda=0.01 fixed", {"lrib_weight": 0.01}, (0.70, 0.72)),
                                 ("lambda=1e-05 fixed, unimodal heads off",
                                  {"lrib_weight": 1e-5, "unimodal_loss_weight": 0.0}, (0.9, 1.0))]:
        ablation[tag] = {"overrides": overrides, "runs": [], "test": summary_of(*maes), "validation": summary_of(*maes)}
    return {
        "benchmark": "dib_information", "command": "pytest", "data": "x/mosi/label.csv",
        "sizes": {"train": 1281, "validation": 229, "test": 685}, "encoder": "tiny", "epochs": 4, "seeds": [1, 2],
        "recipe": {"learning_rate": 1e-3, "text_learning_rate": 5e-5, "per_device_train_batch_size": 32},
        "machine": {"platform": "linux", "cpus": 2}, "versions": {"torch": "t", "transformers": "v"},
        "gradient_shares": {"weight_where_terms_matter": 0.01,
                            "1e-05": {"initialisation": shares(1e-3), "after_one_epoch": shares(2e-3)},
                            "0.01": {"initialisation": shares(0.5), "after_one_epoch": shares(0.4)}},
        "sweep": {"0.001": {"validation": {"MAE": 0.84}}, "0.01": {"validation": {"MAE": 0.85}},
                  "0.1": {"validation": {"MAE": 1.2}}},
        "sweep_rule": {"threshold_validation_MAE": 0.9, "largest_harmless_weight": 0.01},
        "ablation": ablation,
    }


def test_dib_card_is_rendered_from_the_information_benchmark(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(dib_information_results()))
    output = tmp_path / "card.md"
    main(["card", "--results", str(path), "--output", str(output)])  # the defaults: the DIB card, the default model
    card = ModelCard.load(output)
    evals = {e.metric_name: e.metric_value for e in card.data.eval_results}  # lambda = 1e-5, heads off
    assert evals["MAE"] == pytest.approx(0.95) and card.data.model_name == "dib-mosi" and "dib" in card.data.tags
    text = output.read_text()
    first = text.split("```python")[0]
    assert "do nothing measurable" in first and "0.1% of the" in first and "λ ≈ 0.01 (50% of" in first
    assert "| lambda=0.01 fixed | 0.01 | fixed | 2 | 0.7100 |" in text and "largest harmless weight:\n**0.01**" in text
    assert "1,284 / 229 / 686" in text and "Audio and vision are absent" in text and "Seeds: 1, 2" in text
    for source in ("[DERIVED]", "[MIB]", "[PAPER]", "[OURS]"):
        assert source in text
    # a measurable effect is not called "nothing"
    path.write_text(json.dumps(dib_information_results(derived_maes=(0.60, 0.61))))
    main(["card", "--results", str(path), "--output", str(output)])
    assert "do nothing measurable" not in output.read_text()
    with pytest.raises(KeyError, match="no 'lambda=9' under ablation"):
        main(["card", "--results", str(path), "--output", str(output), "--result-key", "ablation.lambda=9"])


def test_lnln_card_renders_the_robustness_section_from_a_report(tmp_path, processor, capsys):
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
    assert "Training recipes, measured" not in text  # no recipe file given
    # with the recipe comparison beside it
    recipe = {"command": "pytest", "sizes": {"train": 1, "validation": 2, "test": 3}, "encoder": "tiny", "epochs": 4,
              "seeds": [1, 2], "scaling": "scaled", "recipes": {}}
    for name, settings in {"default": dict(learning_rate=1e-4, text_learning_rate=5e-5, weight_decay=0.0,
                                           decay_all_parameters=False, per_device_train_batch_size=32,
                                           lr_schedule="linear"),
                           "official": dict(learning_rate=1e-4, text_learning_rate=None, weight_decay=1e-4,
                                            decay_all_parameters=True, per_device_train_batch_size=64,
                                            lr_schedule="warmup_cosine", warmup_fraction=0.1,
                                            schedule_unit="step")}.items():
        recipe["recipes"][name] = {"settings": settings, "test": summary_of(0.8, 0.9),
                                   "test_at_0.5": summary_of(1.0, 1.2)}
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    main(["card", "--template", str(template), "--results", str(path), "--output", str(output),
          "--model-name", "lnln-mosi", "--method", "LNLN", "--repo-id", "hf-msa/lnln-mosi",
          "--result-key", "lnln", "--robustness-model", "LNLN", "--extra-results", f"recipes={tmp_path / 'recipe.json'}"])
    text = output.read_text()
    assert "## Training recipes, measured" in text
    assert "| official | AdamW 0.0001 on all, wd 0.0001 on all | 64 | warmup_cosine (0.1 warm-up, per step) |" in text
    assert "| 0.8500 ± 0.0500 |" in text and "1.1000 ± 0.1000" in text
    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:
        main(["card", "--results", str(path), "--output", str(output), "--extra-results", "recipes"])
    assert raised.value.code == 2 and "NAME=PATH" in capsys.readouterr().err
