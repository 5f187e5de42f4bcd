"""`hf-msa generalize`: leave-one-dataset-out splits, explicit label mapping between the MOSI and SIMS scales,
zero-padded feature dims, and selection that never reads the unseen target's labels."""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict

from hf_msa import MidgConfig, MidgForSentimentAnalysis
from hf_msa.data import load_synthetic_domains
from hf_msa.generalization import (GeneralizationSettings, combine_sources, dataset_family, map_labels,
                                   plan_splits, prepare, run_generalization)
from hf_msa.training import TrainSettings

from .conftest import TINY_TEXT, processor_for


def test_label_mapping_round_trips_and_families_are_named():
    labels = np.array([-3.0, -1.2, 0.0, 0.4, 3.0])
    sims = map_labels(labels, "mosi", "sims")
    np.testing.assert_allclose(sims, labels / 3)
    np.testing.assert_allclose(map_labels(sims, "sims", "mosi"), labels)
    np.testing.assert_allclose(map_labels(labels, "mosi", "mosi"), labels)
    assert (dataset_family("ch_sims_v2"), dataset_family("mosei")) == ("sims", "mosi")
    with pytest.raises(ValueError, match="label family must be one of"):
        map_labels(labels, "mosi", "iemocap")


def test_splits_leave_one_out_and_pairs():
    names = [s.name for s in plan_splits(["mosi", "mosei", "sims"], pairs=True)]
    assert names[:3] == ["mosei+sims->mosi", "mosi+sims->mosei", "mosi+mosei->sims"]
    assert len(names) == 9 and "sims->mosi" in names
    assert [s.name for s in plan_splits(["a", "b"], pairs=True)] == ["b->a", "a->b"]
    with pytest.raises(ValueError, match="at least two datasets"):
        plan_splits(["mosi"])


def test_prepare_pads_frames_scales_labels_and_tags_the_domain():
    split = Dataset.from_dict({"id": [1, 2], "text": ["a", "b"], "label": [1.5, -3.0],
                               "audio": [np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)],
                               "extra": [0, 0]})
    out = prepare(split, {"audio": 5, "vision": 0}, domain_id=1, label_scale=1 / 3)
    assert sorted(out.column_names) == ["audio", "domain_id", "id", "label", "text"] and out["id"] == ["1", "2"]
    frames = np.asarray(out[1]["audio"])
    assert frames.shape == (4, 5) and (frames[:, 3:] == 0).all() and (frames[:, :3] == 1).all()
    np.testing.assert_allclose(out["label"], [0.5, -1.0], rtol=1e-6)
    assert out["domain_id"] == [1, 1]
    text_only = DatasetDict({k: split.remove_columns(["audio"]) for k, split in {"train": split,
                                                                                  "validation": split}.items()})
    with_audio = DatasetDict({"train": split, "validation": split})
    with pytest.raises(ValueError, match="the sources carry different columns"):
        combine_sources({"a": with_audio, "b": text_only}, ("a", "b"), "mosi", {"audio": 3, "vision": 0})


def tiny_build(family, dims, num_domains):
    config = MidgConfig.from_preset(family, text_config=dict(TINY_TEXT), hidden_size=16, num_experts=2,
                                    expert_hidden_size=16, adapter_size=8, adapter_heads=2, num_domains=num_domains,
                                    text_max_length=16, audio_max_length=64, vision_max_length=64,
                                    **{f"{m}_dim": d for m, d in dims.items() if d})
    torch.manual_seed(0)
    return MidgForSentimentAnalysis(config), processor_for(config)


def test_selection_never_reads_the_unseen_targets_labels(tmp_path):
    """The same run with the target's train and validation labels set to NaN and its test labels shuffled selects
    the same checkpoint and scores the sources the same; only the target's final scores, read last, change."""
    domains = load_synthetic_domains(3, {"train": 48, "validation": 16, "test": 24}, seed=4)
    target = domains["domain2"]
    shuffled = np.random.RandomState(0).permutation(np.asarray(target["test"]["label"]))
    poisoned = dict(domains, domain2=DatasetDict({
        "train": target["train"].map(lambda row: {"label": float("nan")}),
        "validation": target["validation"].map(lambda row: {"label": float("nan")}),
        "test": target["test"].map(lambda row, i: {"label": float(shuffled[i])}, with_indices=True)}))
    settings = TrainSettings(output_dir=str(tmp_path / "runs"), num_train_epochs=2, learning_rate=3e-3,
                             early_stopping_patience=None, disable_tqdm=True, seed=0, per_device_train_batch_size=16)
    plan = GeneralizationSettings(targets=("domain2",))
    clean = run_generalization(tiny_build, domains, settings, plan, tmp_path / "clean")
    blind = run_generalization(tiny_build, poisoned, settings, plan, tmp_path / "blind")
    assert list(clean["splits"]) == ["domain0+domain1->domain2"]
    a, b = clean["splits"]["domain0+domain1->domain2"], blind["splits"]["domain0+domain1->domain2"]
    assert a["validation"] == pytest.approx(b["validation"], rel=1e-6)
    for name in ("domain0", "domain1"):
        assert a["source_test"][name] == pytest.approx(b["source_test"][name], rel=1e-6)
    assert a["target_test"]["MAE"] != pytest.approx(b["target_test"]["MAE"], rel=1e-6)
    saved = json.loads((tmp_path / "clean" / "generalization.json").read_text())
    assert saved["label_mapping"].startswith("each run trains on") and "zero-padded" in saved["features"]
    assert (tmp_path / "clean" / "generalization_MAE.png").stat().st_size > 1000


def test_a_sims_target_is_scored_on_its_own_scale(tmp_path):
    domains = load_synthetic_domains(2, {"train": 32, "validation": 16, "test": 16}, seed=5)
    sims = DatasetDict({name: split.map(lambda row: {"label": row["label"] / 3})
                        for name, split in domains["domain1"].items()})
    settings = TrainSettings(output_dir=str(tmp_path / "runs"), num_train_epochs=1, learning_rate=3e-3,
                             early_stopping_patience=None, disable_tqdm=True, seed=0, per_device_train_batch_size=16)
    report = run_generalization(tiny_build, {"mosi": domains["domain0"], "sims": sims}, settings,
                                GeneralizationSettings(targets=("sims",)))
    entry = report["splits"]["mosi->sims"]
    assert (entry["training_family"], entry["target_family"]) == ("mosi", "sims")
    assert "Mult_acc_3" in entry["target_test"] and "Mult_acc_7" in entry["source_test"]["mosi"]
    assert entry["language_warning"] == "an English-only text encoder read Chinese (SIMS) transcripts"
    with pytest.raises(ValueError, match="not among the datasets"):
        run_generalization(tiny_build, {"mosi": domains["domain0"], "sims": sims}, settings,
                           GeneralizationSettings(targets=("mosei",)))


def test_the_command_runs_leave_one_out_on_synthetic_domains(tmp_path, capsys):
    from hf_msa.cli import main

    main(["generalize", "--model", "midg", "--data", "a=synthetic-0", "--data", "b=synthetic-1", "--text-encoder",
          "tiny", "--epochs", "1", "--targets", "b", "--output-dir", str(tmp_path), "--config-overrides",
          json.dumps({"hidden_size": 16, "num_experts": 2, "expert_hidden_size": 16, "adapter_size": 8,
                      "adapter_heads": 2})])
    report = json.loads((tmp_path / "generalization.json").read_text())
    assert list(report["splits"]) == ["a->b"] and report["model"] == "midg"
    assert "| a->b |" in capsys.readouterr().out
