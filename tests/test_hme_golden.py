"""HME reproduces the official implementation: a converted official checkpoint gives the official outputs, every loss
term, the intermediate activations and the gradients (fixture made by running github.com/YetZzzzzz/HME; see its
fixture.json). The VIB noise the official run drew is replayed through `vib_noise`.

The fixture folder is ../shared/golden/hme, or $HF_MSA_HME_FIXTURE to point the same test at another fixture.
"""

import pytest
import torch

from hf_msa.models.hme.convert_hme_original_to_hf import config_from_original, convert, convert_key

from .conftest import load_golden_fixture

FORWARD = dict(rtol=1e-4, atol=1e-5)
MODALITIES = ("text", "audio", "vision")


@pytest.fixture(scope="module")
def golden():
    return load_golden_fixture("hme")


@pytest.fixture(scope="module")
def converted(golden):
    model, dropped = convert(golden["weights"], config_from_original(golden["weights"]))
    assert all(key.endswith((".version", "._float_tensor")) for key in dropped), dropped
    return model


def model_inputs(inputs):
    """The official call model(input_ids, visual, acoustic, ps, ...) in hf_msa's names; ps columns are (t, a, v)."""
    noise = torch.stack([inputs["noise_eps_l"], inputs["noise_eps_a"], inputs["noise_eps_v"]], dim=1)
    return dict(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                token_type_ids=inputs["token_type_ids"], audio_features=inputs["acoustic"],
                vision_features=inputs["visual"], modality_mask=inputs["ps"], vib_noise=noise)


@pytest.fixture(scope="module")
def training_call(golden, converted):
    inputs = golden["inputs"]
    converted.zero_grad()
    out = converted(**model_inputs(inputs), labels=inputs["label_ids"])
    out.loss.backward()
    return out


def test_outputs_and_every_loss_term_match(golden, training_call):
    out, ref = training_call, golden["outputs"]
    torch.testing.assert_close(out.logits, ref["predictions"][:, 0], **FORWARD)
    for modality, letter in zip(MODALITIES, "lav"):
        torch.testing.assert_close(out.unimodal_logits[modality], ref[f"logits_{letter}_p"][:, 0], **FORWARD)
        torch.testing.assert_close(out.loss_terms[f"unimodal_{modality}"], ref[f"loss_fc_{letter}"], **FORWARD)
    torch.testing.assert_close(out.loss_terms["task"], ref["loss_task"], **FORWARD)
    kl = sum(out.loss_terms[f"kl_{m}"] for m in MODALITIES) / 3
    torch.testing.assert_close(kl, ref["info_losses"], **FORWARD)
    torch.testing.assert_close(out.loss, ref["loss_all"], **FORWARD)


def test_each_kl_term_matches(golden, training_call):
    for modality, letter in zip(MODALITIES, "lav"):
        torch.testing.assert_close(training_call.loss_terms[f"kl_{modality}"], golden["intermediates"][f"vib_{letter}.kl"],
                                   **FORWARD)


def test_eval_call_matches_the_official_test_path(golden, converted):
    inputs, ref = golden["inputs"], golden["outputs"]
    with torch.no_grad():
        out = converted(**model_inputs(inputs), labels=inputs["label_ids"])
    torch.testing.assert_close(out.logits, ref["eval_call.predictions"][:, 0], **FORWARD)
    torch.testing.assert_close(out.loss, ref["eval_call.loss_all"], **FORWARD)


def test_intermediate_activations_match(golden, converted):
    inputs, ref = golden["inputs"], golden["intermediates"]
    with torch.no_grad():
        enc = converted.hme(**model_inputs(inputs))
    ours = {"all_embed": enc.fused_tokens.transpose(0, 1), "enhance_samples": enc.sample_enhanced}
    for index, letter in enumerate("lav"):
        ours.update({f"last_x_{letter}": enc.modality_features[:, index], f"similar_{letter}": enc.retrieved[:, index],
                     f"eh_{letter}": enc.enhanced[:, index], f"hyper_{letter}s": enc.hyper_features[:, index],
                     f"vib_{letter}.mu": enc.vib_mu[:, index], f"vib_{letter}.std": enc.vib_sigma[:, index],
                     f"vib_{letter}.encoding": enc.vib_z[:, index]})
    for name, value in ours.items():
        reference = ref[name]
        error = (value - reference).abs().max().item()
        assert error <= 1e-4 * max(1.0, reference.abs().max().item()), f"{name}: max error {error:.2e}"
    for letter, index in zip("lav", range(3)):  # the retrieval picked the same neighbours (and fall-backs)
        counts = ref[f"retrieval_{letter}.neighbour_mask"].sum(dim=1).long()
        assert torch.equal(enc.neighbour_counts[:, index], counts), letter


def test_gradients_match(golden, converted, training_call):
    zero = set(golden["meta"]["grads"].get("exactly_zero_in_this_fixture", []))
    for key, reference in golden["grads"].items():
        name = convert_key(key[len("grad."):])
        if ".statistics." in name:  # the fused VIB output layer: our mean (rows :K) and scale (rows K:) layers
            grad = torch.cat([converted.get_parameter(name.replace(".statistics.", f".{part}.")).grad
                              for part in ("mean", "scale")])
        else:
            grad = converted.get_parameter(name).grad
        assert grad is not None, key
        if key[len("grad."):] in zero:
            assert grad.abs().max() <= 1e-7, key
            continue
        error = (grad - reference).abs().max() / reference.abs().max()
        assert error <= 1e-4, f"{key}: relative error {error:.2e}"


def test_every_original_key_is_carried_over(golden, converted):
    ours = set(converted.state_dict())
    mapped = set()
    for key in golden["weights"]:
        name = convert_key(key)
        if name is not None:
            mapped |= ({name.replace(".statistics.", ".mean."), name.replace(".statistics.", ".scale.")}
                       if ".statistics." in name else {name})
    assert mapped == ours


def test_the_converter_cli_writes_a_checkpoint_that_gives_the_official_outputs(golden, tmp_path):
    import subprocess
    import sys

    from transformers import AutoModel

    done = subprocess.run([sys.executable, "-m", "hf_msa.models.hme.convert_hme_original_to_hf", "--checkpoint",
                           str(golden["folder"] / "weights.safetensors"), "--output", str(tmp_path / "converted")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not carried over" in done.stdout and "preset: mosi" in done.stdout
    model = AutoModel.from_pretrained(tmp_path / "converted").eval()
    with torch.no_grad():
        logits = model(**model_inputs(golden["inputs"])).logits
    torch.testing.assert_close(logits, golden["outputs"]["eval_call.predictions"][:, 0], **FORWARD)
