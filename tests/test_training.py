"""The stock Trainer on the embedded synthetic data, with tiny models (a few seconds per run on 2 cores)."""

import json

import numpy as np
import pytest
from transformers import Trainer, set_seed

from hf_msa import DibForSentimentAnalysis
from hf_msa.cli import predict
from hf_msa.data import load_synthetic_mosi
from hf_msa.metrics import msa_metrics
from hf_msa.training import TrainSettings, build_optimizer, build_trainer, run_seeds, train_and_evaluate

from .conftest import TINY_TEXT, tiny_dib_config

SIZES = {"train": 480, "validation": 120, "test": 120}


@pytest.fixture(scope="module")
def synthetic():
    return load_synthetic_mosi(SIZES, seed=3).with_format("numpy")


def trainable_config(**overrides):
    """The smallest DIB that learns the synthetic task in 10 epochs (about 20 s on 2 cores)."""
    values = dict(hidden_size=50, num_attention_heads=5, num_encoder_layers=2, vib_hidden_size=256,
                  text_config=dict(TINY_TEXT, hidden_size=32, intermediate_size=64))
    values.update(overrides)
    return tiny_dib_config(**values)


def settings(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path), num_train_epochs=10, learning_rate=3e-3, text_learning_rate=1e-3,
                  early_stopping_patience=None, disable_tqdm=True, logging_steps=5, seed=7)
    values.update(overrides)
    return TrainSettings(**values)


@pytest.fixture(scope="module")
def trained(synthetic, processor, tmp_path_factory):
    """One DIB trained on all modalities and one trained with audio and vision removed, same budget."""
    out = {}
    for name, data in (("full", synthetic), ("text_only", synthetic.remove_columns(["audio", "vision"]))):
        set_seed(7)
        model = DibForSentimentAnalysis(trainable_config())
        trainer, result = train_and_evaluate(model, processor, data, settings(tmp_path_factory.mktemp(name)))
        out[name] = (trainer, result)
    return out


def test_training_loss_falls_and_beats_a_constant_predictor(trained, synthetic):
    trainer, result = trained["full"]
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    train_labels, test_labels = np.asarray(synthetic["train"]["label"]), np.asarray(synthetic["test"]["label"])
    constant = np.full_like(test_labels, np.median(train_labels))  # the best constant under L1
    baseline = msa_metrics(constant, test_labels, "mosi")["MAE"]
    assert result.test["MAE"] < 0.75 * baseline
    assert result.test["Corr"] > 0.5


def test_all_modalities_beat_audio_and_vision_masked_out(trained):
    full, text_only = trained["full"][1].test, trained["text_only"][1].test
    assert full["MAE"] < text_only["MAE"] - 0.1
    assert full["Corr"] > text_only["Corr"] + 0.05


def test_the_same_model_gets_worse_when_audio_and_vision_are_fed_as_missing(trained, synthetic, processor):
    model = trained["full"][0].model
    labels = np.asarray(synthetic["test"]["label"])
    with_av = msa_metrics(predict(model, processor, synthetic["test"]), labels, "mosi")
    without = msa_metrics(predict(model, processor, synthetic["test"], drop_modalities=("audio", "vision")), labels, "mosi")
    assert with_av["MAE"] < without["MAE"]


def test_every_loss_term_is_logged(trained):
    trainer, _ = trained["full"]
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    expected = {"loss_task", "loss_unimodal_text", "loss_unimodal_audio", "loss_unimodal_vision", "loss_mi_text",
                "loss_mi_audio", "loss_mi_vision", "loss_mi_fusion"}
    assert logged and all(expected <= set(entry) for entry in logged)
    assert all(np.isfinite(entry[key]) for entry in logged for key in expected)


def test_best_epoch_by_validation_mae_is_reloaded(trained):
    trainer, result = trained["full"]
    history = [entry["eval_MAE"] for entry in trainer.state.log_history if "eval_MAE" in entry]
    assert trainer.state.best_metric == pytest.approx(min(history))
    assert result.validation["MAE"] == pytest.approx(min(history), abs=1e-4)


def test_text_encoder_gets_its_own_learning_rate():
    model = DibForSentimentAnalysis(tiny_dib_config())
    optimizer = build_optimizer(model, learning_rate=1e-3, text_learning_rate=1e-5, weight_decay=0.01)
    text_ids = {id(p) for p in model.get_text_encoder().parameters()}
    for group in optimizer.param_groups:
        is_text = {id(p) in text_ids for p in group["params"]}
        assert len(is_text) == 1
        assert group["lr"] == (1e-5 if is_text.pop() else 1e-3)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))


def test_gradient_accumulation_does_not_change_the_loss_scale(synthetic, processor, tmp_path):
    first_losses = {}
    for accumulation, batch_size in ((1, 32), (2, 16)):
        set_seed(0)
        model = DibForSentimentAnalysis(tiny_dib_config(attn_dropout=0.0, relu_dropout=0.0, res_dropout=0.0,
                                                        embed_dropout=0.0))
        run = settings(tmp_path / str(accumulation), num_train_epochs=1, learning_rate=0.0, text_learning_rate=0.0,
                       per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation,
                       logging_steps=1, extra_args={"max_steps": 2})
        trainer = build_trainer(model, processor, synthetic["train"], synthetic["validation"], run)
        trainer.train()
        first_losses[accumulation] = [e["loss"] for e in trainer.state.log_history if "loss" in e][0]
    ratio = first_losses[2] / first_losses[1]
    assert 0.8 < ratio < 1.25, first_losses  # 2.0 when the loss is not divided by the accumulation steps


def _largest_gradient_at_each_step(trainer):
    """max |grad| over all parameters as the optimizer sees it, at every step of `trainer.train()`."""
    seen = []
    trainer.create_optimizer()
    trainer.optimizer.register_step_pre_hook(lambda optimizer, args, kwargs: seen.append(max(
        float(p.grad.abs().max()) for group in optimizer.param_groups for p in group["params"] if p.grad is not None)))
    trainer.train()
    return seen


def test_clip_grad_value_bounds_every_gradient_the_optimizer_sees(synthetic, processor, tmp_path):
    """HME's official recipe clips by value (0.8) and not by norm: the callback runs before every optimizer step."""
    largest = {}
    for name, clip in (("unclipped", None), ("clipped", 1e-3)):
        set_seed(0)
        run = settings(tmp_path / name, clip_grad_value=clip, max_grad_norm=0.0, extra_args={"max_steps": 3})
        trainer = build_trainer(DibForSentimentAnalysis(tiny_dib_config()), processor, synthetic["train"],
                                synthetic["validation"], run)
        assert trainer.args.max_grad_norm == 0.0
        largest[name] = _largest_gradient_at_each_step(trainer)
    assert len(largest["clipped"]) == 3 and max(largest["clipped"]) <= 1e-3 + 1e-9
    assert min(largest["unclipped"]) > 1e-2, largest  # without it the gradients are far larger: the bound did work


def test_clipping_settings_are_checked():
    with pytest.raises(ValueError, match="clip_grad_value"):
        TrainSettings(clip_grad_value=0.0)
    with pytest.raises(ValueError, match="max_grad_norm"):
        TrainSettings(max_grad_norm=-1.0)


def test_stock_trainer_class_is_used(synthetic, processor, tmp_path):
    trainer = build_trainer(DibForSentimentAnalysis(tiny_dib_config()), processor, synthetic["train"],
                            synthetic["validation"], settings(tmp_path))
    assert type(trainer) is Trainer


def test_several_seeds_give_a_mean_and_std_report(synthetic, processor, tmp_path):
    small = synthetic.__class__({k: v.select(range(64)) for k, v in synthetic.items()})
    report = run_seeds(lambda: DibForSentimentAnalysis(tiny_dib_config()), processor, small,
                       settings(tmp_path, num_train_epochs=1), seeds=[1, 2])
    assert report["seeds"] == [1, 2] and len(report["runs"]) == 2
    assert report["test"]["MAE"]["n"] == 2 and report["test"]["MAE"]["std"] >= 0
    maes = [run["test"]["MAE"] for run in report["runs"]]
    assert report["test"]["MAE"]["mean"] == pytest.approx(np.mean(maes))
    assert json.loads((tmp_path / "seeds_report.json").read_text())["seeds"] == [1, 2]


def test_paper_selection_is_opt_in_flagged_and_reproducible(synthetic, processor, tmp_path):
    from transformers import AutoModel

    from hf_msa.data.corruption import random_missing
    from hf_msa.robustness import encode_split, predict_arrays

    small = synthetic.__class__({k: v.select(range(48)) for k, v in synthetic.items()})
    set_seed(0)
    run = settings(tmp_path, num_train_epochs=2, extra_callbacks=("paper_selection",))
    train_and_evaluate(DibForSentimentAnalysis(tiny_dib_config()), processor, small, run)
    report = json.loads((tmp_path / "paper_selection" / "paper_selection.json").read_text())
    assert "TEST split" in report["warning"] and report["selection"] == "test@0.5"
    assert set(report["best"]) >= {"MAE", "Non0_acc_2", "Has0_acc_2", "Mult_acc_7"}
    # as the reference reports them: F1 from its Acc-2 checkpoint, Corr from the MAE checkpoint, never selected alone
    assert not {"Corr", "Non0_F1_score", "Has0_F1_score"} & set(report["best"])
    paper = report["paper_metrics"]
    assert paper["Corr"] == {"value": report["best"]["MAE"]["metrics"]["Corr"], "checkpoint": "best_MAE"}
    assert paper["Non0_F1_score"]["checkpoint"] == "best_Non0_acc_2"
    assert paper["Non0_F1_score"]["value"] == report["best"]["Non0_acc_2"]["metrics"]["Non0_F1_score"]
    best = AutoModel.from_pretrained(tmp_path / "paper_selection" / "best_MAE")
    arrays, labels = encode_split(processor, small["test"])
    corrupted = random_missing(arrays, 0.5, 1111, processor.tokenizer.unk_token_id)
    mae = msa_metrics(predict_arrays(best, corrupted), labels, "mosi")["MAE"]
    assert mae == pytest.approx(report["best"]["MAE"]["value"], abs=1e-4)
    plain = settings(tmp_path / "plain", num_train_epochs=1)
    train_and_evaluate(DibForSentimentAnalysis(tiny_dib_config()), processor, small, plain)
    assert not (tmp_path / "plain" / "paper_selection").exists()  # never on by default
