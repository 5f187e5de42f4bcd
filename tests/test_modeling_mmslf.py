"""MMSLF beyond the golden fixture: the modulated attention against its formula, both roles through save / load,
the student without any prompt, clear errors for what the teacher cannot work without, the pretrained start."""

import pytest
import torch
from transformers import AutoModel

from hf_msa import (
    MmslfStudentConfig,
    MmslfStudentForSentimentAnalysis,
    MmslfTeacherConfig,
    MmslfTeacherForSentimentAnalysis,
)
from hf_msa.modules import ModulatedCrossAttention
from hf_msa.text_encoders import minilm_path

from .conftest import TINY_TEXT, random_batch

TINY = dict(hidden_size=16, cross_heads=2, cross_head_dim=8, cross_mlp_dim=32, fusion_heads=2, fusion_head_dim=8,
            fusion_mlp_dim=16, text_max_length=12, audio_max_length=20, vision_max_length=16)
TEACHER = dict(encoder_depth=2, fusion_depth=2, prompt_max_length=24, prompt_heads=2, prompt_head_dim=8,
               prompt_mlp_dim=16)


def teacher_config(**overrides):
    return MmslfTeacherConfig.from_preset("mosi", text_config=dict(TINY_TEXT), **{**TINY, **TEACHER, **overrides})


def student_config(**overrides):
    return MmslfStudentConfig.from_preset("mosi", text_config=dict(TINY_TEXT), **{**TINY, **overrides})


def batch_for(config, batch_size=3, prompt=True):
    batch = random_batch(config, batch_size=batch_size, text_length=config.text_max_length, audio_length=20,
                         vision_length=16)
    if prompt:
        generator = torch.Generator().manual_seed(1)
        batch["prompt_input_ids"] = torch.randint(1000, 2000, (batch_size, 24), generator=generator)
        batch["prompt_attention_mask"] = torch.ones(batch_size, 24, dtype=torch.long)
    return batch


def test_modulated_attention_is_the_product_of_two_logit_maps():
    torch.manual_seed(0)
    layer = ModulatedCrossAttention(8, heads=2, head_dim=4).eval()
    target, source, prompt = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 5, 8)
    out, plain, modulated = layer(target, source, prompt)

    def heads(x):
        return x.view(2, -1, 2, 4).transpose(1, 2)

    q = heads(layer.q_proj(layer.norm_q(target)))
    k = heads(layer.k_proj(layer.norm_k(source)))
    v = heads(layer.v_proj(layer.norm_v(source)))
    pk = heads(layer.prompt_k_proj(layer.norm_prompt(prompt)))
    logits = q @ k.transpose(-1, -2) / 2.0
    expected = torch.softmax(logits * (pk @ v.transpose(-1, -2) / 2.0), dim=-1)  # keyed on the VALUES
    torch.testing.assert_close(plain, torch.softmax(logits, dim=-1))
    torch.testing.assert_close(modulated, expected)
    torch.testing.assert_close(out, layer.out_proj((expected @ v).transpose(1, 2).reshape(2, 5, 8)))
    _, _, none = layer(target, source)
    assert none is None
    with pytest.raises(ValueError, match="lengths must match"):
        layer(target, source, prompt[:, :3])
    student_layer = ModulatedCrossAttention(8, heads=2, head_dim=4, modulated=False)
    assert student_layer.prompt_k_proj is None and student_layer.norm_prompt is None
    with pytest.raises(ValueError, match="without a prompt path"):
        student_layer(target, source, prompt)


def test_both_roles_save_load_and_predict_the_same(tmp_path):
    for model_class, config, prompt in ((MmslfTeacherForSentimentAnalysis, teacher_config(), True),
                                        (MmslfStudentForSentimentAnalysis, student_config(), False)):
        torch.manual_seed(0)
        model = model_class(config).eval()
        batch = batch_for(config, prompt=prompt)
        with torch.no_grad():
            before = model(**batch)
        model.save_pretrained(tmp_path / config.role)
        loaded = model_class.from_pretrained(tmp_path / config.role).eval()
        with torch.no_grad():
            after = loaded(**batch)
        torch.testing.assert_close(after.logits, before.logits)
        assert type(loaded.config) is type(config) and loaded.config.role == config.role
        assert type(AutoModel.from_pretrained(tmp_path / config.role)) is model_class  # the Auto classes tell them apart
        assert torch.isfinite(before.loss) and set(before.loss_terms) == {"task"}
    assert not any("prompt" in name for name in MmslfStudentForSentimentAnalysis(student_config()).state_dict())


def test_the_teacher_needs_its_prompt_and_full_length_text():
    config = teacher_config()
    model = MmslfTeacherForSentimentAnalysis(config).eval()
    batch = batch_for(config)
    with pytest.raises(ValueError, match="prompt_input_ids is required"):
        model(**{k: v for k, v in batch.items() if not k.startswith("prompt_")})
    short = dict(batch, input_ids=batch["input_ids"][:, :8], attention_mask=batch["attention_mask"][:, :8])
    with pytest.raises(ValueError, match="pad the text to max_length"):
        model(**short)
    with pytest.raises(ValueError, match="more than prompt_max_length=24"):
        model(**dict(batch, prompt_input_ids=torch.ones(3, 30, dtype=torch.long),
                     prompt_attention_mask=torch.ones(3, 30, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"prompt_input_ids must be token ids in \[0, 30522\)"):
        model(**dict(batch, prompt_input_ids=torch.full((3, 24), 40000)))


def test_the_student_distils_with_all_three_targets_or_none():
    config = student_config()
    torch.manual_seed(0)
    student = MmslfStudentForSentimentAnalysis(config)
    batch = batch_for(config, prompt=False)
    plain = student(**batch)
    assert set(plain.loss_terms) == {"task"}
    targets = dict(teacher_fusion_tokens=torch.randn_like(plain.fusion_tokens),
                   teacher_text_audio_attention=torch.rand_like(plain.text_audio_attention),
                   teacher_text_vision_attention=torch.rand_like(plain.text_vision_attention))
    full = student(**batch, **targets)
    assert set(full.loss_terms) == {"task", "attention", "fusion"}
    expected = full.loss_terms["task"] + 60.0 * full.loss_terms["attention"] + 8.0 * full.loss_terms["fusion"]
    torch.testing.assert_close(full.loss, expected)
    full.loss.backward()
    assert all(p.grad is None for p in student.mmslf.text_encoder.parameters())  # frozen by default
    assert student.regressor.weight.grad is not None
    with pytest.raises(ValueError, match="needs all three teacher targets"):
        student(**batch, teacher_fusion_tokens=targets["teacher_fusion_tokens"])
    with pytest.raises(ValueError, match="must have the student's shape"):
        student(**batch, **dict(targets, teacher_fusion_tokens=torch.randn(3, 5, 16)))


def test_the_teacher_starts_both_berts_from_the_pretrained_encoder():
    config = teacher_config(text_max_length=50, audio_max_length=60, vision_max_length=60)
    model = MmslfTeacherForSentimentAnalysis.from_text_pretrained(minilm_path(), config=config)
    text, prompt = model.get_text_encoder().state_dict(), model.prompt_encoder.text_encoder.state_dict()
    assert text.keys() == prompt.keys() and all(torch.equal(text[k], prompt[k]) for k in text)
    assert model.config.prompt_text_config.hidden_size == model.config.text_config.hidden_size == 384


def test_configs_check_their_fields():
    with pytest.raises(ValueError, match="cross_dropout must be a probability"):
        teacher_config(cross_dropout=1.5)
    with pytest.raises(ValueError, match="audio_max_length .* must be at least text_max_length"):
        teacher_config(audio_max_length=8)
    with pytest.raises(ValueError, match="attention_weight must be >= 0"):
        student_config(attention_weight=-1.0)
    sims = MmslfStudentConfig.from_preset("sims")
    assert (sims.text_max_length, sims.cross_mlp_dim, sims.fusion_heads) == (50, 768, 4)
    assert MmslfTeacherConfig.from_preset("sims").fusion_heads == 8
    readme = MmslfStudentConfig()
    assert (readme.encoder_depth, readme.fusion_depth, readme.freeze_text_encoder) == (1, 2, True)
    assert (readme.task_weight, readme.attention_weight, readme.fusion_weight) == (1.0, 60.0, 8.0)


@pytest.fixture(scope="module")
def prompted(tokenizer):
    from hf_msa import MSAFeatureExtractor, MSAProcessor
    from hf_msa.data import load_synthetic_mosi

    config = teacher_config(audio_max_length=64, vision_max_length=64, encoder_depth=1, fusion_depth=1)
    data = load_synthetic_mosi({"train": 96, "validation": 32, "test": 32}, seed=4)
    # a neutral stand-in for the MLLM's "visual cues / language cues" text (hf-msa prompts generate makes real ones)
    data = data.map(lambda row, i: {"prompt": f"clip {i}: look at the face and listen to the words"}, with_indices=True)
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer,
                             max_text_length=config.text_max_length)
    return data.with_format("numpy"), config, processor


def test_the_teachers_training_rows_are_sampled_and_prompted(prompted):
    import numpy as np

    from hf_msa.data.collator import SequenceSamplingCollator, training_collator

    data, config, processor = prompted
    model = MmslfTeacherForSentimentAnalysis(config)
    collator, train = training_collator(model, processor, data["train"], seed=3)
    assert isinstance(collator, SequenceSamplingCollator)
    rows = [train[i] for i in range(8)]
    sampled, clean = collator(rows), collator([data["train"][i] for i in range(8)])  # unmarked rows: untouched
    assert sampled["prompt_input_ids"].shape == (8, config.prompt_max_length)  # padded to the full length
    torch.testing.assert_close(sampled["prompt_input_ids"], clean["prompt_input_ids"])  # prompts never sampled
    unk = processor.tokenizer.unk_token_id
    changed = sampled["input_ids"] != clean["input_ids"]
    assert changed.any() and (sampled["input_ids"][changed] == unk).all()
    assert changed[:, 0].any() or changed[:, -1].any() or changed.sum() > 8  # any position, [CLS] / padding too
    dropped = (sampled["audio_features"] == 0) & (clean["audio_features"] != 0)
    rate = dropped.float().sum() / (clean["audio_features"] != 0).float().sum()
    assert 0.0 < float(rate) < 0.5  # elements, with q ~ U(0.5, 1): at most half on average
    torch.testing.assert_close(sampled["attention_mask"], clean["attention_mask"])
    assert np.isfinite(model(**sampled).loss.item())
    with pytest.raises(ValueError, match="reads a context prompt per clip from a 'prompt' column"):
        collator([{k: v for k, v in row.items() if k != "prompt"} for row in rows])


def test_the_teacher_trains_with_the_stock_trainer(prompted, tmp_path):
    import numpy as np
    from transformers import set_seed

    from hf_msa.training import TrainSettings, train_and_evaluate

    data, config, processor = prompted
    set_seed(0)
    model = MmslfTeacherForSentimentAnalysis(config)
    # the reference's N(0, 1) positions dominate at first (predictions barely differ across clips): it needs steps
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=12, learning_rate=3e-3, text_learning_rate=1e-3,
                             per_device_train_batch_size=8, early_stopping_patience=None, disable_tqdm=True,
                             logging_steps=2, seed=0)
    trainer, result = train_and_evaluate(model, processor, data, settings)
    assert any("loss_task" in entry for entry in trainer.state.log_history)
    labels = {split: np.asarray(data[split]["label"]) for split in ("train", "test")}
    constant = float(np.abs(labels["test"] - labels["train"].mean()).mean())
    assert result.test["MAE"] < constant, (result.test, constant)


def test_the_robustness_harness_scores_the_teacher_with_its_prompts(prompted, tmp_path, capsys):
    """The harness hands the teacher its prompts (uncorrupted) in every setting, and the command asks for them."""
    import json

    import numpy as np

    from hf_msa.cli import main
    from hf_msa.data import load_synthetic_mosi
    from hf_msa.robustness import RobustnessSettings, encode_split, predict_arrays, run_robustness

    data, config, processor = prompted
    torch.manual_seed(0)
    model = MmslfTeacherForSentimentAnalysis(config).eval()
    test = data["test"].select(range(12))
    arrays, _ = encode_split(processor, test, prompt_max_length=config.prompt_max_length)
    assert arrays["prompt_input_ids"].shape == (12, config.prompt_max_length)
    from hf_msa.data.collator import MSADataCollator

    direct = MSADataCollator(processor, padding="max_length", prompt_max_length=config.prompt_max_length)(
        [test[i] for i in range(12)])
    direct.pop("labels")
    with torch.no_grad():
        expected = model(**direct).logits.numpy()
    np.testing.assert_allclose(predict_arrays(model, arrays), expected, rtol=1e-4, atol=1e-5)
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["prompt_input_ids"]) and None,
                                           with_kwargs=True)
    predict_arrays(model, arrays, batch_size=5)
    hook.remove()
    np.testing.assert_array_equal(torch.cat(seen).numpy(), direct["prompt_input_ids"].numpy())  # the ids, as tokenised

    settings = RobustnessSettings(missing_rates=(0.0, 0.5), seeds=(1,), snr_db=(10.0,), modality_missing_rates=(0.5,))
    report = run_robustness({"teacher": (model, processor)}, test, "mosi", settings)["models"]["teacher"]
    assert report["random_missing"]["0.0"]["mean"]["MAE"] == pytest.approx(report["clean"]["MAE"], abs=1e-5)
    assert report["random_missing"]["0.5"]["mean"]["MAE"] != pytest.approx(report["clean"]["MAE"], abs=1e-6)

    folder = tmp_path / "teacher"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    command = ["robustness", "--model", str(folder), "--data", "synthetic", "--max-samples", "8", "--rates", "0.0",
               "--modality-rates", "--snr", "10", "--seeds", "1", "--output-dir", str(tmp_path / "report")]
    with pytest.raises(SystemExit):
        main(command)
    assert "reads a context prompt per clip (MMSLF's teacher): give --prompts DIR" in capsys.readouterr().err
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    with open(prompts / "prompts.jsonl", "w") as handle:
        for clip in load_synthetic_mosi()["test"]["id"]:
            handle.write(json.dumps({"id": clip, "split": "test", "prompt": "watch the face"}) + "\n")
    main(command + ["--prompts", str(prompts)])
    saved = json.loads((tmp_path / "report" / "robustness.json").read_text())
    assert np.isfinite(saved["models"]["teacher"]["clean"]["MAE"]) and "prompts" in saved["protocol"]
