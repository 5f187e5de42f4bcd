import numpy as np
import pytest
import torch

from hf_msa import DibForSentimentAnalysis
from hf_msa.data import MSADataCollator, load_synthetic_mosi, read_label_csv
from hf_msa.training import TrainSettings, train_and_evaluate

from .conftest import tiny_dib_config


def test_synthetic_data_has_the_mosi_schema_and_spreads_sentiment_over_modalities():
    data = load_synthetic_mosi({"train": 300, "validation": 10, "test": 10}, seed=1).with_format("numpy")
    train = data["train"]
    assert set(data) == {"train", "validation", "test"}
    assert train[0]["audio"].shape[1] == 5 and train[0]["vision"].shape[1] == 20
    labels = np.asarray(train["label"])
    assert labels.min() >= -3 and labels.max() <= 3
    parts = {m: np.asarray(train[f"{m}_part"]) for m in ("text", "audio", "vision")}
    np.testing.assert_allclose(labels, np.clip(np.round(sum(parts.values()), 1), -3, 3), atol=1e-5)
    # no single modality explains the label: each part's correlation with it is well below 1
    for values in parts.values():
        assert 0.3 < np.corrcoef(values, labels)[0, 1] < 0.85
    again = load_synthetic_mosi({"train": 300, "validation": 10, "test": 10}, seed=1)
    assert again["train"]["text"] == list(train["text"])  # reproducible from the seed


def test_collator_builds_model_inputs_and_treats_absent_columns_as_missing(processor):
    rows = [{"text": "a good film", "label": 1.5, "audio": np.ones((4, 5), np.float32)},
            {"text": "bad", "label": -2.0, "audio": np.ones((2, 5), np.float32)}]
    batch = MSADataCollator(processor)(rows)
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [1.5, -2.0]
    assert batch["audio_attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert not batch["vision_attention_mask"].any()
    classes = MSADataCollator(processor, problem_type="single_label_classification")(
        [{"text": "x", "label": 2}, {"text": "y", "label": 0}])
    assert classes["labels"].dtype == torch.long


def test_mosi_label_csv_has_the_standard_split(shared_data):
    data = read_label_csv(shared_data / "mosi" / "label.csv")
    assert {k: len(v) for k, v in data.items()} == {"train": 1281, "validation": 229, "test": 685}
    assert data["train"][0]["id"] == "03bSnISJMiM_1" and data["train"][0]["text"] == "anyhow it was really good"
    labels = np.concatenate([np.asarray(split["label"]) for split in data.values()])
    assert labels.min() >= -3 and labels.max() <= 3


def test_label_csv_errors_name_the_file_and_the_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="label.csv not found"):
        read_label_csv(tmp_path / "label.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text,mode\na_1,hello,train\n")
    with pytest.raises(ValueError, match=r"bad.csv: missing required column\(s\) \['label'\]"):
        read_label_csv(bad)
    bad.write_text("id,text,label,mode\na_1,hello,0.5,holdout\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: mode must be one of"):
        read_label_csv(bad)
    bad.write_text("video_id,clip_id,text,label,mode\nvid,0001,hello,zero,valid\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: label must be a number"):
        read_label_csv(bad)
    good = tmp_path / "good.csv"
    good.write_text("video_id,clip_id,text,label,mode\nvid,0001,hello,0.5,valid\n")
    assert read_label_csv(good)["validation"][0]["id"] == "vid_0001"  # clip ids stay text


def test_trainer_on_real_mosi_transcripts_with_audio_and_vision_absent(shared_data, processor, tmp_path):
    data = read_label_csv(shared_data / "mosi" / "label.csv")
    data = data.__class__({k: v.select(range(48)) for k, v in data.items()})
    model = DibForSentimentAnalysis(tiny_dib_config())
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=1, disable_tqdm=True,
                             early_stopping_patience=None, per_device_train_batch_size=16, logging_steps=1)
    trainer, result = train_and_evaluate(model, processor, data, settings)
    assert np.isfinite(result.test["MAE"]) and set(result.test) >= {"Non0_acc_2", "Has0_F1_score", "Mult_acc_7"}
    logged = [e for e in trainer.state.log_history if "loss" in e]
    assert logged and "loss_unimodal_audio" not in logged[0] and "loss_task" in logged[0]
