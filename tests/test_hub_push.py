"""Checkpoints through a Hub over real HTTP (the test server of tests/hub_server.py on 127.0.0.1): pushed with their
code and our card, pulled by repo id at a revision, the same predictions with hf_msa and without it."""

import json

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModel, AutoProcessor

from hf_msa import MODEL_REGISTRY
from hf_msa.cli import main
from hf_msa.hub import HubError, push_model

from .conftest import module_file
from .test_remote_code import bare_env, load_without_hf_msa, save_checkpoint  # noqa: F401  (bare_env: a fixture)


def predictions(model, processor, request):
    import numpy as np

    arrays = np.load(request["arrays"])
    texts = request["texts"]
    encoded = processor(text=texts, audio=[arrays[f"audio_{i}"] for i in range(len(texts))],
                        vision=[arrays[f"vision_{i}"] for i in range(len(texts))],
                        padding=model.config.input_padding, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**encoded).logits


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_push_then_pull_at_a_revision_gives_the_same_predictions(model_type, local_hub, tmp_path):
    request, expected = save_checkpoint(model_type, tmp_path / "checkpoint")
    repo_id = f"tester/{model_type}-tiny"
    push_model(tmp_path / "checkpoint", repo_id)
    commit = push_model(tmp_path / "checkpoint", repo_id, revision="v1-branch")
    files = local_hub.files(repo_id, revision="v1-branch")
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "README.md",
            module_file(model_type, 2), module_file(model_type, 0), "modeling_utils.py",
            "processing_msa.py", "feature_extraction_msa.py"} <= set(files)
    assert "training_args.bin" not in files
    for revision in ("v1-branch", commit.oid):
        model = AutoModel.from_pretrained(repo_id, revision=revision)
        processor = AutoProcessor.from_pretrained(repo_id, revision=revision)
        assert type(model) is MODEL_REGISTRY[model_type][2]
        torch.testing.assert_close(predictions(model, processor, request), expected, atol=1e-6, rtol=1e-5)
    card = ModelCard.load(repo_id)
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    assert {"hf_msa", model_type, "custom_code"} <= set(card.data.tags)
    assert "No evaluation was recorded" in card.text and card.data.eval_results is None
    assert local_hub.unknown == []


def test_every_model_pulled_by_repo_id_loads_without_hf_msa(bare_env, local_hub, tmp_path):
    request, expected = {}, {}
    for model_type in sorted(MODEL_REGISTRY):
        source, expected[model_type] = save_checkpoint(model_type, tmp_path / model_type)
        repo_id = f"tester/{model_type}-bare"
        push_model(tmp_path / model_type, repo_id, revision="release")
        request[model_type] = dict(source, path=repo_id, revision="release")
    results = load_without_hf_msa(request, tmp_path)  # HF_ENDPOINT and the token come from this process's environment
    for model_type, result in results.items():
        assert result["classes"]["model"].startswith("transformers_modules.tester.")
        for key in ("logits", "classifier_logits"):
            torch.testing.assert_close(torch.tensor(result[key]), expected[model_type], atol=1e-5, rtol=1e-4)
    assert local_hub.unknown == []


@pytest.mark.parametrize("data", ["synthetic", "mosi_transcripts"])
def test_train_push_to_hub_card_comes_from_the_run(data, local_hub, tmp_path, capsys, request):
    out = tmp_path / "run"
    if data == "synthetic":
        source = ["--data", "synthetic"]
    else:
        shared_data = request.getfixturevalue("shared_data")
        source = ["--data", str(shared_data / "mosi" / "label.csv")]
    repo_id = f"tester/dib-{data.replace('_', '-')}"
    main(["train", *source, "--text-encoder", "tiny", "--epochs", "1", "--max-samples", "40", "--seeds", "1", "2",
          "--output-dir", str(out), "--push-to-hub", repo_id])
    printed = capsys.readouterr().out
    best = out / printed.split("best seed by validation MAE: ")[1].split()[0].split(str(out) + "/")[1]
    run = json.loads((out / best / "eval_results.json").read_text())
    others = [json.loads((out / f"seed-{s}" / "best" / "eval_results.json").read_text()) for s in (1, 2)]
    assert run["validation"]["MAE"] == pytest.approx(min(o["validation"]["MAE"] for o in others))
    card = ModelCard.load(repo_id)
    measured = {e.metric_name: e.metric_value for e in card.data.eval_results}
    assert set(measured) >= {"MAE", "Corr", "Mult_acc_7"}
    for key, value in measured.items():
        assert value == pytest.approx(run["test"][key], abs=1e-4)  # cards round to 4 decimals
    assert all(e.task_type == "text-classification" and "Regression" in e.task_name for e in card.data.eval_results)
    transcripts_only = "**Measured on transcripts only**" in card.text
    assert transcripts_only == (data == "mosi_transcripts")
    assert run["data"]["modalities"] == (["text"] if transcripts_only else ["text", "audio", "vision"])
    assert "eval_results.json" in local_hub.files(repo_id)
    # the Trainer's own checkpoints carry the code too (Trainer saves through model.save_pretrained)
    trainer_checkpoints = list(out.glob("seed-*/checkpoint-*"))
    assert trainer_checkpoints
    for folder in trainer_checkpoints + [out / best]:
        assert (folder / "modeling_dib.py").is_file() and "auto_map" in json.loads((folder / "config.json").read_text())
    assert local_hub.unknown == []


def test_hub_mistakes_are_clear_errors(local_hub, tmp_path, monkeypatch, capsys):
    save_checkpoint("dib", tmp_path / "checkpoint")
    with pytest.raises(ValueError, match=r"repo id 'tester/bad name' is not a Hub repo id"):
        push_model(tmp_path / "checkpoint", "tester/bad name")
    with pytest.raises(ValueError, match="give namespace/name"):
        push_model(tmp_path / "checkpoint", "no-namespace")
    push_model(tmp_path / "checkpoint", "tester/push-errors")
    with pytest.raises(OSError, match=r"tester/push-errors.*no-such-branch|no-such-branch.*tester/push-errors"):
        AutoModel.from_pretrained("tester/push-errors", revision="no-such-branch")
    with pytest.raises(OSError, match="tester/push-missing-repo"):
        AutoModel.from_pretrained("tester/push-missing-repo")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match=r"tester/push-no-token.*(hf auth login|HF_TOKEN)"):
        push_model(tmp_path / "checkpoint", "tester/push-no-token")
    # the command line says the same in one line, exit code 2
    with pytest.raises(SystemExit) as exit_info:
        main(["push", str(tmp_path / "checkpoint"), "--repo-id", "tester/push-no-token"])
    assert exit_info.value.code == 2
    assert "hf-msa push: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["push", str(tmp_path / "checkpoint"), "--repo-id", "tester/bad name"])
    assert "not a Hub repo id" in capsys.readouterr().err


def test_a_private_repo_needs_a_token_to_read(local_hub, tmp_path, monkeypatch):
    save_checkpoint("dib", tmp_path / "checkpoint")
    push_model(tmp_path / "checkpoint", "tester/private-dib", private=True)
    assert HfApi().model_info("tester/private-dib").private
    AutoModel.from_pretrained("tester/private-dib")  # with the token
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(OSError, match="tester/private-dib"):
        AutoModel.from_pretrained("tester/private-dib", cache_dir=tmp_path / "fresh-cache")
