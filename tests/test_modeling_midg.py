"""MIDG (a reconstruction; no code or full text is public): domain adapters that leave an unseen domain on the
shared projection, the router's balance loss, both invariance penalties, MixStyle's simulated clips, and the stock
Trainer on two synthetic domains tested on a third it never saw."""

import numpy as np
import pytest
import torch
from datasets import DatasetDict, concatenate_datasets
from transformers import set_seed

from hf_msa import MidgConfig, MidgForSentimentAnalysis
from hf_msa.data import load_synthetic_domains
from hf_msa.metrics import msa_metrics
from hf_msa.models.midg.modeling_midg import DomainAdapter, mix_statistics
from hf_msa.training import TrainSettings, train_and_evaluate

from .conftest import TINY_TEXT, processor_for, random_batch


def small_config(**overrides):
    values = dict(text_config=dict(TINY_TEXT), hidden_size=16, num_experts=3, expert_hidden_size=16, adapter_size=8,
                  adapter_heads=2, audio_max_length=64, vision_max_length=64, text_max_length=16)
    values.update(overrides)
    return MidgConfig.from_preset("mosi", **values)


def test_domain_adapters_start_shared_and_an_unseen_domain_keeps_the_shared_projection():
    torch.manual_seed(0)
    adapter = DomainAdapter(5, 8, num_domains=2)
    frames = torch.randn(3, 4, 5)
    shared = adapter.shared(frames)
    torch.testing.assert_close(adapter(frames, torch.tensor([0, 1, -1])), shared)  # residuals start at zero
    with torch.no_grad():
        adapter.domain_weight.normal_()
    moved = adapter(frames, torch.tensor([0, 1, -1]))
    torch.testing.assert_close(moved[2], shared[2])  # unseen: shared projection only
    assert (moved[0] - shared[0]).abs().max() > 1e-3 and (moved[1] - moved[0]).abs().max() > 1e-3
    model = MidgForSentimentAnalysis(small_config())
    batch = random_batch(model.config, batch_size=4, text_length=16, audio_length=20, vision_length=20)
    with pytest.raises(ValueError, match=r"domain_ids must be in \[-1, 2\)"):
        model(**batch, domain_ids=torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"domain_ids must be \[batch\]"):
        model(**batch, domain_ids=torch.zeros(4, 1, dtype=torch.long))


def test_balance_loss_is_zero_for_a_uniform_router_and_grows_with_imbalance():
    model = MidgForSentimentAnalysis(small_config())
    uniform = torch.full((8, 3), 1 / 3)
    assert model.balance_loss(uniform).item() == pytest.approx(0.0, abs=1e-6)
    skewed = torch.tensor([[0.8, 0.1, 0.1]] * 8)
    one_expert = torch.tensor([[1.0, 0.0, 0.0]] * 8)
    assert 0 < model.balance_loss(skewed) < model.balance_loss(one_expert)
    # per-clip routing may be sharp as long as the experts' shares are even
    assert model.balance_loss(torch.eye(3).repeat(2, 1)).item() == pytest.approx(0.0, abs=1e-6)


def test_invariance_penalties_vrex_and_irm_against_their_definitions():
    predictions = torch.tensor([0.5, 1.0, -1.0, 2.0, 0.0, 1.5])
    labels = torch.tensor([0.0, 1.5, -0.5, 1.0, 1.0, 1.0])
    environments = torch.tensor([0, 0, 1, 1, 1, 3])
    vrex = MidgForSentimentAnalysis(small_config(invariance="vrex"))
    risks = torch.stack([(predictions[environments == e] - labels[environments == e]).abs().mean() for e in (0, 1, 3)])
    torch.testing.assert_close(vrex.invariance_penalty(predictions, labels, environments), risks.var(unbiased=False))
    irm = MidgForSentimentAnalysis(small_config(invariance="irm"))
    expected = torch.zeros(())
    for e in (0, 1, 3):  # IRMv1: the gradient of each risk with respect to a scale on the predictions, at 1
        scale = torch.ones((), requires_grad=True)
        group = environments == e
        risk = (scale * predictions[group] - labels[group]).abs().mean()
        expected = expected + torch.autograd.grad(risk, scale)[0] ** 2
    torch.testing.assert_close(irm.invariance_penalty(predictions, labels, environments), expected)
    assert vrex.invariance_penalty(predictions, labels, torch.zeros(6, dtype=torch.long)).item() == 0.0


def test_simulated_clips_keep_content_and_padding_and_take_another_clips_statistics():
    torch.manual_seed(0)
    frames = torch.randn(4, 6, 3) * torch.tensor([1.0, 2.0, 3.0]) + 5.0
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[0, 4:] = False
    frames[0, 4:] = 0.0
    mixed = mix_statistics(frames, mask, alpha=0.1)
    assert torch.count_nonzero(mixed[0, 4:]) == 0  # padding stays zero
    standardise = lambda x: (x - x.mean(dim=0)) / x.std(dim=0, unbiased=False)  # noqa: E731
    for i in range(4):  # the normalised content is each clip's own
        torch.testing.assert_close(standardise(mixed[i][mask[i]]), standardise(frames[i][mask[i]]),
                                   rtol=1e-3, atol=1e-3)


def test_every_term_finite_and_every_parameter_learns():
    torch.manual_seed(0)
    model = MidgForSentimentAnalysis(small_config())
    batch = random_batch(model.config, batch_size=6, text_length=16, audio_length=20, vision_length=20)
    out = model(**batch, domain_ids=torch.tensor([0, 0, 1, 1, 0, 1]))
    assert set(out.loss_terms) == {"task", "task_simulated", "invariance", "balance"}
    assert all(torch.isfinite(v) for v in out.loss_terms.values()) and out.loss_terms["invariance"] > 0
    out.loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    model.eval()
    with torch.no_grad():
        assert set(model(**batch).loss_terms) == {"task", "invariance", "balance"}  # no simulation outside training


def test_trainer_on_two_synthetic_domains_beats_a_constant_on_a_third(tmp_path):
    domains = load_synthetic_domains(3, {"train": 160, "validation": 40, "test": 80}, seed=2)
    sources = [domains["domain0"], domains["domain1"]]
    target = domains["domain2"]["test"].map(lambda row: {"domain_id": -1})  # unseen: no adapter of its own
    data = DatasetDict({"train": concatenate_datasets([d["train"] for d in sources]),
                        "validation": concatenate_datasets([d["validation"] for d in sources]),
                        "test": target}).with_format("numpy")
    config = small_config(text_config=dict(TINY_TEXT, hidden_size=32, intermediate_size=64))
    set_seed(0)
    model = MidgForSentimentAnalysis(config)
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=8, learning_rate=3e-3, text_learning_rate=1e-3,
                             early_stopping_patience=None, disable_tqdm=True, logging_steps=5, seed=0,
                             per_device_train_batch_size=32)
    trainer, result = train_and_evaluate(model, processor_for(config), data, settings)
    logged = [e for e in trainer.state.log_history if "loss" in e]
    assert all({"loss_task", "loss_task_simulated", "loss_invariance", "loss_balance"} <= set(e) for e in logged)
    for adapter in trainer.model.midg.adapters.values():  # the collator handed the domain ids on: both adapters moved
        assert (adapter.domain_weight.abs().flatten(1).sum(dim=1) > 0).all()
    labels = np.asarray(data["test"]["label"])
    constant = msa_metrics(np.full_like(labels, np.median(np.asarray(data["train"]["label"]))), labels, "mosi")["MAE"]
    assert result.test["MAE"] < 0.9 * constant and result.test["Corr"] > 0.3, (result.test, constant)


def test_the_text_encoder_alone_stays_plain_and_adapted_layers_are_never_checkpointed():
    torch.manual_seed(0)
    model = MidgForSentimentAnalysis(small_config()).eval()
    batch = random_batch(model.config, batch_size=3, text_length=16, audio_length=20, vision_length=20, labels=False)
    text = {k: batch[k] for k in ("input_ids", "attention_mask")}
    encoder = model.get_text_encoder()
    with torch.no_grad():
        plain, before = encoder(**text).last_hidden_state, model(**batch).logits
        for adapter in model.midg.cross_modal_adapters.values():
            adapter.up.weight.fill_(0.1)
        after = model(**batch).logits  # the adapters act inside the model...
        torch.testing.assert_close(encoder(**text).last_hidden_state, plain)  # ...and leave no context behind
    assert (after - before).abs().max() > 1e-4
    model.train()
    model.gradient_checkpointing_enable()
    assert not any(layer.gradient_checkpointing for layer in model.midg._text_layers())  # all adapted by default
    out = model(**random_batch(model.config, batch_size=3, text_length=16, audio_length=20, vision_length=20))
    out.loss.backward()
