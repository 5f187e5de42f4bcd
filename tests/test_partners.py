"""DashFusion's partner retrieval: the released behaviour reproduces the official lists and draws; the method as
described draws partners with the stated label relations; the refresh runs at the epochs it should."""

import random

import numpy as np
import pytest
import torch
from transformers import set_seed

from hf_msa import DashFusionConfig, DashFusionForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor
from hf_msa.data import load_synthetic_mosi
from hf_msa.data.collator import training_collator
from hf_msa.data.partners import PARTNER_COLUMN, PartnerCollator, PartnerIndex, PartnerRefreshCallback
from hf_msa.training import TrainSettings, build_trainer, train_and_evaluate

from .conftest import TINY_TEXT, load_golden_fixture

TINY = dict(hidden_size=16, num_attention_heads=2, num_encoder_layers=1, encoder_intermediate_size=32,
            alignment_heads=2, alignment_head_dim=8, fusion_depth=2, bottleneck_tokens=4, fusion_heads=2,
            fusion_intermediate_size=32, head_hidden_sizes=[16, 8], audio_max_length=64, vision_max_length=64)


@pytest.fixture(scope="module")
def golden():
    return load_golden_fixture("dashfusion")


def fixture_index(golden, compat):
    inputs, ref = golden["inputs"], golden["intermediates"]
    index = PartnerIndex(inputs["trainset.regression_labels"].numpy(), compat_retrieval_bug=compat)
    index.update(torch.cat([ref["retrieval.T"], ref["retrieval.V"], ref["retrieval.A"]], dim=1))
    return index


def test_released_behaviour_reproduces_the_official_lists_and_draws(golden):
    index = fixture_index(golden, compat=True)
    n = len(index)
    for anchor in golden["meta"]["contrastive_partners"]["this_fixture"]["per_anchor"]:
        row = anchor["anchor_row"]
        assert index.lists["ss"][row] == anchor["M_retrieve_ss"]
        assert index.lists["sd"][row] == anchor["M_retrieve_sd"]
        assert index.lists["dd"][row] == [n + j for j in anchor["M_retrieve_dd"]]  # -k selects row N - k
    anchors = golden["inputs"]["sample1.index"].tolist()
    drawn = index.draw(anchors, random.Random(0))  # upstream: random.seed(0); sample() with random.sample
    assert drawn == golden["inputs"]["sample2.index"].tolist()


def test_the_method_as_described_keeps_the_label_relations(golden):
    index = fixture_index(golden, compat=False)
    labels = np.round(golden["inputs"]["trainset.regression_labels"].numpy())
    anchors = list(range(len(index)))
    drawn = np.asarray(index.draw(anchors, random.Random(1))).reshape(len(anchors), 6)
    for row, partners in zip(anchors, drawn):
        assert row not in partners
        assert all(labels[p] == labels[row] for p in partners[:2]), (row, partners)       # ss
        assert all(labels[p] != labels[row] for p in partners[2:]), (row, partners)       # dd, sd
    # dd are the least similar, sd the most similar among the different-label rows
    views = torch.cat([golden["intermediates"][f"retrieval.{v}"] for v in "TVA"], dim=1)
    unit = torch.nn.functional.normalize(views.double(), dim=1)
    similarity = (unit @ unit.T).numpy()
    for row in anchors:
        assert max(similarity[row, index.lists["dd"][row]]) <= min(similarity[row, index.lists["sd"][row]])


def test_chunked_top_k_lists_equal_a_full_ranking_row_by_row():
    """The default lists (masked top-10 per chunk) against a plain full sort of each row, label by label."""
    generator = torch.Generator().manual_seed(3)
    labels = (torch.rand(300, generator=generator) * 6 - 3).numpy()
    views = torch.randn(300, 24, generator=generator)
    index = PartnerIndex(labels, chunk_rows=64)  # several chunks, the last one short
    index.update(views)
    rounded = np.round(labels)
    unit = torch.nn.functional.normalize(views.double(), dim=1)
    for row in range(300):
        similarity = (unit[row] @ unit.T).numpy()
        order = [j for j in np.argsort(-similarity, kind="stable").tolist() if j != row]
        same = [j for j in order if rounded[j] == rounded[row]]
        other = [j for j in order if rounded[j] != rounded[row]]
        for name, expected in (("ss", same[:10]), ("sd", other[:10]), ("dd", other[::-1][:10])):
            got = index.lists[name][row]
            assert len(got) == len(expected) and not set(got) & {row}, (name, row)
            assert all((rounded[j] == rounded[row]) == (name == "ss") for j in got), (name, row)
            # the same ranks: float32 top-k and a float64 sort may only swap near-ties (kernels differ by ulps)
            np.testing.assert_allclose(similarity[got], similarity[expected], rtol=0, atol=1e-5, err_msg=name)


def test_a_label_with_too_few_rows_still_gives_six_partners():
    index = PartnerIndex([0.1, 2.9, 3.0, -3.0])  # rounded labels 0, 3, 3, -3: row 0 has no same-label row
    index.update(torch.randn(4, 6, generator=torch.Generator().manual_seed(0)))
    drawn = index.draw([0, 1], random.Random(0))
    assert len(drawn) == 12 and drawn[:2] == [0, 0] and drawn[6:8] == [2, 2]
    with pytest.raises(ValueError, match="views has 3 rows"):
        index.update(torch.randn(3, 6))
    with pytest.raises(RuntimeError, match="update has not run"):
        PartnerIndex([0.0, 1.0]).draw([0], random.Random(0))


@pytest.fixture(scope="module")
def setup(tokenizer):
    data = load_synthetic_mosi({"train": 96, "validation": 32, "test": 32}, seed=4).with_format("numpy")
    config = DashFusionConfig.from_preset("mosi", text_config=dict(TINY_TEXT), **TINY)
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer, max_text_length=24)
    return data, config, processor


def test_training_rows_get_six_partners_each_and_evaluation_rows_none(setup):
    data, config, processor = setup
    torch.manual_seed(0)
    model = DashFusionForSentimentAnalysis(config)
    collator, train = training_collator(model, processor, data["train"], seed=3)
    assert isinstance(collator, PartnerCollator) and PARTNER_COLUMN in train.column_names
    PartnerRefreshCallback(collator).on_epoch_begin(None, type("S", (), {"epoch": 0.0})(), None, model=model)
    rows = [train[i] for i in range(4)]
    batch = collator(rows)
    assert batch["partner_input_ids"].shape[0] == 24 and batch["partner_audio_features"].shape[0] == 24
    out = model(**batch)
    assert set(out.loss_terms) == {"task", "contrastive"}
    evaluation = collator([data["validation"][i] for i in range(4)])
    assert not any(key.startswith("partner_") for key in evaluation)
    # the rows drawn are the index's: same label for the first two of each anchor (rounded)
    labels = np.round(np.asarray(data["train"]["label"]))
    drawn = collator.index.draw([0, 1, 2, 3], random.Random(5))
    for anchor, partners in zip(range(4), np.reshape(drawn, (4, 6))):
        assert all(labels[p] == labels[anchor] for p in partners[:2])
        assert all(labels[p] != labels[anchor] for p in partners[2:])


def test_the_trainer_refreshes_at_epochs_0_2_and_beats_a_constant(setup, tmp_path):
    data, config, processor = setup
    set_seed(0)
    model = DashFusionForSentimentAnalysis(DashFusionConfig.from_preset(
        "mosi", text_config=dict(TINY_TEXT), **{**TINY, "hidden_size": 32, "encoder_dropout": 0.1}))
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=5, learning_rate=3e-3, text_learning_rate=1e-3,
                             per_device_train_batch_size=16, early_stopping_patience=None, disable_tqdm=True,
                             logging_steps=2, seed=0)
    trainer, result = train_and_evaluate(model, processor, data, settings)
    refresh = next(c for c in trainer.callback_handler.callbacks if isinstance(c, PartnerRefreshCallback))
    assert refresh.refreshed_at == [0, 2, 4] and refresh.collator.index.updates == 3
    assert any("loss_contrastive" in entry for entry in trainer.state.log_history), "partners never reached the model"
    labels = {split: np.asarray(data[split]["label"]) for split in ("train", "test")}
    constant = float(np.abs(labels["test"] - labels["train"].mean()).mean())
    assert result.test["MAE"] < constant, (result.test, constant)


def test_random_missing_is_not_combined_with_partners(setup, tmp_path):
    data, config, processor = setup
    model = DashFusionForSentimentAnalysis(config)
    with pytest.raises(ValueError, match="contrastive partners"):
        build_trainer(model, processor, data["train"], data["validation"],
                      TrainSettings(output_dir=str(tmp_path), random_missing_training=True))
