"""What a transformers user expects of the stock tools: Trainer.predict gives the sentiment logits alone, any
TrainingArguments field passes through, resume works from the CLI, attn_implementation is honoured, and DDP (two
gloo processes on CPU, gradient checkpointing on) trains models that leave parameters without gradients."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, Trainer

from hf_msa import MODEL_REGISTRY
from hf_msa.data import MSADataCollator, load_synthetic_mosi
from hf_msa.training import TrainSettings, build_trainer
from hf_msa_cli import main as cli_main

from .conftest import processor_for, random_batch
from .test_all_models import tiny_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_data():
    return load_synthetic_mosi({"train": 48, "validation": 16, "test": 16}, seed=5).with_format("numpy")


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_predict_and_a_users_compute_metrics_see_the_sentiment_logits_alone(model_type, small_data, processor,
                                                                           tmp_path):
    config = tiny_config(model_type)
    model = MODEL_REGISTRY[model_type][2](config)
    seen = []

    def compute_metrics(prediction):  # what a user writes for any regression model
        seen.append(type(prediction.predictions))
        return {"mae": float(np.abs(prediction.predictions - prediction.label_ids).mean())}

    collator = MSADataCollator(processor_for(config), padding=config.input_padding)
    trainer = Trainer(model=model, data_collator=collator, compute_metrics=compute_metrics,
                      args=__import__("transformers").TrainingArguments(
                          output_dir=str(tmp_path), remove_unused_columns=False, label_names=["labels"],
                          report_to="none", per_device_eval_batch_size=8))
    output = trainer.predict(small_data["test"])
    assert isinstance(output.predictions, np.ndarray) and output.predictions.shape == (16,)
    assert seen == [np.ndarray] and np.isfinite(output.metrics["test_mae"])


def test_training_arguments_pass_through(small_data, processor, tmp_path):
    model = MODEL_REGISTRY["dib"][2](tiny_config("dib"))
    settings = TrainSettings(output_dir=str(tmp_path), report_to=[], save_total_limit=3, gradient_checkpointing=True,
                             extra_args={"logging_first_step": True, "dataloader_drop_last": True})
    trainer = build_trainer(model, processor, small_data["train"], small_data["validation"], settings)
    args = trainer.args
    assert (args.report_to, args.save_total_limit, args.activation_checkpointing) == ([], 3, True)
    assert args.logging_first_step and args.dataloader_drop_last and args.ddp_find_unused_parameters
    # extra_args win over the values the helpers set, e.g. the checkpoint budget
    trainer = build_trainer(model, processor, small_data["train"], small_data["validation"],
                            TrainSettings(output_dir=str(tmp_path), extra_args={"save_total_limit": 5}))
    assert trainer.args.save_total_limit == 5


def test_cli_resumes_from_the_last_checkpoint_with_pass_through_flags(tmp_path, capsys):
    base = ["train", "--data", "synthetic", "--text-encoder", "tiny", "--max-samples", "32", "--batch-size", "16",
            "--output-dir", str(tmp_path), "--save-total-limit", "2", "--report-to", "none",
            "--training-args", '{"logging_first_step": true}', "--gradient-checkpointing",
            "--config-overrides", '{"hidden_size": 20, "num_attention_heads": 2, "num_encoder_layers": 1}']
    cli_main(base + ["--epochs", "1"])
    first = json.loads((tmp_path / "seed-1111" / "checkpoint-2" / "trainer_state.json").read_text())
    cli_main(base + ["--epochs", "2", "--resume-from-checkpoint", "last"])
    state = json.loads((tmp_path / "seed-1111" / "checkpoint-4" / "trainer_state.json").read_text())
    # Resumed, the first epoch's log comes from the checkpoint: its step-1 learning rate is that of a 2-step linear
    # schedule. A fresh 2-epoch run would have logged the 4-step schedule's (a different value) at step 1.
    step_one = [entry for entry in state["log_history"] if entry.get("step") == 1 and "loss" in entry]
    assert step_one == [entry for entry in first["log_history"] if entry.get("step") == 1 and "loss" in entry]
    assert state["global_step"] == 4 and step_one


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_attn_implementation_is_declared_and_honoured(model_type, tmp_path):
    torch.manual_seed(0)
    config = tiny_config(model_type)
    model = MODEL_REGISTRY[model_type][2](config).eval()
    assert model.config._attn_implementation == "sdpa"
    model.save_pretrained(tmp_path)
    eager = AutoModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    layers = [m for m in eager.modules() if hasattr(m, "attn_implementation")]
    assert layers and all(m.attn_implementation == "eager" for m in layers)
    assert eager.get_text_encoder().config._attn_implementation == "eager"
    batch = random_batch(config, batch_size=4, labels=False)
    with torch.no_grad():
        torch.testing.assert_close(eager(**batch).logits, model(**batch).logits, atol=1e-5, rtol=1e-5)
    eager.set_attn_implementation("sdpa")
    assert all(m.attn_implementation == "sdpa" for m in layers)


def test_eager_attention_matches_sdpa_with_masks_and_dropout_off():
    from hf_msa.modules import attend

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=generator) for _ in range(3))
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[0, ..., 3:] = False
    torch.testing.assert_close(attend(q, k, v, mask, implementation="eager"), attend(q, k, v, mask), atol=1e-6,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="attn_implementation"):
        attend(q, k, v, implementation="flash")


DDP_SCRIPT = """
import json, os, sys
import torch
import hf_msa
from hf_msa import MODEL_REGISTRY
from hf_msa.data import load_synthetic_mosi
from hf_msa.training import TrainSettings, train_and_evaluate
sys.path.insert(0, {root!r})
from tests.conftest import processor_for
from tests.test_all_models import tiny_config

model_type, out = sys.argv[1], sys.argv[2]
data = load_synthetic_mosi({{"train": 32, "validation": 8, "test": 8}}, seed=1)
if model_type == "dib":  # text only: audio and vision absent from every batch
    data = data.remove_columns(["audio", "vision"])
data = data.with_format("numpy")
config = tiny_config(model_type)
model = MODEL_REGISTRY[model_type][2](config)
settings = TrainSettings(output_dir=out, num_train_epochs=1, per_device_train_batch_size=8, learning_rate=1e-3,
                         early_stopping_patience=None, disable_tqdm=True, gradient_checkpointing=True,
                         random_missing_training=False,  # LNLN without complete inputs: 2 heads get no gradient
                         extra_args={{"use_cpu": True, "ddp_backend": "gloo"}})
trainer, result = train_and_evaluate(model, processor_for(config), data, settings)
if trainer.args.process_index == 0:
    digest = float(sum(p.double().sum() for p in trainer.model.parameters()))
    json.dump({{"world_size": trainer.args.world_size, "steps": trainer.state.global_step,
               "test": result.test, "digest": digest}}, open(os.path.join(out, "ddp.json"), "w"))
# end the process group explicitly, as a DDP script should: left to interpreter teardown, gloo's threads can be
# destroyed in the wrong order and abort the process ("terminate called without an active exception")
torch.distributed.barrier()
torch.distributed.destroy_process_group()
"""


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_two_gloo_processes_train_with_gradient_checkpointing(model_type, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(root=str(ROOT)))
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), model_type, str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads((tmp_path / "out" / "ddp.json").read_text())
    # 32 rows, 2 processes x batch 8: 2 optimizer steps per epoch
    assert report["world_size"] == 2 and report["steps"] == 2
    assert np.isfinite(report["test"]["MAE"]) and np.isfinite(report["digest"])
