import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_msa import DibForSentimentAnalysis, LnlnForSentimentAnalysis
from hf_msa.cli import predict
from hf_msa.data import RandomMissingCollator, load_synthetic_mosi
from hf_msa.data.collator import AUGMENT_COLUMN
from hf_msa.data.corruption import (apply_presence, gaussian_noise, keep_mask, lnln_training_rates,
                                    modality_missing_matrix, random_missing, remove_modalities)
from hf_msa.metrics import msa_metrics
from hf_msa.robustness import (RobustnessSettings, encode_split, predict_arrays, robustness_card_section,
                               run_robustness)

from .conftest import tiny_dib_config
from .test_modeling_lnln import small_config

UNK = 100


def text_batch(size=2000, length=60, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, length + 1, size=size)
    ids = np.zeros((size, length), dtype=np.int64)
    mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int64)
    ids[mask == 1] = rng.integers(1000, 2000, size=int(mask.sum()))
    ids[:, 0] = 101
    ids[np.arange(size), lengths - 1] = 102
    audio = rng.normal(size=(size, 40, 5)).astype(np.float32)
    audio_mask = (np.arange(40)[None] < rng.integers(1, 41, size=size)[:, None]).astype(np.int64)
    audio *= audio_mask[..., None]
    return {"input_ids": ids, "attention_mask": mask, "audio_features": audio, "audio_attention_mask": audio_mask}


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_realised_missing_fraction_matches_the_rate(rate):
    batch = text_batch()
    out = random_missing(batch, rate, seed=7, unk_token_id=UNK)
    inner = batch["attention_mask"].copy()
    inner[:, 0] = 0
    inner[np.arange(len(inner)), batch["attention_mask"].sum(1) - 1] = 0  # [CLS]/[SEP] never drop
    dropped = (out["input_ids"] == UNK) & (inner == 1)
    assert abs(dropped.sum() / inner.sum() - rate) < 0.01
    valid = batch["audio_attention_mask"] == 1
    zeroed = (np.abs(out["audio_features"]).sum(-1) == 0) & valid
    assert abs(zeroed.sum() / valid.sum() - rate) < 0.01


def test_same_seed_same_mask_and_special_tokens_and_padding_untouched():
    batch = text_batch(size=300)
    first, again = random_missing(batch, 0.6, 11, UNK), random_missing(batch, 0.6, 11, UNK)
    other = random_missing(batch, 0.6, 12, UNK)
    assert np.array_equal(first["input_ids"], again["input_ids"]) and not np.array_equal(first["input_ids"], other["input_ids"])
    lengths = batch["attention_mask"].sum(1)
    assert (first["input_ids"][:, 0] == 101).all() and (first["input_ids"][np.arange(300), lengths - 1] == 102).all()
    padding = batch["attention_mask"] == 0
    assert (first["input_ids"][padding] == 0).all()  # padding is never replaced
    assert np.array_equal(first["attention_mask"], batch["attention_mask"])  # masks unchanged, as in LNLN
    assert np.array_equal(first["audio_attention_mask"], batch["audio_attention_mask"])


def test_rate_zero_changes_nothing():
    batch = text_batch(size=200)
    out = random_missing(batch, 0.0, 3, UNK)
    for key in batch:
        assert np.array_equal(out[key], batch[key])


def test_reproduces_the_official_lnln_corruption_exactly():
    folder = Path(os.environ.get("HF_MSA_LNLN_FIXTURE", Path(__file__).resolve().parents[2] / "shared/golden/lnln"))
    if not (folder / "inputs.safetensors").is_file():
        pytest.skip(f"LNLN golden fixture not found in {folder}")
    from safetensors.numpy import load_file

    inputs = load_file(str(folder / "inputs.safetensors"))
    text = inputs["language"]
    batch = {"input_ids": text[:, 0].astype(np.int64), "attention_mask": text[:, 1].astype(np.int64)}
    for modality, frames in (("audio", 375), ("vision", 500)):
        batch[f"{modality}_features"] = inputs[modality]
        batch[f"{modality}_attention_mask"] = (np.arange(frames)[None] < inputs[f"{modality}_lengths"][:, None]).astype(np.int64)
    rates = {m: inputs[f"missing_rate_{k}"][:, 0].astype(np.float64) for m, k in (("text", "l"), ("audio", "a"), ("vision", "v"))}
    out = random_missing(batch, rates, seed=1111, unk_token_id=100)
    assert np.array_equal(out["input_ids"], inputs["language_m"][:, 0].astype(np.int64))
    assert np.array_equal(out["text_keep_mask"], inputs["text_missing_mask"])
    assert np.array_equal(out["audio_features"], inputs["audio_m"]) and np.array_equal(out["vision_features"], inputs["vision_m"])


def test_modality_removal_and_noise():
    batch = text_batch(size=100)
    removed = remove_modalities(batch, ("text", "audio"), UNK)
    inner = (batch["attention_mask"] == 1)
    lengths = batch["attention_mask"].sum(1)
    assert (removed["input_ids"][:, 0] == 101).all() and (removed["input_ids"][np.arange(100), lengths - 1] == 102).all()
    assert ((removed["input_ids"] == UNK) == (inner & (batch["input_ids"] >= 1000))).all()
    assert not removed["audio_attention_mask"].any() and not removed["audio_features"].any()
    with pytest.raises(ValueError, match="at least one modality must stay"):
        remove_modalities(batch, ("text", "audio", "vision"), UNK)
    noisy = gaussian_noise(batch, snr_db=10.0, seed=0, modalities=("audio",))
    valid = batch["audio_attention_mask"][..., None] == 1
    signal = (batch["audio_features"] ** 2)[np.broadcast_to(valid, batch["audio_features"].shape)].mean()
    noise = ((noisy["audio_features"] - batch["audio_features"]) ** 2)[np.broadcast_to(valid, batch["audio_features"].shape)].mean()
    assert abs(10 * np.log10(signal / noise) - 10.0) < 0.3
    assert (noisy["audio_features"][~np.broadcast_to(valid, batch["audio_features"].shape)] == 0).all()


def test_lnln_training_rates_zero_exactly_half():
    rates = lnln_training_rates(9, np.random.RandomState(0))
    for values in rates.values():
        assert (values == 0).sum() == 4 and (values >= 0).all() and (values <= 1).all()  # floor(9 / 2)
    with pytest.raises(ValueError, match="rates must be"):
        keep_mask(np.array([3, 4]), 5, np.array([0.2, 1.5]), np.random.RandomState(0))


def test_collator_corrupts_only_marked_training_rows_and_emits_complete_views(processor):
    rows = [{"text": "a really good film", "label": 1.0, "audio": np.ones((30, 5), np.float32),
             "vision": np.ones((30, 20), np.float32), AUGMENT_COLUMN: True} for _ in range(8)]
    collator = RandomMissingCollator(processor, emit_complete=True, seed=0)
    batch = collator(rows)
    assert {"complete_input_ids", "complete_audio_features", "complete_vision_features", "text_missing_rate"} <= set(batch)
    assert batch["audio_features"].shape[1] == processor.feature_extractor.max_audio_length  # MMSA fixed length
    assert (batch["text_missing_rate"] == 0).sum() == 4
    assert not torch.equal(batch["audio_features"], batch["complete_audio_features"])
    clean = collator([{k: v for k, v in row.items() if k != AUGMENT_COLUMN} for row in rows])
    assert "complete_input_ids" not in clean and torch.equal(clean["audio_features"][:, :30], torch.ones(8, 30, 5))


@pytest.fixture(scope="module")
def synthetic_test():
    return load_synthetic_mosi({"train": 8, "validation": 8, "test": 48}, seed=5).with_format("numpy")["test"]


def test_harness_runs_dib_and_lnln_end_to_end(tmp_path, processor, synthetic_test):
    torch.manual_seed(0)
    dib = DibForSentimentAnalysis(tiny_dib_config()).eval()
    lnln = LnlnForSentimentAnalysis(small_config()).eval()
    settings = RobustnessSettings(missing_rates=(0.0, 0.5), seeds=(1111, 1112), snr_db=(10.0,),
                                  modality_missing_rates=(0.0, 0.5))
    report = run_robustness({"dib": (dib, processor), "lnln": (lnln, processor)}, synthetic_test, "mosi", settings,
                            tmp_path)
    saved = json.loads((tmp_path / "robustness.json").read_text())
    assert saved["selection"] == "validation" and saved["selection_warning"] is None
    for name in ("dib", "lnln"):
        result = saved["models"][name]
        assert set(result["random_missing"]) == {"0.0", "0.5"} and set(result["noise"]) == {"10dB"}
        assert set(result["random_missing"]["0.5"]["per_seed"]) == {"1111", "1112"}
        assert set(result["modality_removal"]) == {"text", "audio", "vision", "text+audio", "text+vision", "audio+vision"}
        assert result["random_missing"]["0.0"]["mean"] == result["clean"]
        assert set(result["modality_missing"]) == {"0.0", "0.5"}
        assert result["modality_missing"]["0.0"]["mean"] == pytest.approx(result["clean"], nan_ok=True)
    for metric in ("Non0_acc_2", "MAE"):
        assert (tmp_path / f"robustness_{metric}.png").stat().st_size > 1000
        assert (tmp_path / f"robustness_modality_missing_{metric}.png").stat().st_size > 1000
    # rate 0 equals a plain evaluation of the same model
    labels = np.asarray(synthetic_test["label"])
    for name, model in (("dib", dib), ("lnln", lnln)):
        plain = msa_metrics(predict(model, processor, synthetic_test), labels, "mosi")
        for key, value in plain.items():
            assert report["models"][name]["random_missing"]["0.0"]["mean"][key] == pytest.approx(value, abs=1e-4, nan_ok=True)
    section = robustness_card_section(report, "dib")
    assert "| 0.5 |" in section and "**average**" in section and "text+vision" in section
    assert "Modality missing (GCNet/IMDer" in section


def test_paper_selection_is_flagged(tmp_path, processor, synthetic_test):
    dib = DibForSentimentAnalysis(tiny_dib_config()).eval()
    settings = RobustnessSettings(missing_rates=(0.0,), seeds=(1,), snr_db=(), modality_removal=False,
                                  selection="test@0.5")
    report = run_robustness({"dib": (dib, processor)}, synthetic_test, "mosi", settings, tmp_path)
    assert "NOT selected on the validation split" in report["selection_warning"]
    assert "NOT selected" in robustness_card_section(report, "dib")


def test_modality_missing_alone_runs_plots_and_renders(tmp_path, processor, synthetic_test):
    """HME's protocols without LNLN's random missing: no empty curve, no random-missing table, no crash."""
    dib = DibForSentimentAnalysis(tiny_dib_config()).eval()
    settings = RobustnessSettings(missing_rates=(), modality_missing_rates=(0.0, 0.7), seeds=(1,), snr_db=())
    report = run_robustness({"dib": (dib, processor)}, synthetic_test, "mosi", settings, tmp_path)
    result = report["models"]["dib"]
    assert result["random_missing"] == {} and "random_missing_overall" not in result
    assert set(result["modality_missing"]) == {"0.0", "0.7"}
    assert not list(tmp_path.glob("robustness_Non0*.png"))
    assert (tmp_path / "robustness_modality_missing_MAE.png").stat().st_size > 1000
    section = robustness_card_section(report, "dib")
    assert "Random missing" not in section and "| 0.7 |" in section and "text+audio" in section


def test_paper_averaging_over_models_trained_with_different_seeds_at_one_mask_seed(tmp_path, processor, synthetic_test):
    """LNLN's robust_evaluation.py: mask seed fixed at 1111, metric averaged over the seed-1111..1113 models."""
    group = []
    for seed in (1111, 1112, 1113):
        torch.manual_seed(seed)
        group.append(DibForSentimentAnalysis(tiny_dib_config()).eval())
    settings = RobustnessSettings(missing_rates=(0.0, 0.5), snr_db=(), averaging="model_seeds", mask_seed=1111)
    report = run_robustness({"dib": (group, processor)}, synthetic_test, "mosi", settings, tmp_path)
    result = report["models"]["dib"]
    assert len(result["random_missing"]["0.5"]["per_seed"]) == 3
    assert "3 models" in result["averaged_over"] and "mask seed 1111" in result["averaged_over"]
    # each member's number is that model alone at mask seed 1111; the mean is their mean
    single = RobustnessSettings(missing_rates=(0.5,), seeds=(1111,), snr_db=(), modality_removal=False)
    alone = [run_robustness({"m": (m, processor)}, synthetic_test, "mosi", single)["models"]["m"] for m in group]
    per_model = [a["random_missing"]["0.5"]["mean"]["MAE"] for a in alone]
    assert sorted(v["MAE"] for v in result["random_missing"]["0.5"]["per_seed"].values()) == pytest.approx(sorted(per_model))
    assert result["random_missing"]["0.5"]["mean"]["MAE"] == pytest.approx(np.mean(per_model))
    assert result["clean"]["MAE"] == pytest.approx(np.mean([a["clean"]["MAE"] for a in alone]))
    assert "mean over 3 models" in robustness_card_section(report, "dib")
    with pytest.raises(ValueError, match="model_seeds"):
        run_robustness({"dib": (group, processor)}, synthetic_test, "mosi", RobustnessSettings())


def test_encode_split_pads_to_the_processor_max_lengths(processor, synthetic_test):
    arrays, labels = encode_split(processor, synthetic_test)
    assert arrays["audio_features"].shape[1] == processor.feature_extractor.max_audio_length
    assert arrays["input_ids"].shape[1] == processor.max_text_length and len(labels) == 48


def test_modality_missing_matrix_reproduces_the_reference_and_keeps_one_modality():
    # HME's golden fixture: np.random.seed(4); generate_missing_matrix(6, 3, missing_rate=0.2) gave this matrix
    matrix = modality_missing_matrix(6, 0.2, np.random.RandomState(4))
    assert matrix.tolist() == [[0, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1]]
    for rate in (0.1, 0.3, 0.5):
        draw = modality_missing_matrix(20000, rate, np.random.RandomState(0))
        assert draw.sum(axis=1).min() >= 1
        assert 1 - draw.mean() == pytest.approx(rate, abs=0.01)
    assert (modality_missing_matrix(500, 0.7, np.random.RandomState(0)).sum(axis=1) == 1).all()  # exactly one
    assert (modality_missing_matrix(50, 0.0, np.random.RandomState(0)) == 1).all()
    with pytest.raises(ValueError, match="missing_rate"):
        modality_missing_matrix(5, 1.0, np.random.RandomState(0))


def test_apply_presence_removes_per_sample_and_writes_the_modality_mask():
    generator = np.random.RandomState(0)
    batch = {"input_ids": np.array([[101, 7, 8, 102, 0]] * 3), "attention_mask": np.array([[1, 1, 1, 1, 0]] * 3),
             "audio_features": generator.randn(3, 4, 2).astype(np.float32),
             "audio_attention_mask": np.ones((3, 4), dtype=np.int64),
             "vision_features": generator.randn(3, 4, 2).astype(np.float32),
             "vision_attention_mask": np.ones((3, 4), dtype=np.int64)}
    presence = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 1]])
    out = apply_presence(batch, presence, unk_token_id=100)
    assert out["input_ids"][0].tolist() == [101, 100, 100, 102, 0] and out["input_ids"][1:].tolist() == batch["input_ids"][1:].tolist()
    assert not out["audio_features"][1].any() and not out["audio_attention_mask"][1].any()
    np.testing.assert_array_equal(out["audio_features"][[0, 2]], batch["audio_features"][[0, 2]])
    np.testing.assert_array_equal(out["modality_mask"], presence)
    with pytest.raises(ValueError, match="at least one must stay"):
        apply_presence(batch, np.array([[0, 0, 0], [1, 1, 1], [1, 1, 1]]), 100)
    with pytest.raises(ValueError, match=r"\[3, 3\] array of 0/1"):
        apply_presence(batch, np.ones((2, 3)), 100)


def test_harness_hands_hme_its_modality_mask(processor, synthetic_test):
    """Removing text from HME zero-fills its BERT output (upstream's ps), not only the words: the harness passes
    `modality_mask` to models whose forward takes it."""
    from hf_msa import HmeConfig, HmeForSentimentAnalysis

    from .conftest import TINY_TEXT

    torch.manual_seed(0)
    config = HmeConfig.from_preset("mosi", text_config=dict(TINY_TEXT), hidden_size=16, num_attention_heads=2,
                                   num_encoder_layers=1, latent_depth=1, hyper_depth=1, num_latents=2,
                                   head_num_layers=1, head_intermediate_size=32, sample_at_eval=False,
                                   linear_init="pytorch", audio_max_length=60, vision_max_length=60,
                                   text_max_length=24)
    model = HmeForSentimentAnalysis(config).eval()
    arrays, _ = encode_split(processor, synthetic_test)
    removed = remove_modalities(arrays, ("text",), processor.tokenizer.unk_token_id)
    via_harness = predict_arrays(model, removed)
    with torch.no_grad():
        inputs = {k: torch.as_tensor(v) for k, v in removed.items() if k != "modality_mask"}
        without_mask = model(**inputs).logits.numpy()
        ps = torch.as_tensor(removed["modality_mask"])
        with_mask = model(**inputs, modality_mask=ps).logits.numpy()
    np.testing.assert_allclose(via_harness, with_mask, rtol=1e-4, atol=1e-5)
    assert np.abs(via_harness - without_mask).max() > 1e-4


def test_instance_missing_protocol_rates_patterns_and_single_modality():
    from hf_msa.data.corruption import instance_missing_presence

    batch = {"input_ids": np.zeros((6000, 4)), "audio_features": np.zeros((6000, 2, 1)),
             "vision_features": np.zeros((6000, 2, 1))}
    presence = instance_missing_presence(batch, 0.5, np.random.RandomState(0))
    incomplete = presence.sum(axis=1) < 3
    assert abs(incomplete.mean() - 0.5) < 0.03 and (presence.sum(axis=1) >= 1).all()
    patterns, counts = np.unique(presence[incomplete], axis=0, return_counts=True)
    assert len(patterns) == 6 and counts.min() > 0.8 * counts.mean()  # the six incomplete patterns, uniformly
    assert (instance_missing_presence(batch, 0.0, np.random.RandomState(0)) == 1).all()
    assert (instance_missing_presence(batch, 1.0, np.random.RandomState(0)).sum(axis=1) < 3).all()
    text_only = {"input_ids": np.zeros((5, 4))}
    assert (instance_missing_presence(text_only, 1.0, np.random.RandomState(0)) == 1).all()  # nothing can go
    with pytest.raises(ValueError, match="missing probability must be in"):
        instance_missing_presence(batch, 1.5, np.random.RandomState(0))
