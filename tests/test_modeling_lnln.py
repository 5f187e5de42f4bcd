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


def test_trainer_with_random_missing_augmentation_beats_a_constant_predictor(processor, tmp_path):
    data = load_synthetic_mosi({"train": 480, "validation": 120, "test": 120}, seed=3).with_format("numpy")
    set_seed(0)
    model = LnlnForSentimentAnalysis(small_config(text_config=dict(TINY_TEXT, hidden_size=32, intermediate_size=64)))
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=8, learning_rate=1e-3, text_learning_rate=1e-3,
                             early_stopping_patience=None, disable_tqdm=True, logging_steps=5, seed=0,
                             random_missing_training=True)
    trainer, result = train_and_evaluate(model, processor, data, settings)
    labels = np.asarray(data["test"]["label"])
    baseline = msa_metrics(np.full_like(labels, np.median(np.asarray(data["train"]["label"]))), labels, "mosi")["MAE"]
    assert result.test["MAE"] < 0.9 * baseline and result.test["Corr"] > 0.3
    logged = [e for e in trainer.state.log_history if "loss" in e]
    assert all({"loss_completeness", "loss_adversarial", "loss_reconstruction", "loss_sentiment"} <= set(e) for e in logged)
