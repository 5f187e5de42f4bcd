import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification

from hf_msa import DibConfig, DibForSentimentAnalysis, DibModel
from hf_msa.modeling_utils import MSAModelOutput

from .conftest import random_batch, tiny_dib_config

EXPECTED_TERMS = {"task", "unimodal_text", "unimodal_audio", "unimodal_vision", "mi_text", "mi_audio", "mi_vision",
                  "mi_fusion"}


def test_forward_regression_returns_loss_logits_and_every_named_term():
    torch.manual_seed(0)
    model = DibForSentimentAnalysis(tiny_dib_config())
    out = model(**random_batch(model.config))
    assert isinstance(out, MSAModelOutput)
    assert out.logits.shape == (12,) and out.fused_representation.shape == (12, 20)
    assert set(out.loss_terms) == EXPECTED_TERMS
    assert all(torch.isfinite(v) for v in out.loss_terms.values())
    config = model.config
    expected = (out.loss_terms["task"]
                + config.unimodal_loss_weight * sum(out.loss_terms[f"unimodal_{m}"] for m in config.modalities)
                + config.lrib_weight * sum(out.loss_terms[f"mi_{m}"] for m in ["text", "audio", "vision", "fusion"]))
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    assert model.dib.fusion.gates.grad is not None and model.dib.fusion.gates.grad.abs().sum() > 0


def test_three_class_text_image_classification():
    torch.manual_seed(0)
    config = tiny_dib_config(preset="mvsa", vision_dim=12, vision_max_length=1)
    model = DibForSentimentAnalysis(config)
    assert "audio" not in model.dib.sequence_encoders
    batch = random_batch(config, vision_length=1)
    out = model(**batch)
    assert out.logits.shape == (12, 3)
    assert set(out.unimodal_logits) == {"text", "vision"}
    manual = torch.nn.functional.cross_entropy(out.logits, batch["labels"])
    torch.testing.assert_close(out.loss_terms["task"], manual)


def test_lrib_mode_switch_changes_the_mi_terms():
    torch.manual_seed(0)
    full = DibForSentimentAnalysis(tiny_dib_config(lrib_input_bandwidth="knn"))
    entropy = DibForSentimentAnalysis(tiny_dib_config(lrib_input_bandwidth="knn", lrib_mi_mode="entropy_z"))
    entropy.load_state_dict(full.state_dict())
    full.eval(), entropy.eval()
    batch = random_batch(full.config)
    mi_full, mi_entropy = full(**batch).loss_terms, entropy(**batch).loss_terms
    assert not torch.isclose(mi_full["mi_text"], mi_entropy["mi_text"])
    torch.testing.assert_close(full(**batch).logits, entropy(**batch).logits)  # only the objective differs


def test_full_mi_reduces_to_entropy_of_z_when_the_input_gram_is_the_identity():
    """With a tiny fixed input bandwidth, A_X = I/n, so S(X) = S(X, Z) = log2 n and I(X; Z) = S(Z)."""
    torch.manual_seed(0)
    full = DibForSentimentAnalysis(tiny_dib_config(lrib_sigma_audio=1e-4)).eval()
    entropy = DibForSentimentAnalysis(tiny_dib_config(lrib_sigma_audio=1e-4, lrib_mi_mode="entropy_z")).eval()
    entropy.load_state_dict(full.state_dict())
    batch = random_batch(full.config)
    torch.testing.assert_close(full(**batch).loss_terms["mi_audio"], entropy(**batch).loss_terms["mi_audio"])


def test_save_and_auto_model_reload_give_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = DibForSentimentAnalysis(tiny_dib_config()).eval()
    batch = random_batch(model.config, labels=False)
    expected = model(**batch).logits
    model.save_pretrained(tmp_path)
    for auto_class in (AutoModel, AutoModelForSequenceClassification):
        reloaded = auto_class.from_pretrained(tmp_path).eval()
        assert type(reloaded) is DibForSentimentAnalysis
        assert torch.equal(reloaded(**batch).logits, expected)
    encoder = DibModel.from_pretrained(tmp_path).eval()  # the headless encoder from a full checkpoint
    torch.testing.assert_close(encoder(**batch).latent, model.dib(**batch).latent)


def test_return_dict_false_gives_a_tuple():
    model = DibForSentimentAnalysis(tiny_dib_config()).eval()
    out = model(**random_batch(model.config), return_dict=False)
    assert isinstance(out, tuple) and out[0].ndim == 0


def test_audio_and_vision_absent_are_treated_as_missing_not_an_error():
    torch.manual_seed(0)
    model = DibForSentimentAnalysis(tiny_dib_config())
    batch = random_batch(model.config)
    for key in ("audio_features", "audio_attention_mask", "vision_features", "vision_attention_mask"):
        batch.pop(key)
    out = model(**batch)
    assert torch.isfinite(out.loss)
    assert "unimodal_audio" not in out.loss_terms and "mi_audio" not in out.loss_terms
    # the same samples with all-zero masks give the same predictions as no features at all
    model.eval()
    masked = random_batch(model.config, labels=False)
    masked["audio_attention_mask"].zero_(), masked["vision_attention_mask"].zero_()
    torch.testing.assert_close(model(**masked).logits, model(input_ids=masked["input_ids"],
                                                             attention_mask=masked["attention_mask"]).logits)


def test_a_missing_sample_does_not_change_the_others():
    torch.manual_seed(0)
    model = DibForSentimentAnalysis(tiny_dib_config()).eval()
    batch = random_batch(model.config, labels=False)
    with torch.no_grad():
        model.dib.fusion.gates.fill_(0.5)
        reference = model(**batch).logits
        batch["audio_attention_mask"][0] = 0
        changed = model(**batch).logits
    assert not torch.isclose(changed[0], reference[0])
    torch.testing.assert_close(changed[1:], reference[1:])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.update(audio_features=torch.randn(12, 30, 7)), "audio_features has feature dim 7, expected audio_dim=5"),
        (lambda b: b.update(vision_features=torch.randn(5, 25, 20)), "vision_features has batch size 5 but input_ids has 12"),
        (lambda b: b["audio_features"].__setitem__((0, 0, 0), float("nan")), "audio_features contains NaN"),
        (lambda b: b["attention_mask"].__setitem__(3, 0), r"attention_mask is all zero for sample\(s\) \[3\]: empty text"),
        (lambda b: b.update(input_ids=torch.zeros(12, 0, dtype=torch.long), attention_mask=None), "input_ids is empty"),
        (lambda b: b.update(audio_attention_mask=torch.ones(12, 29)), "audio_attention_mask must be"),
        (lambda b: b.update(labels=torch.full((12,), 4.0)), r"labels must lie in label_range=\[-3.0, 3.0\]"),
        (lambda b: b.update(labels=torch.rand(11)), "labels has batch size 11"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(mutate, message):
    model = DibForSentimentAnalysis(tiny_dib_config())
    batch = random_batch(model.config)
    mutate(batch)
    with pytest.raises(ValueError, match=message):
        model(**batch)


def test_regression_labels_given_to_a_classification_config_are_rejected():
    config = tiny_dib_config(preset="mvsa", vision_dim=12, vision_max_length=1)
    model = DibForSentimentAnalysis(config)
    batch = random_batch(config, vision_length=1)
    batch["labels"] = torch.tensor([0.4, -1.2] * 6)
    with pytest.raises(ValueError, match="labels for problem_type='single_label_classification' must be class ids"):
        model(**batch)
    batch["labels"] = torch.full((12,), 3)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        model(**batch)
    batch = random_batch(config, vision_length=1)
    batch["audio_features"] = torch.randn(12, 4, 5)
    with pytest.raises(ValueError, match="audio_features were given but this model has no 'audio' encoder"):
        model(**batch)


def test_small_batches_skip_lrib_with_a_warning():
    model = DibForSentimentAnalysis(tiny_dib_config())
    out = model(**random_batch(model.config, batch_size=4))
    assert not any(k.startswith("mi_") for k in out.loss_terms)
    assert torch.isfinite(out.loss)


def test_from_text_pretrained_loads_the_minilm_weights():
    from transformers import AutoModel as HFAutoModel

    from hf_msa.text_encoders import minilm_path

    config = DibConfig.from_preset("mosi", hidden_size=20, num_attention_heads=2, num_encoder_layers=1,
                                   vib_hidden_size=32)
    model = DibForSentimentAnalysis.from_text_pretrained(minilm_path(), config=config)
    reference = HFAutoModel.from_pretrained(minilm_path())
    assert model.config.text_config.hidden_size == 384 and model.config.hidden_size == 20
    ours = model.get_text_encoder().state_dict()
    for name, tensor in reference.state_dict().items():
        if not name.startswith("pooler."):
            assert torch.equal(ours[name], tensor), name


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    config = tiny_dib_config(attn_dropout=0.0, relu_dropout=0.0, res_dropout=0.0, embed_dropout=0.0,
                             vib_sigma_shift=50.0)
    model = DibForSentimentAnalysis(config)
    model.get_text_encoder().config.hidden_dropout_prob = 0.0
    batch = random_batch(config)
    torch.manual_seed(1)
    model(**batch).loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.activation_checkpointing_enable()
    layers = [m for m in model.modules() if type(m).__name__ == "SequenceEncoderLayer"]
    assert layers and all(layer.gradient_checkpointing for layer in layers)
    torch.manual_seed(1)
    model(**batch).loss.backward()
    for name, grad in plain.items():
        torch.testing.assert_close(model.get_parameter(name).grad, grad, atol=1e-5, rtol=1e-4)
