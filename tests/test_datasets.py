"""load_msa_dataset on the real files in ../shared/data and on MMSA-layout pickles written by the tests."""

import logging
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Array2D, ClassLabel, load_dataset

from hf_msa import DibForSentimentAnalysis
from hf_msa.data import (
    MSADataCollator,
    UnsafePickleError,
    dataset_sizes,
    export_dataset,
    load_msa_dataset,
    read_mmsa_pickle,
    synthetic_mmsa_pickle,
    write_mmsa_pickle,
)
from hf_msa.data.synthetic import MMSA_LAYOUTS

from .conftest import tiny_dib_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")


# ---- real files ---------------------------------------------------------------------------------------------------

def test_mosi_sdk_labels_and_transcripts_agree(shared_data, cache):
    sdk = load_msa_dataset("cmu_mosi", shared_data / "mosi", "sdk_labels", cache_dir=cache)
    rows = [row for split in sdk.values() for row in split]
    assert len(rows) == 2199 and len({r["video_id"] for r in rows}) == 93
    assert min(r["label"] for r in rows) == -3.0 and max(r["label"] for r in rows) == 3.0
    # the label.csv beside the .csd assigns whole videos to folds: this is MMSA's 1,284 / 229 / 686 split
    assert dataset_sizes(sdk) == {"train": 1284, "validation": 229, "test": 686}
    transcripts = load_msa_dataset("mosi", shared_data / "mosi", "transcripts", cache_dir=cache)
    assert dataset_sizes(transcripts) == {"train": 1281, "validation": 229, "test": 685}
    sdk_labels = {r["id"]: r["label"] for r in rows}
    for split in transcripts.values():
        for row in split:
            assert abs(row["label"] - sdk_labels[row["id"]]) < 1e-6, row["id"]


def test_mosei_transcripts_keep_every_row_and_text_clip_ids(shared_data, cache):
    data = load_msa_dataset("cmu_mosei", shared_data / "mosei", "transcripts", cache_dir=cache)
    assert dataset_sizes(data) == {"train": 16274, "validation": 1861, "test": 4653}
    clip_ids = list(data["train"]["clip_id"])
    assert all(isinstance(c, str) for c in clip_ids)
    assert data["train"].features["clip_id"].dtype == "string"
    assert data["train"][0]["id"] == "-3g5yACwYnA_82_7645"


def test_ch_sims_v2_labels_with_unimodal_labels(shared_data, cache):
    data = load_msa_dataset("ch_sims", shared_data / "ch-sims-v2", "v2_labels", cache_dir=cache)
    assert dataset_sizes(data) == {"train": 2722, "validation": 647, "test": 1034}
    assert data["train"][0]["clip_id"] == "0001"  # zero-padded ids stay text
    for column in ("label", "label_T", "label_A", "label_V"):
        values = np.concatenate([np.asarray(split[column]) for split in data.values()])
        assert values.min() >= -1 and values.max() <= 1, column
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['text'\]"):
        load_msa_dataset("ch_sims", shared_data / "ch-sims-v2", "v1_transcripts", cache_dir=cache)


def test_mvsa_single_clmlf_split_and_label_map(shared_data, cache):
    data = load_msa_dataset("mvsa_single", shared_data / "mvsa_single", "text", cache_dir=cache)
    assert dataset_sizes(data) == {"train": 3611, "validation": 450, "test": 450}
    label = data["train"].features["label"]
    assert isinstance(label, ClassLabel) and label.names == ["positive", "neutral", "negative"]
    with pytest.raises(FileNotFoundError, match="labelResultAll.txt not found"):
        load_msa_dataset("mvsa_single", shared_data / "mosi", "text_image", cache_dir=cache)


def test_dataset_builder_in_dataset_scripts(shared_data, tmp_path):
    sys.path.insert(0, str(ROOT))
    from dataset_scripts.cmu_mosi.cmu_mosi import CmuMosi

    builder = CmuMosi(config_name="transcripts", data_dir=str(shared_data / "mosi"), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    data = builder.as_dataset()
    assert {k: len(v) for k, v in data.items()} == {"train": 1281, "validation": 229, "test": 685}
    with pytest.raises(ValueError, match="needs data_dir"):
        CmuMosi(config_name="transcripts", cache_dir=str(tmp_path / "other"))


# ---- MMSA pickles written in the exact layout -------------------------------------------------------------------

# CH-SIMS is distributed unaligned only (unaligned_39.pkl)
@pytest.mark.parametrize("dataset, aligned", [("mosi", False), ("mosi", True), ("mosei", False), ("mosei", True),
                                             ("sims", False)])
def test_fixture_pickles_load_with_the_right_shapes_lengths_and_masks(tmp_path, cache, dataset, aligned, processor):
    content = synthetic_mmsa_pickle(dataset, aligned=aligned, seed=5)
    name = {"mosi": "cmu_mosi", "mosei": "cmu_mosei", "sims": "ch_sims"}[dataset]
    config = ("v1_" if dataset == "sims" else "") + ("aligned" if aligned else "unaligned")
    file = {"sims": "unaligned_39.pkl"}.get(dataset, f"{'aligned' if aligned else 'unaligned'}_50.pkl")
    write_mmsa_pickle(tmp_path / "Processed" / file, content)
    data = load_msa_dataset(name, tmp_path, config, cache_dir=cache)
    text_length, (audio_frames, audio_dim), (vision_frames, vision_dim) = MMSA_LAYOUTS[dataset]
    assert dataset_sizes(data) == {"train": 6, "validation": 3, "test": 4}
    assert data["train"].features["audio"] == Array2D(shape=(None, audio_dim), dtype="float32")
    train = data["train"].with_format("numpy")
    source = content["train"]
    for i in range(6):
        row = train[i]
        length = source["audio_lengths"][i] if not aligned else text_length
        assert row["audio"].shape == (length, audio_dim) and row["audio_length"] == length
        np.testing.assert_array_equal(row["audio"], source["audio"][i, :length])
        vision_length = source["vision_lengths"][i] if not aligned else text_length
        assert row["vision"].shape == (vision_length, vision_dim)
        np.testing.assert_array_equal(row["input_ids"], source["text_bert"][i, 0].astype(np.int32))
        video, clip = source["id"][i].split("$_$")
        assert (row["video_id"], row["clip_id"], row["id"]) == (video, clip, f"{video}_{clip}")
        if dataset == "sims":
            assert row["label_T"] == pytest.approx(source["regression_labels_T"][i])
    # the processor turns lengths into masks: valid frames first, then padding
    extractor = processor.feature_extractor.__class__(audio_dim=audio_dim, vision_dim=vision_dim,
                                                       max_audio_length=audio_frames, max_vision_length=vision_frames)
    batch = extractor(audio=[train[i]["audio"] for i in range(6)], vision=[train[i]["vision"] for i in range(6)])
    np.testing.assert_array_equal(batch["audio_attention_mask"].sum(1), np.asarray(train["audio_length"]))
    assert batch["audio_attention_mask"][np.arange(6), 0].all()


def test_non_finite_values_are_sanitised_and_counted(tmp_path, cache, caplog):
    write_mmsa_pickle(tmp_path / "unaligned_50.pkl", synthetic_mmsa_pickle("mosei", non_finite=True))
    splits = read_mmsa_pickle(tmp_path / "unaligned_50.pkl")
    assert splits["train"].non_finite == {"audio": 2}
    from transformers.utils import logging as hf_logging

    hf_logging.enable_propagation()
    with caplog.at_level(logging.WARNING):
        data = load_msa_dataset("mosei", tmp_path, "unaligned", cache_dir=cache)
    assert "2 non-finite audio values replaced by 0" in caplog.text
    assert all(np.isfinite(np.asarray(row)).all() for row in data["train"].with_format("numpy")["audio"])


def test_collated_pickle_rows_feed_a_model(tmp_path, cache, processor):
    write_mmsa_pickle(tmp_path / "unaligned_50.pkl", synthetic_mmsa_pickle("mosi", seed=2))
    data = load_msa_dataset("mosi", tmp_path, "unaligned", cache_dir=cache).with_format("numpy")
    batch = MSADataCollator(processor)([data["train"][i] for i in range(6)])
    out = DibForSentimentAnalysis(tiny_dib_config(audio_max_length=375, vision_max_length=500))(**batch)
    assert torch.isfinite(out.loss) and out.logits.shape == (6,)


class Exploit:
    def __reduce__(self):
        return (print, ("this would have run",))


def test_a_pickle_carrying_a_foreign_object_is_refused(tmp_path, capsys):
    content = synthetic_mmsa_pickle("mosi")
    content["train"]["extra"] = Exploit()
    path = tmp_path / "unaligned_50.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(UnsafePickleError, match=r"unaligned_50.pkl: refused to load builtins.print.*admits only"):
        read_mmsa_pickle(path)
    assert "this would have run" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["train"].__setitem__("audio", c["train"]["audio"][:5]), r"split 'train': 'audio' has 5 rows but 'id' has 6"),
        (lambda c: c.__setitem__("holdout", c.pop("test")), r"unknown split 'holdout'"),
        (lambda c: c["valid"].pop("vision"), r"split 'valid' has no 'vision' array"),
    ],
)
def test_bad_pickles_name_the_file_and_the_field(tmp_path, mutate, message):
    content = synthetic_mmsa_pickle("mosi")
    mutate(content)
    write_mmsa_pickle(tmp_path / "bad.pkl", content)
    with pytest.raises(ValueError, match=message):
        read_mmsa_pickle(tmp_path / "bad.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="junk.pkl: not a readable pickle"):
        read_mmsa_pickle(tmp_path / "junk.pkl")


def test_loader_errors_name_what_is_missing(tmp_path, cache):
    with pytest.raises(FileNotFoundError, match=r"cmu_mosi/unaligned: none of \['Processed/unaligned_50.pkl'"):
        load_msa_dataset("cmu_mosi", tmp_path, "unaligned", cache_dir=cache)
    with pytest.raises(ValueError, match=r"cmu_mosi has no config 'raw'; choose one of"):
        load_msa_dataset("cmu_mosi", tmp_path, "raw", cache_dir=cache)
    with pytest.raises(ValueError, match="unknown dataset 'iemocap'"):
        load_msa_dataset("iemocap", tmp_path)
    with pytest.raises(FileNotFoundError, match="data_dir not found"):
        load_msa_dataset("cmu_mosi", tmp_path / "nowhere")


def test_parquet_export_keeps_every_row_and_value(tmp_path, cache):
    write_mmsa_pickle(tmp_path / "raw" / "unaligned_39.pkl", synthetic_mmsa_pickle("sims", seed=9))
    data = load_msa_dataset("ch_sims", tmp_path / "raw", "v1_unaligned", cache_dir=cache)
    out = export_dataset(data, "ch_sims", "v1_unaligned", tmp_path / "hub")
    assert (out / "v1_unaligned" / "train-00000-of-00001.parquet").is_file() and (out / "README.md").is_file()
    back = load_dataset(str(out), "v1_unaligned", cache_dir=str(tmp_path / "cache2"))
    assert dataset_sizes(back) == dataset_sizes(data)
    for split in data:
        assert back[split].features == data[split].features
        original, loaded = data[split].with_format("numpy"), back[split].with_format("numpy")
        for i in range(len(original)):
            for column in data[split].column_names:
                np.testing.assert_array_equal(np.asarray(loaded[i][column]), np.asarray(original[i][column]))


def test_cached_dataset_is_rebuilt_when_the_file_changes(tmp_path, cache):
    path = tmp_path / "label.csv"
    path.write_text("id,text,label,mode\nv_1,good,1.0,train\n")
    assert load_msa_dataset("mosi", tmp_path, "transcripts", cache_dir=cache)["train"][0]["label"] == 1.0
    path.write_text("id,text,label,mode\nv_1,good,-2.0,train\nv_2,bad,0.5,test\n")
    again = load_msa_dataset("mosi", tmp_path, "transcripts", cache_dir=cache)
    assert again["train"][0]["label"] == -2.0 and len(again["test"]) == 1
    assert "validation" not in again  # a split with no rows is left out, with a warning


def test_every_catalog_config_is_listed_in_its_dataset_card():
    from huggingface_hub import DatasetCard

    from hf_msa.data import DATASETS

    for name, spec in DATASETS.items():
        card = DatasetCard.load(ROOT / "dataset_scripts" / name / "README.md")
        assert {c["config_name"] for c in card.data.configs} == set(spec.configs), name


def test_sims_v2_pickle_config_reads_the_dims_from_the_file(tmp_path, cache):
    content = synthetic_mmsa_pickle("sims", seed=4)
    write_mmsa_pickle(tmp_path / "ch-simsv2s.pkl", content)
    data = load_msa_dataset("ch_sims", tmp_path, "v2_unaligned", cache_dir=cache)
    assert data["train"].features["vision"].shape == (None, 709) and "label_A" in data["train"].column_names
