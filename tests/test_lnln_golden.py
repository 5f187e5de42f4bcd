"""LNLN reproduces the official implementation: a converted official checkpoint gives the official outputs, loss terms,
intermediate activations and gradients (fixture made by running github.com/Haoyu-ha/LNLN; see its fixture.json).

The fixture folder is ../shared/golden/lnln, or $HF_MSA_LNLN_FIXTURE to point the same test at another fixture.
"""

import pytest
import torch

from hf_msa.models.lnln.convert_lnln_original_to_hf import config_from_original, convert, convert_key

from .conftest import load_golden_fixture

FORWARD = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def golden():
    return load_golden_fixture("lnln")


@pytest.fixture(scope="module")
def converted(golden):
    model, dropped = convert(golden["weights"], config_from_original(golden["weights"]))
    assert dropped == ["bertmodel.model.pooler.dense.bias", "bertmodel.model.pooler.dense.weight"]
    return model


def corrupted_inputs(inputs):
    text = inputs["language_m"]
    return dict(input_ids=text[:, 0].long(), attention_mask=text[:, 1].long(), token_type_ids=text[:, 2].long(),
                audio_features=inputs["audio_m"], vision_features=inputs["vision_m"])


@pytest.fixture(scope="module")
def training_call(golden, converted):
    inputs = golden["inputs"]
    converted.zero_grad()
    out = converted(**corrupted_inputs(inputs), labels=inputs["labels"],
                    complete_input_ids=inputs["language"][:, 0].long(), complete_audio_features=inputs["audio"],
                    complete_vision_features=inputs["vision"], text_missing_rate=inputs["missing_rate_l"])
    out.loss.backward()
    return out


def test_outputs_and_every_loss_term_match(golden, training_call):
    out, ref = training_call, golden["outputs"]
    torch.testing.assert_close(out.logits, ref["sentiment_preds"][:, 0], **FORWARD)
    torch.testing.assert_close(out.completeness, ref["w"], **FORWARD)
    torch.testing.assert_close(out.discriminator_logits, ref["effectiveness_discriminator_out"], **FORWARD)
    torch.testing.assert_close(out.reconstructed_tokens, ref["rec_feats"], **FORWARD)
    torch.testing.assert_close(out.complete_tokens, ref["complete_feats"], **FORWARD)
    terms = {"sentiment": "l_sp", "completeness": "l_cc", "adversarial": "l_adv", "reconstruction": "l_rec"}
    for ours, theirs in terms.items():
        torch.testing.assert_close(out.loss_terms[ours], ref[theirs], **FORWARD)
    torch.testing.assert_close(out.loss, ref["loss"], **FORWARD)


def test_intermediate_activations_match(golden, converted):
    inputs, ref = golden["inputs"], golden["intermediates"]
    with torch.no_grad():
        enc = converted.lnln(**corrupted_inputs(inputs))
        completeness_token = converted.lnln.completeness_encoder(enc.text_tokens)[:, 0]
        complete_text = converted.lnln.embed_text(inputs["language"][:, 0].long(), inputs["language"][:, 1].long(),
                                                  inputs["language"][:, 2].long())
    ours = {"h_1_l": enc.text_tokens, "h_1_a": enc.audio_tokens, "h_1_v": enc.vision_tokens,
            "h_1_p": enc.proxy_tokens, "h_1_d": enc.dominant_tokens, "h_hyper": enc.hyper_tokens,
            "feat": enc.fused_tokens, "pooled": enc.pooled, "feat_tmp": completeness_token,
            "complete_language_feat": complete_text}
    ours.update({f"h_d_list.{i}": state for i, state in enumerate(enc.language_states)})
    for name, value in ours.items():
        torch.testing.assert_close(value, ref[name], **FORWARD, msg=lambda m, n=name: f"{n}: {m}")


def test_gradients_match_including_the_reversed_proxy_path(golden, converted, training_call):
    for key, reference in golden["grads"].items():
        grad = converted.get_parameter(convert_key(key[len("grad."):])).grad
        assert grad is not None, key
        error = (grad - reference).abs().max() / reference.abs().max()
        assert error <= 1e-4, f"{key}: relative error {error:.2e}"


def test_inference_call_skips_the_training_branches(golden, converted):
    inputs, ref = golden["inputs"], golden["outputs"]
    with torch.no_grad():
        out = converted(**corrupted_inputs(inputs), labels=inputs["labels"], text_missing_rate=inputs["missing_rate_l"])
    assert out.discriminator_logits is None and set(out.loss_terms) == {"sentiment", "completeness"}
    torch.testing.assert_close(out.logits, ref["eval_call.sentiment_preds"][:, 0], **FORWARD)
    torch.testing.assert_close(out.loss, ref["eval_call.loss"], **FORWARD)


def test_every_original_key_is_carried_over_except_the_pooler(golden, converted):
    ours = set(converted.state_dict())
    mapped = {convert_key(k) for k in golden["weights"]} - {None}
    assert mapped == ours and len(mapped) == golden["meta"]["model"]["state_dict"]["num_keys"] - 2
