"""Distillation around the stock Trainer (MMSLF): teacher targets precomputed into the training split by default,
an online teacher behind a switch (eval mode by default; train mode as upstream), and a student that trains on them."""

import numpy as np
import pytest
import torch
from transformers import set_seed

from hf_msa import MmslfStudentForSentimentAnalysis, MmslfTeacherForSentimentAnalysis, MSAFeatureExtractor, MSAProcessor
from hf_msa.data import load_synthetic_mosi
from hf_msa.data.collator import MSADataCollator, training_collator
from hf_msa.distillation import OnlineTeacherCollator, add_teacher_targets, teacher_targets
from hf_msa.training import TrainSettings, train_and_evaluate

from .test_modeling_mmslf import student_config, teacher_config

SHAPES = dict(audio_max_length=64, vision_max_length=64, encoder_depth=1, fusion_depth=1)


@pytest.fixture(scope="module")
def setup(tokenizer):
    torch.manual_seed(0)
    teacher = MmslfTeacherForSentimentAnalysis(teacher_config(**SHAPES)).eval()
    config = teacher.config
    data = load_synthetic_mosi({"train": 48, "validation": 16, "test": 16}, seed=2)
    data = data.map(lambda row, i: {"prompt": f"clip {i}: the face and the words"}, with_indices=True)
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer,
                             max_text_length=config.text_max_length)
    return teacher, data.with_format("numpy"), processor


def teacher_batch(teacher, processor, rows):
    return MSADataCollator(processor, padding="max_length", prompt_max_length=teacher.config.prompt_max_length)(rows)


def test_precomputed_targets_are_the_teachers_eval_outputs(setup):
    teacher, data, processor = setup
    train = add_teacher_targets(teacher, processor, data["train"], batch_size=20, progress=False)
    assert len(train) == len(data["train"])  # no row lost
    row = train.with_format("numpy")[5]
    assert row["teacher_fusion_tokens"].shape == (4, 16)
    assert row["teacher_text_audio_attention"].shape == (2, 12, 64)
    rows = [data["train"][i] for i in range(4, 8)]
    direct = teacher(**{k: v for k, v in teacher_batch(teacher, processor, rows).items() if k != "labels"})
    # other batch sizes, other kernels: the fixture's tolerances (outputs 1e-4 / 1e-5, maps 1e-4 / 1e-7)
    np.testing.assert_allclose(row["teacher_fusion_tokens"], direct.fusion_tokens[1].detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(row["teacher_text_vision_attention"],
                               direct.text_vision_attention[1].detach().numpy(), rtol=1e-4, atol=1e-7)


def test_online_targets_in_eval_mode_are_deterministic_and_train_mode_is_not(setup):
    teacher, data, processor = setup
    rows = [data["train"][i] for i in range(6)]
    batch = teacher_batch(teacher, processor, rows)
    first, second = teacher_targets(teacher, batch), teacher_targets(teacher, batch)
    torch.testing.assert_close(first["teacher_fusion_tokens"], second["teacher_fusion_tokens"])
    noisy = [teacher_targets(teacher, batch, train_mode=True)["teacher_fusion_tokens"] for _ in range(2)]
    assert not torch.allclose(noisy[0], noisy[1])  # dropout 0.5 in the cross encoders, as upstream leaves it on
    assert not teacher.training  # the teacher's own mode is restored
    student = MmslfStudentForSentimentAnalysis(student_config(**SHAPES))
    collator = OnlineTeacherCollator(training_collator(student, processor, data["train"])[0], teacher,
                                     lambda r: teacher_batch(teacher, processor, r))
    online = collator(rows)
    assert "prompt_input_ids" not in online  # the student never sees the prompt
    torch.testing.assert_close(online["teacher_fusion_tokens"], first["teacher_fusion_tokens"])
    assert set(student(**online).loss_terms) == {"task", "attention", "fusion"}


def test_the_student_distils_with_the_stock_trainer(setup, tmp_path):
    teacher, data, processor = setup
    data = dict(data, train=add_teacher_targets(teacher, processor, data["train"], progress=False))
    assert data["train"].format["type"] == "numpy"
    set_seed(0)
    student = MmslfStudentForSentimentAnalysis(student_config(**SHAPES))
    settings = TrainSettings(output_dir=str(tmp_path), num_train_epochs=4, learning_rate=3e-3,
                             per_device_train_batch_size=8, early_stopping_patience=None, disable_tqdm=True,
                             logging_steps=2, seed=0)
    trainer, result = train_and_evaluate(student, processor, data, settings)
    logged = [entry for entry in trainer.state.log_history if "loss_fusion" in entry]
    assert logged, "the teacher targets never reached the student"
    assert logged[-1]["loss_fusion"] < logged[0]["loss_fusion"]  # it moves toward its teacher
    assert np.isfinite(result.test["MAE"])


def test_the_command_line_trains_a_teacher_on_prompts_then_a_student_from_it(tmp_path, tokenizer, capsys):
    """hf-msa prompts generate (a tiny causal LM from a folder) -> hf-msa train --model mmslf_teacher --prompts ->
    hf-msa train --model mmslf_student --teacher --prompts: each step's output is the next one's input."""
    import json

    from transformers import LlamaConfig, LlamaForCausalLM

    from hf_msa.cli import main

    torch.manual_seed(0)
    lm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    lm.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    common = ["--data", "synthetic", "--max-samples", "12", "--text-encoder", "tiny", "--epochs", "1",
              "--batch-size", "4", "--seeds", "1111"]
    main(["prompts", "generate", "--data", "synthetic", "--lm", str(tmp_path / "lm"), "--output",
          str(tmp_path / "prompts"), "--max-new-tokens", "4", "--batch-size", "16"])
    tiny = {"hidden_size": 16, "cross_heads": 2, "cross_head_dim": 8, "cross_mlp_dim": 16, "fusion_heads": 2,
            "fusion_head_dim": 8, "fusion_mlp_dim": 16, "encoder_depth": 1, "fusion_depth": 1}
    teacher_tiny = dict(tiny, prompt_heads=2, prompt_head_dim=8, prompt_mlp_dim=16, prompt_depth=1,
                        prompt_max_length=48)
    main(["train", "--model", "mmslf_teacher", "--prompts", str(tmp_path / "prompts"), "--output-dir",
          str(tmp_path / "teacher"), "--config-overrides", json.dumps(teacher_tiny), *common])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--model", "mmslf_student", "--teacher", str(tmp_path / "teacher" / "seed-1111" / "best"),
              "--output-dir", str(tmp_path / "no-prompts"), "--config-overrides", json.dumps(tiny), *common])
    assert stopped.value.code == 2 and "give --prompts DIR too" in capsys.readouterr().err
    main(["train", "--model", "mmslf_student", "--teacher", str(tmp_path / "teacher" / "seed-1111" / "best"),
          "--prompts", str(tmp_path / "prompts"), "--output-dir", str(tmp_path / "student"),
          "--config-overrides", json.dumps(tiny), *common])
    assert "stored into the 12 training rows" in capsys.readouterr().out
    report = json.loads((tmp_path / "student" / "seeds_report.json").read_text())
    assert np.isfinite(report["test"]["MAE"]["mean"])
    assert (tmp_path / "student" / "seed-1111" / "best" / "config.json").is_file()
