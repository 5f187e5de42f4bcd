import numpy as np
import pytest
import torch
from transformers import set_seed

from hf_msa import LnlnConfig, LnlnForSentimentAnalysis
from hf_msa.data import load_synthetic_mosi
from hf_msa.metrics import msa_metrics
from hf_msa.training import TrainSettings, train_and_evaluate

from .conftest import TINY_TEXT, random_batch


def small_config(**overrides):
    values = dict(text_config=dict(TINY_TEXT), hidden_size=32, num_tokens=4, num_attention_heads=4,
                  attention_head_dim=8, mlp_dim=32, embedding_depth=1, proxy_depth=1, completeness_depth=1,
                  reconstructor_depth=1, language_encoder_depth=1, fusion_depth=1,
                  audio_max_length=60, vision_max_length=60, text_max_length=24)
    values.update(overrides)
    return LnlnConfig.from_preset("mosi", **values)


def training_batch(config, seed=0):
    batch = random_batch(config, batch_size=6, text_length=12, audio_length=20, vision_length=20, seed=seed)
    batch["complete_input_ids"] = batch["input_ids"].clone()
    batch["input_ids"][:, 3] = 100  # a corrupted copy
    batch["complete_audio_features"] = batch["audio_features"].clone()
    batch["audio_features"][:, :5] = 0
    batch["complete_vision_features"] = batch["vision_features"].clone()
    batch["text_missing_rate"] = torch.full((6,), 0.1)
    return batch


def test_every_loss_term_is_finite_and_weighted_as_the_reference():
    torch.manual_seed(0)
    model = LnlnForSentimentAnalysis(small_config())
    out = model(**training_batch(model.config))
    assert set(out.loss_terms) == {"completeness", "sentiment", "adversarial", "reconstruction"}
    assert all(torch.isfinite(v) for v in out.loss_terms.values())
    c = model.config
    expected = (c.completeness_weight * out.loss_terms["completeness"] + c.adversarial_weight * out.loss_terms["adversarial"]
                + c.reconstruction_weight * out.loss_terms["reconstruction"] + c.sentiment_weight * out.loss_terms["sentiment"])
    torch.testing.assert_close(out.loss, expected)
    assert out.discriminator_logits.shape == (2 * 6 * 4, 2) and out.reconstructed_tokens.shape == (6, 12, 32)


def test_gradient_reversal_flips_the_sign_of_the_adversarys_gradient():
    torch.manual_seed(0)
    reversed_model = LnlnForSentimentAnalysis(small_config())
    plain_model = LnlnForSentimentAnalysis(small_config(gradient_reversal_scale=-1.0))  # scale -1: no reversal
    plain_model.load_state_dict(reversed_model.state_dict())
    batch = training_batch(reversed_model.config)
    grads = []
    for model in (reversed_model, plain_model):
        model.eval()
        model(**batch).loss_terms["adversarial"].backward()
        grads.append((model.lnln.proxy_tokens.grad.clone(), model.discriminator.fc1.weight.grad.clone()))
    (proxy_reversed, disc_reversed), (proxy_plain, disc_plain) = grads
    assert proxy_plain.abs().sum() > 0
    torch.testing.assert_close(proxy_reversed, -proxy_plain)  # upstream of the GRL: flipped
    torch.testing.assert_close(disc_reversed, disc_plain)  # the discriminator itself: unchanged


def test_complete_inputs_come_together_and_rates_are_checked():
    model = LnlnForSentimentAnalysis(small_config())
    batch = training_batch(model.config)
    batch.pop("complete_vision_features")
    with pytest.raises(ValueError, match="give all of complete_input_ids"):
        model(**batch)
    batch = training_batch(model.config)
    batch["text_missing_rate"] = torch.full((6,), 1.5)
    with pytest.raises(ValueError, match=r"text_missing_rate must be \[batch\] values in \[0, 1\]"):
        model(**batch)


def test_attend_to_padding_switch():
    torch.manual_seed(0)
    faithful = LnlnForSentimentAnalysis(small_config()).eval()
    masked = LnlnForSentimentAnalysis(small_config(attend_to_padding=False)).eval()
    masked.load_state_dict(faithful.state_dict())
    batch = random_batch(faithful.config, batch_size=3, audio_length=20, vision_length=20, labels=False)
    longer = {k: v.clone() for k, v in batch.items()}
    for modality in ("audio", "vision"):  # ten more zero-padded frames
        longer[f"{modality}_features"] = torch.cat([batch[f"{modality}_features"], torch.zeros(3, 10, batch[f"{modality}_features"].shape[2])], 1)
        longer[f"{modality}_attention_mask"] = torch.cat([batch[f"{modality}_attention_mask"], torch.zeros(3, 10, dtype=torch.long)], 1)
    with torch.no_grad():
        assert not torch.allclose(faithful(**batch).logits, faithful(**longer).logits)  # the reference sees padding
        torch.testing.assert_close(masked(**batch).logits, masked(**longer).logits, atol=1e-5, rtol=1e-4)


def test_default_training_path_trains_the_whole_objective_and_beats_a_constant_predictor(processor, tmp_path):
    """No corruption flag: LNLN's own protocol (random missing + uncorrupted views) is what the helpers train."""
    data = load_synthetic_mosi({"train": 480, "validation": 120, "test": 120}, seed=3).with_format("numpy")
    set_seed(0)
    model = LnlnForSentimentAnalysis(small_config(text_config=dict(TINY_TEXT, hidden_size=32, intermediate_size=64)))
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=8, learning_rate=1e-3, text_learning_rate=1e-3,
                             early_stopping_patience=None, disable_tqdm=True, logging_steps=5, seed=0)
    trainer, result = train_and_evaluate(model, processor, data, settings)
    labels = np.asarray(data["test"]["label"])
    baseline = msa_metrics(np.full_like(labels, np.median(np.asarray(data["train"]["label"]))), labels, "mosi")["MAE"]
    assert result.test["MAE"] < 0.9 * baseline and result.test["Corr"] > 0.3
    logged = [e for e in trainer.state.log_history if "loss" in e]
    assert all({"loss_completeness", "loss_adversarial", "loss_reconstruction", "loss_sentiment"} <= set(e) for e in logged)


def test_fresh_linear_layers_have_pytorchs_default_scale():
    """The reference leaves nn.Linear's kaiming-uniform init: |w| <= 1/sqrt(fan_in), std = 1/sqrt(3 fan_in)."""
    torch.manual_seed(0)
    model = LnlnForSentimentAnalysis(small_config(hidden_size=64, mlp_dim=256))
    text_encoder = {id(m) for m in model.get_text_encoder().modules()}
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and id(m) not in text_encoder]
    assert len(linears) > 30
    for name, layer in linears:
        bound = 1 / np.sqrt(layer.in_features)
        assert layer.weight.abs().max().item() <= bound + 1e-7, name
        if layer.weight.numel() >= 4096:  # enough draws for the std to be tight
            assert layer.weight.std().item() == pytest.approx(bound / np.sqrt(3), rel=0.05), name
        if layer.bias is not None:
            assert layer.bias.abs().max().item() <= bound + 1e-7 and layer.bias.abs().sum() > 0, name
    # the reference's own initialisations stay
    assert torch.equal(model.lnln.proxy_tokens, torch.ones_like(model.lnln.proxy_tokens))
    assert model.lnln.text_embedding.position_embeddings.std().item() == pytest.approx(1.0, rel=0.15)
    # transformers' N(0, 0.02) is a named switch
    normal = LnlnForSentimentAnalysis(small_config(hidden_size=64, mlp_dim=256, linear_init="normal"))
    assert normal.lnln.fusion.layers[0].feed_forward.fc1.weight.std().item() == pytest.approx(0.02, rel=0.1)
    with pytest.raises(ValueError, match="linear_init"):
        small_config(linear_init="xavier")


def test_a_training_forward_without_uncorrupted_inputs_warns_that_the_objective_is_partial(caplog):
    from transformers.utils import logging as hf_logging

    hf_logging.get_logger("hf_msa.models.lnln.modeling_lnln").warning_once.cache_clear()
    torch.manual_seed(0)
    model = LnlnForSentimentAnalysis(small_config())
    batch = random_batch(model.config, batch_size=4, audio_length=20, vision_length=20)
    with caplog.at_level("WARNING"):
        model.eval()(**batch)  # evaluation: no warning
        assert "partial objective" not in caplog.text
        out = model.train()(**batch)
        model(**batch)
    assert caplog.text.count("partial objective") == 1
    assert set(out.loss_terms) == {"completeness", "sentiment"}


def test_training_collator_applies_the_models_own_corruption(processor):
    from hf_msa import DibForSentimentAnalysis
    from hf_msa.data import MSADataCollator, RandomMissingCollator, training_collator
    from hf_msa.data.collator import AUGMENT_COLUMN

    from .conftest import tiny_dib_config

    data = load_synthetic_mosi({"train": 8, "validation": 4, "test": 4}, seed=0).with_format("numpy")
    lnln = LnlnForSentimentAnalysis(small_config())
    collator, train = training_collator(lnln, processor, data["train"])
    assert isinstance(collator, RandomMissingCollator) and collator.emit_complete and AUGMENT_COLUMN in train.column_names
    batch = collator([train[i] for i in range(4)])
    assert {"complete_input_ids", "text_missing_rate"} <= set(batch)
    off, plain = training_collator(lnln, processor, data["train"], random_missing=False)
    assert type(off) is MSADataCollator and AUGMENT_COLUMN not in plain.column_names
    dib_collator, _ = training_collator(DibForSentimentAnalysis(tiny_dib_config()), processor, data["train"])
    assert type(dib_collator) is MSADataCollator


def test_official_recipe_warms_up_from_zero_then_follows_a_cosine_stepped_per_epoch(processor, tmp_path):
    from transformers import TrainerCallback

    from hf_msa.training import build_trainer, recipe_settings, schedule_factor

    # the reference at full length: 200 epochs, GradualWarmup over 20 (from 0), CosineAnnealingLR(T_max=180)
    factor = lambda epoch: schedule_factor(epoch * 7, steps_per_epoch=7, total_epochs=200, warmup_fraction=0.1)  # noqa: E731
    assert [factor(e) for e in (0, 1, 10, 20)] == pytest.approx([0.0, 0.05, 0.5, 1.0], abs=1e-12)
    assert factor(110) == pytest.approx(0.5, abs=1e-12)  # halfway through the cosine
    assert factor(199) == pytest.approx(0.5 * (1 + np.cos(np.pi * 179 / 180)), abs=1e-12)
    assert schedule_factor(13, 7, 200, 0.1) == schedule_factor(7, 7, 200, 0.1)  # constant within an epoch

    settings = recipe_settings(LnlnForSentimentAnalysis, "official", output_dir=str(tmp_path), num_train_epochs=10,
                               per_device_train_batch_size=4, disable_tqdm=True, corrupted_evaluation_rate=None)
    assert (settings.learning_rate, settings.text_learning_rate, settings.weight_decay) == (1e-4, None, 1e-4)
    assert settings.decay_all_parameters and settings.early_stopping_patience is None
    data = load_synthetic_mosi({"train": 8, "validation": 4, "test": 4}, seed=0).with_format("numpy")
    model = LnlnForSentimentAnalysis(small_config())
    trainer = build_trainer(model, processor, data["train"], data["validation"], settings)
    seen = []

    class RecordRate(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            seen.append((state.epoch, [group["lr"] for group in trainer.optimizer.param_groups]))

    trainer.add_callback(RecordRate())
    trainer.train()
    assert len(seen) == 20  # 10 epochs x 2 steps
    warmup, cosine = 1.0, 9.0  # 10% of 10 epochs, then T_max = 90%
    for step, (_, rates) in enumerate(seen):
        epoch = step // 2
        expected = 1e-4 * (epoch / warmup if epoch < warmup else 0.5 * (1 + np.cos(np.pi * (epoch - warmup) / cosine)))
        assert rates == pytest.approx([expected] * len(rates), abs=1e-12), step
    groups = trainer.optimizer.param_groups
    assert all(group["weight_decay"] == 1e-4 for group in groups)  # every parameter, biases and norms included
    assert len({group["lr"] for group in groups}) == 1  # BERT at the same rate as the rest


def test_official_recipe_scores_validation_and_test_corrupted_every_epoch(processor, tmp_path):
    from hf_msa.training import recipe_settings

    data = load_synthetic_mosi({"train": 8, "validation": 6, "test": 6}, seed=0).with_format("numpy")
    settings = recipe_settings(LnlnForSentimentAnalysis, "official", output_dir=str(tmp_path), num_train_epochs=2,
                               per_device_train_batch_size=4, disable_tqdm=True)
    trainer, _ = train_and_evaluate(LnlnForSentimentAnalysis(small_config()), processor, data, settings)
    corrupted = [e for e in trainer.state.log_history if "corrupted0.5_test_MAE" in e]
    assert [e["epoch"] for e in corrupted] == [1.0, 2.0]
    assert all("corrupted0.5_validation_Non0_acc_2" in e for e in corrupted)
    with pytest.raises(ValueError, match="no recipe 'paper'"):
        recipe_settings(LnlnForSentimentAnalysis, "paper")


def test_converter_infers_the_dataset_and_refuses_a_contradicting_preset():
    from hf_msa.models.lnln.convert_lnln_original_to_hf import resolve_preset

    def weights(audio, vision):
        return {"proj_a.0.weight": torch.zeros(128, audio), "proj_v.0.weight": torch.zeros(128, vision)}

    assert resolve_preset(weights(5, 20), None) == "mosi"
    assert resolve_preset(weights(74, 35), None) == "mosei"
    assert resolve_preset(weights(33, 709), None) == "sims"
    assert resolve_preset(weights(33, 709), "sims") == "sims"
    with pytest.raises(ValueError, match="disagrees .* sims"):
        resolve_preset(weights(33, 709), "mosi")
    with pytest.raises(ValueError, match="pass --preset"):
        resolve_preset(weights(64, 128), None)
    assert resolve_preset(weights(64, 128), "mosei") == "mosei"  # other features: the flag decides


def test_untouched_samples_reuse_their_corrupted_tokens_with_the_same_loss_and_gradients(monkeypatch):
    """The complete view of a sample random missing left alone is not embedded twice; nothing else changes."""
    torch.manual_seed(0)
    model = LnlnForSentimentAnalysis(small_config()).train()
    batch = random_batch(model.config, batch_size=6, audio_length=20, vision_length=16)
    complete = {f"complete_{m}_features": batch[f"{m}_features"].clone() for m in ("audio", "vision")}
    for modality, corrupted_rows in (("audio", [0, 3]), ("vision", [1, 2, 5])):
        batch[f"{modality}_features"][corrupted_rows, :5] = 0.0  # a few samples lose their first frames
    inputs = dict(batch, complete_input_ids=batch["input_ids"].clone(), **complete,
                  text_missing_rate=torch.zeros(6))

    def loss_and_grads():
        model.zero_grad()
        torch.manual_seed(1)  # the text encoder's own dropout draws the same masks in both runs
        out = model(**inputs)
        out.loss.backward()
        return out.loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    calls = []
    original = model.lnln.embed_sequence
    monkeypatch.setattr(model.lnln, "embed_sequence", lambda m, f, mask: calls.append(len(f)) or original(m, f, mask))
    shared_loss, shared_grads = loss_and_grads()
    assert calls == [6, 6, 3, 2]  # corrupted vision, audio (6 each); complete: only the changed samples
    monkeypatch.setattr(model, "_complete_tokens",
                        lambda modality, complete, corrupted, mask, tokens: original(modality, complete, mask))
    full_loss, full_grads = loss_and_grads()
    torch.testing.assert_close(shared_loss, full_loss, atol=1e-6, rtol=1e-5)
    for shared, full in zip(shared_grads, full_grads, strict=True):
        torch.testing.assert_close(shared, full, atol=1e-6, rtol=1e-5)
