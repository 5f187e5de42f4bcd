"""MMSLF reproduces the official implementation: converted official teacher and student checkpoints give the official
outputs, attention maps, every loss term, the intermediate activations and the gradients (fixture made by running
github.com/LOGO-CUHKSZ/MMSLF with tiny random BERTs; see its fixture.json).

Calls, as the fixture names them: A = a teacher training step on the augmented inputs it stores (L1 loss, backward),
B = the distillation step (teacher under no_grad supplies the targets; the student's loss, backward), C = the
student alone under no_grad. The fixture folder is ../shared/golden/mmslf, or $HF_MSA_MMSLF_FIXTURE.
"""

import subprocess
import sys

import pytest
import torch

from hf_msa import MmslfStudentForSentimentAnalysis, MmslfTeacherForSentimentAnalysis
from hf_msa.models.mmslf.convert_mmslf_original_to_hf import config_from_original, convert, convert_key

from .conftest import load_golden_fixture

FORWARD = dict(rtol=1e-4, atol=1e-5)
MAPS = dict(rtol=1e-4, atol=1e-7)  # map entries are ~3e-4 .. 2e-2 (fixture.json comparison_advice)


def split_weights(weights: dict) -> tuple[dict, dict]:
    """fixture.json weights_storage: teacher./student. prefixes; the student's BERT is stored once, as the teacher's
    prompt BERT (bit-identical upstream)."""
    teacher = {k[len("teacher."):]: v for k, v in weights.items() if k.startswith("teacher.")}
    student = {k[len("student."):]: v for k, v in weights.items() if k.startswith("student.")}
    for key, value in teacher.items():
        if key.startswith("bertmodel_prompt.model."):
            student["bertmodel.model." + key[len("bertmodel_prompt.model."):]] = value
    return teacher, student


@pytest.fixture(scope="module")
def golden():
    return load_golden_fixture("mmslf")


@pytest.fixture(scope="module")
def models(golden):
    teacher_sd, student_sd = split_weights(golden["weights"])
    teacher, dropped = convert(teacher_sd, config_from_original(teacher_sd))
    assert dropped == []  # the fixture stores no poolers
    student, dropped = convert(student_sd, config_from_original(student_sd))
    assert dropped and all(any(part in key for part in ("to_prompt_k", "norm_qp", "pos_embedding_p"))
                           for key in dropped), dropped
    assert isinstance(teacher, MmslfTeacherForSentimentAnalysis)
    assert isinstance(student, MmslfStudentForSentimentAnalysis)
    return teacher, student


def text_inputs(inputs, augmented: bool = False) -> dict:
    prefix = "aug." if augmented else ""
    return dict(input_ids=inputs[f"{prefix}text.input_ids"], attention_mask=inputs["text.attention_mask"],
                token_type_ids=inputs["text.token_type_ids"], audio_features=inputs[f"{prefix}audio"],
                vision_features=inputs[f"{prefix}video"])


def prompt_inputs(inputs) -> dict:
    return dict(prompt_input_ids=inputs["prompt.input_ids"], prompt_attention_mask=inputs["prompt.attention_mask"],
                prompt_token_type_ids=inputs["prompt.token_type_ids"])


def gradients_match(model, grads: dict, role: str) -> int:
    """Every stored `grad.<role>.<official name>` against the converted parameter's gradient, within 1e-4 of the
    tensor's largest entry (fixture.json comparison_advice); returns how many were compared. A key the converter
    drops (the student's unused prompt parameters) must have no gradient upstream either."""
    checked = 0
    for key, expected in grads.items():
        if not key.startswith(f"grad.{role}."):
            continue
        name = convert_key(key[len(f"grad.{role}."):], teacher=role == "teacher")
        if name is None:
            assert not expected.abs().gt(0).any(), key
            continue
        got = model.get_parameter(name).grad
        assert got is not None, name
        scale = expected.abs().max().clamp_min(1e-12)
        assert (got - expected).abs().max() <= 1e-4 * scale, (name, float((got - expected).abs().max()), float(scale))
        checked += 1
    return checked


def captured_intermediates(model, names: dict, call):
    """Run `call` with forward hooks on `names` ({label: submodule path}); the hooks store outputs, return None."""
    found, handles = {}, []

    def keep(label):
        def hook(module, args, output):
            found[label] = output[0] if isinstance(output, tuple) else output
        return hook

    for label, path in names.items():
        handles.append(model.get_submodule(path).register_forward_hook(keep(label)))
    try:
        result = call()
    finally:
        for handle in handles:
            handle.remove()
    return result, found


@pytest.fixture(scope="module")
def teacher_call_b(golden, models):
    teacher, _ = models
    inputs = golden["inputs"]
    names = {"x_text": "mmslf.text_projection", "x_prompt_proj": "prompt_encoder.projection",
             "bert_prompt": "prompt_encoder.text_encoder", "bert": "mmslf.text_encoder"}
    with torch.no_grad():
        return captured_intermediates(teacher, names, lambda: teacher(**text_inputs(inputs), **prompt_inputs(inputs),
                                                                      labels=inputs["labels"].view(-1)))


def test_teacher_outputs_maps_and_loss_match(golden, teacher_call_b):
    out, found = teacher_call_b
    ref, mid = golden["outputs"], golden["intermediates"]
    torch.testing.assert_close(out.logits, ref["teacher.preds"].view(-1), **FORWARD)
    torch.testing.assert_close(out.fusion_tokens, ref["teacher.h_reg"], **FORWARD)
    torch.testing.assert_close(out.text_audio_attention, ref["teacher.h_la_attn.5"], **MAPS)
    torch.testing.assert_close(out.text_vision_attention, ref["teacher.h_lv_attn.5"], **MAPS)
    torch.testing.assert_close(out.loss_terms["task"], ref["teacher.loss_l1"], **FORWARD)
    torch.testing.assert_close(found["bert"].last_hidden_state, mid["teacher.bert_last_hidden_state"], **FORWARD)
    torch.testing.assert_close(found["bert_prompt"].last_hidden_state, mid["teacher.bert_prompt_last_hidden_state"],
                               **FORWARD)
    torch.testing.assert_close(found["x_text"], mid["teacher.x_text"], **FORWARD)
    torch.testing.assert_close(found["x_prompt_proj"], mid["teacher.x_prompt_proj"], **FORWARD)


def test_teacher_hidden_streams_and_modulated_maps_match(golden, models):
    teacher, _ = models
    inputs, ref, mid = golden["inputs"], golden["outputs"], golden["intermediates"]
    with torch.no_grad():
        prompt = teacher.encode_prompt(inputs["prompt.input_ids"], inputs["prompt.attention_mask"],
                                       inputs["prompt.token_type_ids"])
        body = teacher.mmslf(**text_inputs(inputs), prompt=prompt)
    torch.testing.assert_close(prompt, mid["teacher.proj_p_out"][:, :50], **FORWARD)  # the 50 query tokens
    torch.testing.assert_close(body.text_audio_hidden, ref["teacher.h_la"], **FORWARD)
    torch.testing.assert_close(body.text_vision_hidden, ref["teacher.h_lv"], **FORWARD)
    # the maps that actually mixed the values: softmax((q k^T s) * (pk v^T s))
    torch.testing.assert_close(body.text_audio_modulated_attention, ref["teacher.h_la_modulate_attn.5"], **MAPS)
    torch.testing.assert_close(body.text_vision_modulated_attention, ref["teacher.h_lv_modulate_attn.5"], **MAPS)
    assert not torch.allclose(body.text_audio_modulated_attention, body.text_audio_attention, atol=1e-6)


def test_teacher_training_step_matches_with_gradients(golden, models):
    """Call A: the stored augmented inputs (elements zeroed, text positions set to [UNK]), L1, backward."""
    teacher, _ = models
    inputs, ref, grads = golden["inputs"], golden["outputs"], golden["grads"]
    teacher.zero_grad()
    out = teacher(**text_inputs(inputs, augmented=True), **prompt_inputs(inputs), labels=inputs["labels"].view(-1))
    out.loss.backward()
    torch.testing.assert_close(out.logits, ref["teacher_train.preds"].view(-1), **FORWARD)
    torch.testing.assert_close(out.fusion_tokens, ref["teacher_train.h_reg"], **FORWARD)
    torch.testing.assert_close(out.loss, ref["teacher_train.loss"], **FORWARD)
    assert gradients_match(teacher, grads, "teacher") >= 10
    # the frozen prompt BERT gets nothing, the fine-tuned text BERT does
    assert all(p.grad is None for p in teacher.prompt_encoder.text_encoder.parameters())
    assert any(p.grad is not None for p in teacher.mmslf.text_encoder.parameters())
    teacher.zero_grad()


def test_distillation_step_matches_every_loss_term_and_gradient(golden, models, teacher_call_b):
    """Call B: the teacher's outputs (no_grad) are the student's targets; α L1 + β maps + γ fusion tokens."""
    _, student = models
    inputs, ref, grads = golden["inputs"], golden["outputs"], golden["grads"]
    targets, _ = teacher_call_b
    student.zero_grad()
    out = student(**text_inputs(inputs), labels=inputs["labels"].view(-1),
                  teacher_fusion_tokens=targets.fusion_tokens,
                  teacher_text_audio_attention=targets.text_audio_attention,
                  teacher_text_vision_attention=targets.text_vision_attention)
    out.loss.backward()
    torch.testing.assert_close(out.logits, ref["student.preds"].view(-1), **FORWARD)
    torch.testing.assert_close(out.fusion_tokens, ref["student.h_reg"], **FORWARD)
    torch.testing.assert_close(out.text_audio_attention, ref["student.h_la_attn.0"], **MAPS)
    torch.testing.assert_close(out.text_vision_attention, ref["student.h_lv_attn.0"], **MAPS)
    torch.testing.assert_close(out.loss_terms["task"], ref["loss_reg"], **FORWARD)
    torch.testing.assert_close(out.loss_terms["attention"], ref["loss_attn"], **MAPS)
    torch.testing.assert_close(out.loss_terms["fusion"], ref["loss_fusion"], **FORWARD)
    torch.testing.assert_close(out.loss, ref["loss"], **FORWARD)
    assert gradients_match(student, grads, "student") >= 5
    assert all(p.grad is None for p in student.mmslf.text_encoder.parameters())  # frozen BERT
    student.zero_grad()


def test_student_inference_needs_no_prompt(golden, models):
    """Call C: the student alone, without any prompt or teacher input."""
    _, student = models
    with torch.no_grad():
        out = student(**text_inputs(golden["inputs"]))
    torch.testing.assert_close(out.logits, golden["outputs"]["eval_call.student.preds"].view(-1), **FORWARD)
    assert out.loss is None


def test_every_official_key_has_a_home(golden, models):
    teacher_sd, student_sd = split_weights(golden["weights"])
    teacher, student = models
    assert {convert_key(k, True) for k in teacher_sd} - {None} == set(teacher.state_dict())
    assert {convert_key(k, False) for k in student_sd} - {None} == set(student.state_dict())


def test_the_converter_command_writes_loadable_folders(golden, models, tmp_path):
    from safetensors.torch import save_file

    teacher_sd, _ = split_weights(golden["weights"])
    save_file({k: v.contiguous() for k, v in teacher_sd.items()}, str(tmp_path / "teacher.safetensors"))
    done = subprocess.run([sys.executable, "-m", "hf_msa.models.mmslf.convert_mmslf_original_to_hf", "--checkpoint",
                           str(tmp_path / "teacher.safetensors"), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "dataset preset: mosi (inferred" in done.stdout
    loaded = MmslfTeacherForSentimentAnalysis.from_pretrained(tmp_path / "out").eval()
    inputs = golden["inputs"]
    with torch.no_grad():
        out = loaded(**text_inputs(inputs), **prompt_inputs(inputs))
    torch.testing.assert_close(out.logits, golden["outputs"]["teacher.preds"].view(-1), **FORWARD)


def test_sequence_sampling_reproduces_the_official_augmentation(golden):
    """The teacher's training augmentation, seeded as the official setup_seed(1111) seeds numpy and torch, draws
    the stored keep rates and masks and gives the stored augmented inputs exactly."""
    import numpy as np

    from hf_msa.data.corruption import sequence_sampling

    inputs = golden["inputs"]
    batch = {"vision_features": inputs["video"].numpy(), "audio_features": inputs["audio"].numpy(),
             "input_ids": inputs["text.input_ids"].numpy()}
    out = sequence_sampling(batch, 0.5, np.random.RandomState(1111), torch.Generator().manual_seed(1111),
                            unk_token_id=100)
    for modality, key, stored in (("vision", "vision_features", "video"), ("audio", "audio_features", "audio"),
                                  ("text", "input_ids", "text.input_ids")):
        np.testing.assert_allclose(out[f"keep_rate_{modality}"], inputs[f"aug.{stored.split('.')[0]}_keep_rate"],
                                   rtol=0, atol=1e-12)
        assert np.array_equal(out[key], inputs[f"aug.{stored}"].numpy()), modality
