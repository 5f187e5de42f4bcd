import numpy as np
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
    """With a tiny fixed input kernel divisor, A_X = I/n, so S(X) = S(X, Z) = log2 n and I(X; Z) = S(Z)."""
    torch.manual_seed(0)
    full = DibForSentimentAnalysis(tiny_dib_config(lrib_kernel_divisor_audio=1e-8)).eval()
    entropy = DibForSentimentAnalysis(tiny_dib_config(lrib_kernel_divisor_audio=1e-8, lrib_mi_mode="entropy_z")).eval()
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
        torch.testing.assert_close(reloaded(**batch).logits, expected, atol=1e-6, rtol=1e-6)  # a lost weight moves it far more
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


# ---- the information terms against the derived definitions --------------------------------------------------------
def numpy_low_rank_renyi(gram: np.ndarray, alpha: float, rank: int) -> float:
    eig = np.sort(np.linalg.eigvalsh(gram))[::-1].clip(min=1e-12)
    top = eig[:rank]
    residual = (1 - top.sum()) / (len(eig) - rank)
    return float(np.log2((top**alpha).sum() + (len(eig) - rank) * residual**alpha) / (1 - alpha))


def numpy_gram(x: np.ndarray, divisor: float) -> np.ndarray:
    """exp(-||xi - xj||^2 / s), s used as given (the derived code's convention), normalised to unit trace."""
    gram = np.exp(-((x[:, None, :] - x[None, :, :]) ** 2).sum(-1) / divisor)
    return gram / np.trace(gram)


def numpy_knn_sigma(x: np.ndarray, k: int = 5) -> float:
    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return float(np.sort(dist, axis=1)[:, 1 : k + 1].mean())


def numpy_mi(x: np.ndarray, z: np.ndarray, divisor_x: float, alpha=1.9, rank=10) -> float:
    rank = min(rank, len(x) - 1)
    gram_x, gram_z = numpy_gram(x, divisor_x), numpy_gram(z, numpy_knn_sigma(z) ** 2)
    joint = gram_x * gram_z
    joint = joint / np.trace(joint)
    return (numpy_low_rank_renyi(gram_x, alpha, rank) + numpy_low_rank_renyi(gram_z, alpha, rank)
            - numpy_low_rank_renyi(joint, alpha, rank))


@pytest.mark.parametrize("bandwidth", ["fixed", "knn"])
def test_every_mi_term_equals_an_independent_recomputation(bandwidth):
    """Gaussian Gram with divisor s (1, 1, 65, 1000 for X; sigma_Z^2 for Z), unit trace, alpha 1.9,
    k = min(10, n - 1), Hadamard joint: each reported mi_* term, recomputed in NumPy float64 from the model's own x, z."""
    torch.manual_seed(0)
    config = tiny_dib_config(lrib_input_bandwidth=bandwidth, vision_dim=20)
    assert (config.lrib_kernel_divisor_text, config.lrib_kernel_divisor_audio, config.lrib_kernel_divisor_vision,
            config.lrib_kernel_divisor_fusion) == (1.0, 1.0, 65.0, 1000.0)
    model = DibForSentimentAnalysis(config).eval()
    batch = random_batch(config, batch_size=16)
    with torch.no_grad():
        out = model(**batch)
        encoded = model.dib(**{k: v for k, v in batch.items() if k != "labels"})
    pairs = {m: (encoded.unimodal_inputs[m], encoded.unimodal_latents[m]) for m in config.modalities}
    pairs["fusion"] = (encoded.fused_representation, encoded.latent)
    for name, (x, z) in pairs.items():
        x, z = x.double().numpy(), z.double().numpy()
        divisor = numpy_knn_sigma(x) ** 2 if bandwidth == "knn" else getattr(config, f"lrib_kernel_divisor_{name}")
        expected = numpy_mi(x, z, divisor)
        assert out.loss_terms[f"mi_{name}"].item() == pytest.approx(expected, abs=2e-3), name
    # the terms are not degenerate: the fused term is not the entropy of Z alone (its X kernel is not the identity)
    x, z = pairs["fusion"][0].double().numpy(), pairs["fusion"][1].double().numpy()
    entropy_z = numpy_low_rank_renyi(numpy_gram(z, numpy_knn_sigma(z) ** 2), 1.9, 10)
    assert abs(out.loss_terms["mi_fusion"].item() - entropy_z) > 1e-2


def test_mi_terms_stop_at_x_by_default_and_reach_it_with_the_switch():
    torch.manual_seed(0)
    grads = {}
    for detach in (True, False):
        model = DibForSentimentAnalysis(tiny_dib_config(lrib_detach_input=detach))
        x = torch.randn(16, 20, requires_grad=True)
        z = torch.randn(16, 20, requires_grad=True)
        model._mutual_information(x, z, 30.0).backward()
        grads[detach] = (x.grad, z.grad)
    assert grads[True][0] is None and grads[True][1].abs().sum() > 0
    assert grads[False][0].abs().sum() > 0


def test_a_config_saved_before_the_kernel_fix_keeps_its_meaning(tmp_path, caplog):
    import json

    config = tiny_dib_config()
    config.save_pretrained(tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    for stream, sigma in {"text": 1.0, "audio": 1.0, "vision": 65.0, "fusion": 1000.0}.items():
        values.pop(f"lrib_kernel_divisor_{stream}")
        values[f"lrib_sigma_{stream}"] = sigma
    values.pop("lrib_detach_input")
    (tmp_path / "config.json").write_text(json.dumps(values))
    with caplog.at_level("WARNING"):
        old = DibConfig.from_pretrained(tmp_path)
    # before the fix the model divided by sigma^2 and let the terms reach X: it loads meaning exactly that
    assert old.lrib_kernel_divisor_vision == pytest.approx(65.0**2)
    assert old.lrib_kernel_divisor_fusion == pytest.approx(1000.0**2)
    assert old.lrib_kernel_divisor_text == pytest.approx(1.0)
    assert old.lrib_detach_input is False
    assert "lrib_sigma_vision" in caplog.text and "4225" in caplog.text
    assert "lrib_sigma_vision" not in old.to_dict()
    old.save_pretrained(tmp_path / "resaved")  # saved again, it carries the new fields with the same meaning
    again = DibConfig.from_pretrained(tmp_path / "resaved")
    assert again.lrib_kernel_divisor_vision == pytest.approx(4225.0) and again.lrib_detach_input is False
    with pytest.raises(ValueError, match="not both"):
        tiny_dib_config(lrib_sigma_vision=65.0, lrib_kernel_divisor_vision=10.0)
    with pytest.raises(ValueError, match="lrib_kernel_divisor_fusion must be > 0"):
        tiny_dib_config(lrib_kernel_divisor_fusion=0.0)
