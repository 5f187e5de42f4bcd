import numpy as np
import pytest
import torch
from transformers import set_seed

from hf_msa import HmeConfig, HmeForSentimentAnalysis, HmeOptimizerResetCallback
from hf_msa.data import load_synthetic_mosi
from hf_msa.metrics import msa_metrics
from hf_msa.models.hme.modeling_hme import retrieve_neighbours
from hf_msa.training import TrainSettings, train_and_evaluate

from .conftest import TINY_TEXT, random_batch


def small_config(**overrides):
    values = dict(text_config=dict(TINY_TEXT), hidden_size=16, num_attention_heads=2, num_encoder_layers=1,
                  latent_depth=1, hyper_depth=1, num_latents=2, head_num_layers=1, head_intermediate_size=32,
                  audio_max_length=20, vision_max_length=20, text_max_length=24)
    values.update(overrides)
    return HmeConfig.from_preset("mosi", **values)


def loop_retrieval(features, threshold):
    """The retrieval written out row by row, as the reference's Python loop reads (an independent check)."""
    batch = features.shape[0]
    cosine = torch.nn.functional.cosine_similarity(features.unsqueeze(1), features.unsqueeze(0), dim=2)
    cosine.fill_diagonal_(float("-inf"))
    non_zero = features[features.sum(dim=1) != 0]
    fallback = non_zero.mean(dim=0) if len(non_zero) else torch.zeros(features.shape[1])
    out = torch.empty_like(features)
    for i in range(batch):
        picked = (cosine[i] >= threshold).nonzero().flatten()
        out[i] = fallback if len(picked) == 0 or features[i].sum() == 0 else features[picked].mean(dim=0)
    return out


def test_vectorised_retrieval_equals_the_row_by_row_reading():
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(4, 8, generator=generator)
    # clusters (neighbours), an isolated row (fall-back), a zero row ("missing": fall-back)
    features = torch.cat([base[[0, 0, 1, 1, 2]] + 0.05 * torch.randn(5, 8, generator=generator), base[3:],
                          torch.zeros(1, 8)])
    means, counts = retrieve_neighbours(features, features, 0.6, exclude_diagonal=True)
    torch.testing.assert_close(means, loop_retrieval(features, 0.6), rtol=1e-5, atol=1e-6)
    assert counts.tolist()[:2] == [1, 1] and counts[-1] == 0


def test_memory_bank_serves_one_clip_alone_while_batch_retrieval_depends_on_the_batch():
    torch.manual_seed(0)
    batch = random_batch(small_config(), batch_size=8, text_length=10, audio_length=20, vision_length=20, labels=False)
    # half the clips are near-copies of each other so in-batch retrieval finds neighbours
    for key in ("audio_features", "vision_features"):
        batch[key][4:] = batch[key][:4] + 0.01 * torch.randn_like(batch[key][:4])

    def alone_vs_in_batch(model):
        with torch.no_grad():
            together = model(**batch).logits
            alone = torch.cat([model(**{k: v[i:i + 1] for k, v in batch.items()}).logits for i in range(8)])
            shuffled = model(**{k: v.flip(0) for k, v in batch.items()}).logits.flip(0)
        return together, alone, shuffled

    # PyTorch's larger default init: at the reference's N(0, 0.02) the retrieved cues barely reach the output yet
    faithful = HmeForSentimentAnalysis(small_config(sample_at_eval=False, linear_init="pytorch")).eval()
    together, alone, _ = alone_vs_in_batch(faithful)
    assert (together - alone).abs().max() > 1e-3 * together.abs().max()  # depends on the rest of the batch
    with torch.no_grad():
        in_batch = faithful.hme(**batch)
        single = faithful.hme(**{k: v[:1] for k, v in batch.items()})
    assert in_batch.neighbour_counts[0].sum() > 0 and single.neighbour_counts.sum() == 0
    assert not torch.allclose(in_batch.retrieved[0], single.retrieved[0], atol=1e-3)

    banked = HmeForSentimentAnalysis(small_config(sample_at_eval=False, retrieval_pool="memory_bank",
                                                  memory_bank_size=16, linear_init="pytorch"))
    banked.load_state_dict(faithful.state_dict(), strict=False)
    banked.train()
    for seed in range(3):  # training batches fill the bank
        banked(**random_batch(banked.config, batch_size=8, audio_length=20, vision_length=20, seed=seed))
    assert int(banked.hme.memory_bank_filled) == 16
    banked.eval()
    together, alone, shuffled = alone_vs_in_batch(banked)
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(together, shuffled, rtol=1e-4, atol=1e-5)
    assert "hme.memory_bank" in banked.state_dict()  # saved with the weights: a checkpoint serves clips alone


def test_vib_samples_at_eval_by_default_and_replays_given_noise():
    torch.manual_seed(0)
    model = HmeForSentimentAnalysis(small_config()).eval()
    batch = random_batch(model.config, batch_size=4, audio_length=20, vision_length=20, labels=False)
    with torch.no_grad():
        assert not torch.equal(model(**batch).logits, model(**batch).logits)  # upstream samples at test time
        noise = torch.randn(4, 3, model.config.hidden_size)
        torch.testing.assert_close(model(**batch, vib_noise=noise).logits, model(**batch, vib_noise=noise).logits,
                                   rtol=0, atol=0)
        with pytest.raises(ValueError, match=r"vib_noise must be \[batch, 3, hidden_size\]"):
            model(**batch, vib_noise=noise[:, :2])
    deterministic = HmeForSentimentAnalysis(small_config(sample_at_eval=False)).eval()
    with torch.no_grad():
        assert torch.equal(deterministic(**batch).logits, deterministic(**batch).logits)


def test_modality_mask_zero_fills_a_modality_and_is_checked():
    torch.manual_seed(0)
    model = HmeForSentimentAnalysis(small_config(sample_at_eval=False)).eval()
    batch = random_batch(model.config, batch_size=4, audio_length=20, vision_length=20, labels=False)
    no_audio = torch.tensor([[1, 0, 1]] * 4)
    zeroed = dict(batch, audio_features=torch.zeros_like(batch["audio_features"]))
    with torch.no_grad():
        torch.testing.assert_close(model(**batch, modality_mask=no_audio).logits, model(**zeroed).logits,
                                   rtol=1e-5, atol=1e-6)
        assert not torch.allclose(model(**batch, modality_mask=no_audio).logits, model(**batch).logits)
        with pytest.raises(ValueError, match=r"modality_mask must be \[batch, 3\]"):
            model(**batch, modality_mask=torch.ones(4, 2))


def test_switches_are_checked_with_clear_errors():
    for field, value, message in (("retrieval_pool", "bank", "retrieval_pool"), ("pooling", "last", "pooling"),
                                  ("projection_kernel", 2, "projection_kernel"),
                                  ("similarity_threshold", 1.5, "similarity_threshold"),
                                  ("uncertainty_lower", 2.0, "uncertainty_lower"), ("hidden_size", 15, "divisible")):
        with pytest.raises(ValueError, match=message):
            small_config(**{field: value})
    with pytest.raises(ValueError, match="three modalities"):
        HmeConfig.from_preset("mvsa")
    assert HmeConfig.from_preset("mosei").num_encoder_layers == 2 and HmeConfig.from_preset("mosei").latent_depth == 3
    assert HmeConfig().input_padding == "max_length" and HmeConfig(attend_to_padding=False).input_padding == "longest"


def test_initialisation_follows_the_bert_rule_of_the_reference():
    torch.manual_seed(0)
    model = HmeForSentimentAnalysis(small_config(hidden_size=64, num_attention_heads=4, head_intermediate_size=256))
    hme = model.hme
    assert hme.cross_modal["text_to_audio"].layers[0].cross_feed_forward.fc1.weight.std().item() == pytest.approx(
        0.02, rel=0.1)
    assert hme.bottlenecks["text"].hidden.bias.abs().sum() == 0
    qkv = hme.encoders["audio"].layers[0].qkv.weight  # fairseq's Xavier-uniform in-projection
    assert qkv.abs().max().item() <= np.sqrt(6 / (qkv.shape[0] / 3 + qkv.shape[1])) + 1e-6
    assert qkv.std().item() > 0.05
    assert hme.enhancers["text"].latents.std().item() == pytest.approx(1.0, rel=0.4)  # torch.randn latents


def test_trainer_on_the_embedded_data_beats_a_constant_predictor(processor, tmp_path):
    """The default training path: modality missing at MR 0.2 on the training rows (HME's protocol)."""
    data = load_synthetic_mosi({"train": 480, "validation": 120, "test": 120}, seed=3).with_format("numpy")
    set_seed(0)
    model = HmeForSentimentAnalysis(small_config(text_config=dict(TINY_TEXT, hidden_size=32, intermediate_size=64),
                                                 sample_at_eval=False))
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=10, learning_rate=3e-3, text_learning_rate=1e-3,
                             early_stopping_patience=None, disable_tqdm=True, logging_steps=5, seed=0,
                             per_device_train_batch_size=32)
    trainer, result = train_and_evaluate(model, processor, data, settings)
    labels = np.asarray(data["test"]["label"])
    baseline = msa_metrics(np.full_like(labels, np.median(np.asarray(data["train"]["label"]))), labels, "mosi")["MAE"]
    assert result.test["MAE"] < 0.9 * baseline
    logged = [e for e in trainer.state.log_history if "loss" in e]
    assert all({"loss_task", "loss_unimodal_text", "loss_kl_vision"} <= set(e) for e in logged)


def test_optimizer_reset_callback_clears_the_moments_each_epoch():
    from transformers import TrainerControl, TrainerState, TrainingArguments

    parameter = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([parameter], lr=0.1)
    parameter.grad = torch.ones(3)
    optimizer.step()
    assert optimizer.state
    state, control = TrainerState(), TrainerControl()
    callback = HmeOptimizerResetCallback()
    state.epoch = 0
    callback.on_epoch_begin(TrainingArguments("unused", report_to=[]), state, control, optimizer=optimizer)
    assert optimizer.state  # the first epoch starts with the fresh optimiser anyway
    state.epoch = 1.0
    callback.on_epoch_begin(TrainingArguments("unused", report_to=[]), state, control, optimizer=optimizer)
    assert not optimizer.state


def test_training_helpers_drop_whole_modalities_at_the_configured_rate(processor):
    """HME trains without complete data: its training rows lose whole modalities per batch (GCNet/IMDer's mask),
    its evaluation rows stay complete, and the batch carries the modality_mask the model reads."""
    from hf_msa.data import MSADataCollator, ModalityMissingCollator, training_collator

    data = load_synthetic_mosi({"train": 64, "validation": 8, "test": 8}, seed=1).with_format("numpy")
    model = HmeForSentimentAnalysis(small_config(missing_rate=0.3))
    collator, train = training_collator(model, processor, data["train"])
    assert isinstance(collator, ModalityMissingCollator)
    batch = collator([train[i] for i in range(64)])
    mask = batch["modality_mask"].numpy()
    assert mask.shape == (64, 3) and mask.sum(axis=1).min() >= 1
    assert 1 - mask.mean() == pytest.approx(0.3, abs=0.06)  # realised within 0.005 over the draw's 64 rows
    no_audio = mask[:, 1] == 0
    assert no_audio.any() and not batch["audio_attention_mask"].numpy()[no_audio].any()
    clean = collator([data["validation"][i] for i in range(8)])
    assert "modality_mask" not in clean and clean["audio_attention_mask"].numpy().any(axis=1).all()
    complete, _ = training_collator(HmeForSentimentAnalysis(small_config(missing_rate=0.0)), processor, data["train"])
    assert type(complete) is MSADataCollator
    off, _ = training_collator(model, processor, data["train"], random_missing=False)
    assert type(off) is MSADataCollator
