"""DashFusion reproduces the official implementation: a converted official checkpoint gives the official outputs,
every loss term, the intermediate activations (the hierarchical fusion's included), the contrastive pair terms and the
gradients (fixture made by running github.com/ultramarineX/DashFusion; see its fixture.json). The text is fed as the
ids the official tokenizer produced; the partners as the official sample() drew them (rows 6i .. 6i+5 of sample2).

The fixture folder is ../shared/golden/dashfusion, or $HF_MSA_DASHFUSION_FIXTURE to point the same test elsewhere.
"""

import pytest
import torch

from hf_msa.models.dashfusion.convert_dashfusion_original_to_hf import config_from_original, convert, convert_key
from hf_msa.models.dashfusion.modeling_dashfusion import VIEWS, contrastive_pairs, nt_xent

from .conftest import load_golden_fixture

FORWARD = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def golden():
    return load_golden_fixture("dashfusion")


@pytest.fixture(scope="module")
def converted(golden):
    model, dropped = convert(golden["weights"], config_from_original(golden["weights"]))
    unused = ("text_encoder.extractor.pooler.", "text_encoder.projector.MLP.", "_encoder.fc.", "_encoder.dense.",
              "_encoder.cls_embedding", "temporal_alignment.ffn.", "temporal_alignment.norm")
    assert all(any(part in key for part in unused) for key in dropped), dropped
    return model


def sample(inputs, name, prefix=""):
    """One official sample dict in hf_msa's names (the stored token ids, the raw frames; masks are derived)."""
    return {f"{prefix}input_ids": inputs[f"{name}.text_input_ids"],
            f"{prefix}attention_mask": inputs[f"{name}.text_attention_mask"],
            f"{prefix}token_type_ids": inputs[f"{name}.text_token_type_ids"],
            f"{prefix}audio_features": inputs[f"{name}.audio"], f"{prefix}vision_features": inputs[f"{name}.vision"]}


@pytest.fixture(scope="module")
def training_call(golden, converted):
    inputs = golden["inputs"]
    converted.zero_grad()
    out = converted(**sample(inputs, "sample1"), **sample(inputs, "sample2", "partner_"),
                    labels=inputs["sample1.regression_labels"])
    out.loss.backward()
    return out


def assert_close_relative(name, value, reference):
    error = (value - reference).abs().max().item()
    assert error <= 1e-4 * max(1.0, reference.abs().max().item()), f"{name}: max error {error:.2e}"


def test_outputs_and_every_loss_term_match(golden, training_call):
    out, ref = training_call, golden["outputs"]
    torch.testing.assert_close(out.logits, ref["pred"], **FORWARD)
    torch.testing.assert_close(out.loss_terms["task"], ref["pred_loss"], **FORWARD)
    torch.testing.assert_close(out.loss_terms["contrastive"], ref["const_loss"], **FORWARD)
    torch.testing.assert_close(out.loss, ref["loss"], **FORWARD)


def test_eval_call_without_partners_is_the_official_eval_path(golden, converted):
    inputs, ref = golden["inputs"], golden["outputs"]
    with torch.no_grad():
        out = converted(**sample(inputs, "sample1"), labels=inputs["sample1.regression_labels"])
    assert set(out.loss_terms) == {"task"}  # no partners: no contrastive term, as upstream's const_loss = 0
    torch.testing.assert_close(out.logits, ref["eval_call.pred"], **FORWARD)
    torch.testing.assert_close(out.loss, ref["eval_call.loss"], **FORWARD)


def test_embedding_call_gives_the_retrieval_views(golden, converted):
    ref = golden["outputs"]
    with torch.no_grad():
        out = converted.dashfusion(**sample(golden["inputs"], "sample1"))
    for ours, theirs in ((out.text_pooled, "t_embed"), (out.vision_pooled, "v_embed"), (out.audio_pooled, "a_embed")):
        torch.testing.assert_close(ours, ref[f"embed_call.{theirs}"], **FORWARD)


def test_intermediate_activations_match(golden, converted):
    inputs, ref = golden["inputs"], golden["intermediates"]
    captured = {}

    def keep(key, field=None):  # a forward hook that records the output (the first call only) and returns None
        def hook(module, args, output):
            captured.setdefault(key, output if field is None else getattr(output, field))
        return hook

    model = converted.dashfusion
    hooks = [model.text_encoder.register_forward_hook(keep("bert", "last_hidden_state")),
             model.text_projector.register_forward_hook(keep("projector"))]
    for name in ("audio", "vision"):
        hooks.append(getattr(model, f"{name}_encoder").encoder.register_forward_hook(keep(name)))
    for index, level in enumerate(model.fusion.levels):
        hooks.append(level.query_encoder.register_forward_hook(keep(f"HBF.level{index}.encoder_q_out")))
        hooks.append(level.gather.register_forward_hook(keep(f"HBF.level{index}.query")))
        for ours, theirs in (("text", "t"), ("vision", "a"), ("audio", "v")):  # upstream's "a" stream is vision
            hooks.append(level.stream_encoders[ours].register_forward_hook(keep(f"HBF.level{index}.encoder_{theirs}_out")))
    try:
        with torch.no_grad():
            encoded = model.encode(**sample(inputs, "sample1"))
            out = model(**sample(inputs, "sample1"))
            partners = model.encode(**sample(inputs, "sample2"))
    finally:
        for hook in hooks:
            hook.remove()
    ours = {"sample1.bert_last_hidden_state": captured["bert"], "sample1.text_projector_out": captured["projector"],
            "sample1.t_embed_all": encoded["text"], "sample1.t_embed": encoded["text_pooled"],
            "sample1.audio_transformer_out": captured["audio"], "sample1.a_embed_all": encoded["audio"],
            "sample1.a_embed": encoded["audio_pooled"], "sample1.vision_transformer_out": captured["vision"],
            "sample1.v_embed_all": encoded["vision"], "sample1.v_embed": encoded["vision_pooled"],
            "sample1.t_a_v_embed_all": encoded["aligned"], "sample1.t_a_v_embed": encoded["aligned"][:, 0],
            "sample2.t_embed_all": partners["text"], "sample2.t_embed": partners["text_pooled"],
            "sample2.a_embed": partners["audio_pooled"], "sample2.v_embed": partners["vision_pooled"],
            "sample2.t_a_v_embed": partners["aligned"][:, 0], "HBF_out": out.fused}
    ours.update({k: v for k, v in captured.items() if k.startswith("HBF.")})
    assert len(ours) == 28
    for name, value in ours.items():
        assert_close_relative(name, value, ref[name])


def test_contrastive_matrix_and_every_pair_term_match(golden, converted):
    """The [4 views x 7 samples] matrix per anchor and the 22 pair terms (12 of them exactly 0, counted in the mean)."""
    ref, meta = golden["intermediates"], golden["meta"]["contrastive_partners"]["loss_construction_per_anchor"]
    positives, negatives = contrastive_pairs()
    assert positives.tolist() == meta["positive_pairs (a1, p)"]
    official_negatives = {}
    for anchor, column in meta["negative_pairs (a2, n)"]:
        official_negatives.setdefault(anchor, []).append(column)
    assert [sorted(n for n in row if n >= 0) for row in negatives.tolist()] == [
        official_negatives.get(a, []) for a, _ in positives.tolist()]
    assert VIEWS == ("text", "vision", "audio", "aligned")
    pairs = nt_xent(ref["ntxent.pre_sample_x"], converted.config.temperature)
    assert_close_relative("ntxent.pair_losses", pairs, ref["ntxent.pair_losses"])
    assert (pairs[:, 2:14:2] == 0).all() and (pairs[:, 3:14:2] == 0).all()  # T_1 .. T_6 anchors: no negatives
    assert_close_relative("ntxent.per_anchor_loss", pairs.mean(dim=1), ref["ntxent.per_anchor_loss"])


def test_gradients_match(golden, converted, training_call):
    zero = set(golden["meta"]["grads"].get("exactly_zero", []))
    for key, reference in golden["grads"].items():
        grad = converted.get_parameter(convert_key(key[len("grad."):])).grad
        assert grad is not None, key
        if key[len("grad."):] in zero or reference.abs().max() == 0:
            assert grad.abs().max() <= 1e-7, key
            continue
        error = (grad - reference).abs().max() / reference.abs().max()
        assert error <= 1e-4, f"{key}: relative error {error:.2e}"


def test_every_original_key_is_carried_over(golden, converted):
    mapped = {convert_key(key) for key in golden["weights"]} - {None}
    assert mapped == set(converted.state_dict())


def test_the_converter_cli_writes_a_checkpoint_that_gives_the_official_outputs(golden, tmp_path):
    import subprocess
    import sys

    from transformers import AutoModel

    done = subprocess.run([sys.executable, "-m", "hf_msa.models.dashfusion.convert_dashfusion_original_to_hf",
                           "--checkpoint", str(golden["folder"] / "weights.safetensors"),
                           "--output", str(tmp_path / "converted")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not carried over" in done.stdout and "preset: mosi" in done.stdout
    model = AutoModel.from_pretrained(tmp_path / "converted").eval()
    with torch.no_grad():
        logits = model(**sample(golden["inputs"], "sample1")).logits
    torch.testing.assert_close(logits, golden["outputs"]["eval_call.pred"], **FORWARD)
