"""Bad input, case by case: each row of CASES is one mistake a user makes, the exception it must raise and the words
its message must contain (the culprit: the field, the file, the flag). The readers' table is in
tests/test_bad_inputs_readers.py. Kept-with-a-rule cases (zero-length sequences, unknown keys in a saved config)
follow the table as their own tests.
"""

import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModel
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from hf_msa import DibConfig, LnlnConfig, MODEL_REGISTRY
from hf_msa.training import TrainSettings, build_trainer
from hf_msa_cli import main as cli_main

from .conftest import random_batch, tiny_dib_config
from .test_all_models import tiny_config


def forward(mutate, model_type="dib"):
    def run(tmp_path, processor):
        config = tiny_config(model_type)
        model = MODEL_REGISTRY[model_type][2](config)
        batch = random_batch(config, batch_size=4)
        mutate(batch, config)
        model(**batch)
    return run


def preset(config_class, **overrides):
    return lambda tmp_path, processor: config_class.from_preset("mosi", **overrides)


def saved(model_type, tmp_path):
    folder = tmp_path / model_type
    MODEL_REGISTRY[model_type][2](tiny_config(model_type)).save_pretrained(folder)
    return folder


def truncated_weights(tmp_path, processor):
    folder = saved("dib", tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    AutoModel.from_pretrained(folder)


def other_type_weights(tmp_path, processor):
    lnln, dib = saved("lnln", tmp_path), saved("dib", tmp_path)
    shutil.copy(dib / "model.safetensors", lnln / "model.safetensors")
    AutoModel.from_pretrained(lnln)


def missing_folder(tmp_path, processor):
    MODEL_REGISTRY["dib"][2].from_pretrained(str(tmp_path / "no" / "such" / "model"))


def processor_call(**kwargs):
    return lambda tmp_path, processor: processor(**kwargs)


def trainer_with(**extra_args):
    def run(tmp_path, processor):
        model = MODEL_REGISTRY["dib"][2](tiny_dib_config())
        build_trainer(model, processor, [], [], TrainSettings(output_dir=str(tmp_path), extra_args=extra_args))
    return run


def set_item(key, index, value):
    return lambda batch, config: batch[key].__setitem__(index, value)


# (case id, what the user does, exception type, words the message must contain)
CASES = [
    # ---- model forward -------------------------------------------------------------------------------------
    ("labels as a list", forward(lambda b, c: b.update(labels=b["labels"].tolist())), TypeError,
     ["labels", "torch.Tensor", "list"]),
    ("labels as a scalar", forward(lambda b, c: b.update(labels=torch.tensor(0.5))), ValueError, ["labels", "scalar"]),
    ("input_ids as a list", forward(lambda b, c: b.update(input_ids=b["input_ids"].tolist())), TypeError,
     ["input_ids", "list"]),
    ("float input_ids", forward(lambda b, c: b.update(input_ids=b["input_ids"].float())), ValueError,
     ["input_ids", "integer", "float32"]),
    ("token id beyond the vocabulary", forward(set_item("input_ids", (0, 0), 10**6)), ValueError,
     ["input_ids", "vocab_size", "30522", "1000000"]),
    ("negative token id", forward(set_item("input_ids", (0, 0), -1)), ValueError, ["input_ids", "vocab_size"]),
    ("text longer than the encoder's positions",
     forward(lambda b, c: b.update(input_ids=torch.randint(1000, 2000, (4, 80)),
                                   attention_mask=torch.ones(4, 80, dtype=torch.long))),
     ValueError, ["80 tokens", "64 positions", "max_text_length"]),
    ("token_type_ids beyond type_vocab_size",
     forward(lambda b, c: b.update(token_type_ids=torch.full_like(b["input_ids"], 5))), ValueError,
     ["token_type_ids", "type_vocab_size"]),
    ("attention_mask with a 2", forward(lambda b, c: b.update(attention_mask=torch.full_like(b["input_ids"], 2))),
     ValueError, ["attention_mask", "0", "1"]),
    ("audio mask of fractions", forward(lambda b, c: b.update(audio_attention_mask=torch.full((4, 30), 0.5))),
     ValueError, ["audio_attention_mask", "0.5"]),
    ("audio features as strings", forward(lambda b, c: b.update(audio_features=np.full((4, 30, 5), "x"))),
     TypeError, ["audio_features", "numbers"]),
    ("vision features as a list", forward(lambda b, c: b.update(vision_features=[[0.0]])), TypeError,
     ["vision_features", "list"]),
    ("audio dim of another dataset", forward(lambda b, c: b.update(audio_features=torch.zeros(4, 30, 74))),
     ValueError, ["audio_features", "audio_dim=5"]),
    ("NaN in vision features", forward(set_item("vision_features", (0, 0, 0), float("nan"))), ValueError,
     ["vision_features", "NaN"]),
    ("LNLN: token id beyond the vocabulary", forward(set_item("input_ids", (1, 2), 40000), "lnln"), ValueError,
     ["input_ids", "vocab_size"]),
    ("LNLN: audio longer than its positions",
     forward(lambda b, c: b.update(audio_features=torch.zeros(4, c.audio_max_length + 5, c.audio_dim),
                                   audio_attention_mask=torch.ones(4, c.audio_max_length + 5)), "lnln"),
     ValueError, ["380 steps", "375"]),
    # ---- configs ---------------------------------------------------------------------------------------------
    ("typo in a preset override", preset(DibConfig, hiden_size=20), ValueError, ["hiden_size", "'hidden_size'?"]),
    ("zero attention heads", preset(DibConfig, num_attention_heads=0), ValueError, ["num_attention_heads", "> 0"]),
    ("dropout of 1", preset(DibConfig, attn_dropout=1.0), ValueError, ["attn_dropout", "[0, 1)"]),
    ("negative loss weight", preset(DibConfig, lrib_weight=-1e-5), ValueError, ["lrib_weight", ">= 0"]),
    ("zero VIB width", preset(DibConfig, vib_hidden_size=0), ValueError, ["vib_hidden_size"]),
    ("LNLN negative dropout", preset(LnlnConfig, dropout=-0.1), ValueError, ["dropout", "[0, 1)"]),
    ("LNLN negative adversarial weight", preset(LnlnConfig, adversarial_weight=-0.8), ValueError,
     ["adversarial_weight"]),
    ("LNLN zero tokens", preset(LnlnConfig, num_tokens=0), ValueError, ["num_tokens"]),
    ("classification with one label", preset(DibConfig, problem_type="single_label_classification", num_labels=1,
                                             metric_family="classification", label_range=None),
     ValueError, ["single_label_classification", "num_labels"]),
    # ---- checkpoints -----------------------------------------------------------------------------------------
    ("truncated model.safetensors", truncated_weights, OSError, ["model.safetensors", "damaged or truncated"]),
    ("LNLN config beside DIB weights", other_type_weights, ValueError,
     ["LnlnForSentimentAnalysis", "'lnln'", "encoder tensors are missing", "another model type"]),
    ("a model folder that does not exist", missing_folder, OSError, ["model folder", "does not exist"]),
    # ---- processor -------------------------------------------------------------------------------------------
    ("an empty list of texts", processor_call(text=[]), ValueError, ["text", "empty list"]),
    ("an empty transcript", processor_call(text=["fine", "  "]), ValueError, ["text[1]", "empty"]),
    ("audio frames that are not numbers", processor_call(text=["a"], audio=[[["x"] * 5]]), ValueError,
     ["audio[0]", "numbers", "audio_dim=5"]),
    ("audio as one number", processor_call(text=["a"], audio=5), TypeError, ["audio", "int"]),
    ("vision frames of the wrong width", processor_call(text=["a"], vision=[np.zeros((3, 7))]), ValueError,
     ["vision[0]", "vision_dim=20", "(3, 7)"]),
    # ---- training settings -----------------------------------------------------------------------------------
    ("a TrainingArguments typo", trainer_with(report_too="none"), ValueError, ["report_too", "'report_to'?"]),
    ("remove_unused_columns=True", trainer_with(remove_unused_columns=True), ValueError,
     ["remove_unused_columns", "collator"]),
]


@pytest.mark.parametrize("case, action, error, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(case, action, error, words, tmp_path, processor):
    torch.manual_seed(0)
    with pytest.raises(error) as raised:
        action(tmp_path, processor)
    message = str(raised.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"{case}: message lacks {missing}: {message}"


# ---- the command line: one line on stderr, exit code 2, no traceback ----------------------------------------------
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, processor):
    folder = tmp_path_factory.mktemp("cli_model")
    MODEL_REGISTRY["dib"][2](tiny_dib_config()).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def cli_cases(saved_model, tmp_path):
    empty = tmp_path / "empty_mosi"
    empty.mkdir()
    (empty / "label.csv").write_text("video_id,clip_id,text,label,annotation,mode\n")
    return [
        (["train", "--config-overrides", '{"hidden_size": 20'], ["--config-overrides", "not valid JSON"]),
        (["train", "--config-overrides", "[1, 2]"], ["--config-overrides", "JSON object", "list"]),
        (["train", "--training-args", "3"], ["--training-args", "JSON object"]),
        (["train", "--text-encoder", str(tmp_path / "no_encoder")], ["--text-encoder", "no_encoder", "no such folder"]),
        (["train", "--text-encoder", "tiny", "--max-samples", "8", "--config-overrides", '{"hiden_size": 20}'],
         ["hiden_size", "'hidden_size'?"]),
        (["train", "--resume-from-checkpoint", str(tmp_path / "nothing")], ["--resume-from-checkpoint", "no such"]),
        (["train", "--text-encoder", "tiny", "--max-samples", "8", "--training-args", '{"lerning_rate": 1}'],
         ["lerning_rate", "TrainingArguments"]),
        (["evaluate", "--model", str(tmp_path / "no_model")], ["--model", "no_model", "no such folder"]),
        (["evaluate", "--model", str(saved_model), "--split", "tset"], ["--split 'tset'", "test", "validation"]),
        (["robustness", "--model", str(saved_model), "--split", "dev"], ["--split 'dev'"]),
        (["data", "export", "cmu_mosi", "--data-dir", str(empty), "--config", "transcripts",
          "--output", str(tmp_path / "out")], ["empty_mosi", "no rows"]),
    ]


def test_cli_mistakes_exit_2_with_one_message(saved_model, tmp_path, capsys):
    for argv, words in cli_cases(saved_model, tmp_path):
        with pytest.raises(SystemExit) as raised:
            cli_main(argv)
        stderr = capsys.readouterr().err
        assert raised.value.code == 2, (argv, stderr)
        assert "Traceback" not in stderr
        message = stderr.strip().splitlines()[-1]  # argparse prints the usage first; the error is one line
        assert message.startswith(f"hf-msa {argv[0]}: error: ")
        missing = [w for w in words if w not in message]
        assert not missing, f"{argv}: the message lacks {missing}: {stderr}"


def test_help_and_argument_errors_need_no_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom hf_msa_cli import build_parser, check_arguments\n"
            "p = build_parser(); a = p.parse_args(['train', '--text-encoder', 'tiny'])\ncheck_arguments(p, a)\n"
            "p.format_help()\nassert 'torch' not in sys.modules and 'hf_msa' not in sys.modules, sorted(sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# ---- kept with a rule --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_zero_length_sequences_are_missing_modalities(model_type):
    torch.manual_seed(0)
    config = tiny_config(model_type)
    model = MODEL_REGISTRY[model_type][2](config).eval()
    batch = random_batch(config, batch_size=4, labels=False)
    empty = dict(batch, audio_features=torch.zeros(4, 0, config.audio_dim), audio_attention_mask=torch.zeros(4, 0),
                 vision_features=torch.zeros(4, 0, config.vision_dim), vision_attention_mask=torch.zeros(4, 0))
    absent = {k: v for k, v in batch.items() if not k.startswith(("audio", "vision"))}
    with torch.no_grad():
        expected = model(**absent).logits
        torch.testing.assert_close(model(**empty).logits, expected, atol=1e-6, rtol=1e-6)


def test_numpy_inputs_are_converted(processor):
    config = tiny_dib_config()
    model = MODEL_REGISTRY["dib"][2](config).eval()
    batch = random_batch(config, batch_size=4)
    with torch.no_grad():
        expected = model(**batch)
        converted = model(**{k: v.numpy() for k, v in batch.items()})
    torch.testing.assert_close(converted.logits, expected.logits, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(converted.loss, expected.loss, atol=1e-6, rtol=1e-6)


def test_saved_config_with_an_unknown_key_loads_and_warns(tmp_path):
    import json

    DibConfig.from_preset("mosi").save_pretrained(tmp_path)
    values = json.loads((tmp_path / "config.json").read_text())
    values["hiden_size"] = 20
    (tmp_path / "config.json").write_text(json.dumps(values))
    logger = logging.get_logger("hf_msa.configuration_utils")
    with CaptureLogger(logger) as captured:
        config = DibConfig.from_pretrained(tmp_path)
    assert config.hidden_size == 50 and config.hiden_size == 20  # kept, as transformers keeps unknown keys
    assert "hiden_size" in captured.out and "'hidden_size'?" in captured.out


def test_a_saved_config_of_transformers_loads_without_warnings(tmp_path):
    model = MODEL_REGISTRY["dib"][2](tiny_dib_config())
    model.save_pretrained(tmp_path)
    logger = logging.get_logger("hf_msa.configuration_utils")
    with CaptureLogger(logger) as captured:
        AutoModel.from_pretrained(tmp_path)
    assert "unknown key" not in captured.out


def test_long_text_is_cut_with_a_warning(processor):
    logger = logging.get_logger("hf_msa.processing.processing_msa")
    with CaptureLogger(logger) as captured:
        out = processor(text=["word " * 100, "short"], return_tensors="pt")
    assert out["input_ids"].shape[1] == processor.max_text_length
    assert "max_text_length=24" in captured.out and "1 in this batch" in captured.out
