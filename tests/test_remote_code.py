"""Checkpoints carry their code: they load with trust_remote_code=True where hf_msa is not installed, give the same
predictions, and with hf_msa imported the installed classes are used instead."""

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoProcessor
from transformers.dynamic_module_utils import get_imports

from hf_msa import MODEL_REGISTRY
from hf_msa.remote_code import bundle_sources

from .bare_env import BareEnvUnavailable, bare_python, run_script
from .conftest import module_file, processor_for
from .test_all_models import tiny_config

TEXTS = ["what a wonderful film, i loved every minute", "boring", "it was fine i guess but too long"]


@pytest.fixture(scope="module")
def bare_env():
    try:
        return bare_python()
    except BareEnvUnavailable as error:
        pytest.skip(str(error))


def save_checkpoint(model_type, folder: Path):
    """A tiny model + processor saved to `folder`, the inputs as files, and the in-process predictions."""
    torch.manual_seed(0)
    config = tiny_config(model_type)
    model = MODEL_REGISTRY[model_type][2](config).eval()
    processor = processor_for(config)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    rng = np.random.default_rng(1)
    arrays = {}
    for i in range(len(TEXTS)):
        arrays[f"audio_{i}"] = rng.normal(size=(7 + 5 * i, config.audio_dim)).astype(np.float32)
        arrays[f"vision_{i}"] = rng.normal(size=(4 + 3 * i, config.vision_dim)).astype(np.float32)
    inputs_file = folder.with_name(folder.name + "-inputs.npz")  # beside the checkpoint, not inside it
    np.savez(inputs_file, **arrays)
    encoded = processor(text=TEXTS, audio=[arrays[f"audio_{i}"] for i in range(len(TEXTS))],
                        vision=[arrays[f"vision_{i}"] for i in range(len(TEXTS))], padding=config.input_padding,
                        return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded).logits
    return {"path": str(folder), "texts": TEXTS, "arrays": str(inputs_file)}, logits


def load_without_hf_msa(request, tmp_path, env_extra=None):
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = run_script("load_without_hf_msa.py", tmp_path / "request.json", tmp_path / "out.json", cwd=tmp_path,
                      env_extra=env_extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / "out.json").read_text())


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_the_bundle_is_flat_and_imports_only_siblings_and_libraries(model_type, tmp_path):
    model = MODEL_REGISTRY[model_type][2](tiny_config(model_type))
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    classes = MODEL_REGISTRY[model_type]
    assert config["auto_map"] == {
        "AutoConfig": f"{module_file(model_type, 0)[:-3]}.{classes[0].__name__}",
        "AutoModel": f"{module_file(model_type, 2)[:-3]}.{classes[2].__name__}",
        "AutoModelForSequenceClassification": f"{module_file(model_type, 2)[:-3]}.{classes[2].__name__}",
    }
    bundle = {p.name for p in tmp_path.glob("*.py")}
    assert bundle == set(bundle_sources([classes[0].__module__, classes[2].__module__]))
    libraries = {"torch", "transformers", "numpy", "huggingface_hub", "safetensors"}  # transformers brings the last 3
    for file in tmp_path.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and f"{node.module}.py" in bundle, f"{file.name}: from {'.' * node.level}{node.module}"
        # what transformers checks before it runs remote code (imports inside `try` are optional)
        needed = set(get_imports(file)) - set(sys.stdlib_module_names)
        assert needed <= libraries, f"{file.name} needs {needed - libraries}"
    # exactly what the method needs: the other method's files and the data/CLI layers stay home
    others = {f"modeling_{other}.py" for other in MODEL_REGISTRY if other != model_type}
    assert not bundle & (others | {"cli.py", "training.py", "pipelines.py", "remote_code.py"})


def test_a_package_import_that_cannot_travel_is_named(tmp_path, monkeypatch):
    import hf_msa.remote_code as remote_code

    module = tmp_path / "hf_msa_bad_module.py"
    module.write_text("from hf_msa.modules import attend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"hf_msa_bad_module.py:1: 'from hf_msa.modules import \.\.\.' cannot travel"):
        remote_code.bundle_sources(["hf_msa_bad_module"])


@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_with_hf_msa_imported_the_installed_classes_load_and_no_remote_code_runs(model_type, tmp_path):
    save_checkpoint(model_type, tmp_path)
    before = {name for name in sys.modules if name.startswith("transformers_modules")}
    config = AutoConfig.from_pretrained(tmp_path, trust_remote_code=True)
    model = AutoModel.from_pretrained(tmp_path, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(tmp_path, trust_remote_code=True)
    assert type(config) is MODEL_REGISTRY[model_type][0]
    assert type(model) is MODEL_REGISTRY[model_type][2]
    assert type(processor).__module__.startswith("hf_msa.")
    assert {name for name in sys.modules if name.startswith("transformers_modules")} == before


def test_every_model_loads_and_predicts_the_same_without_hf_msa(bare_env, tmp_path):
    request, expected = {}, {}
    for model_type in sorted(MODEL_REGISTRY):
        (tmp_path / model_type).mkdir()
        request[model_type], expected[model_type] = save_checkpoint(model_type, tmp_path / model_type)
    results = load_without_hf_msa(request, tmp_path)
    for model_type, result in results.items():
        classes = result["classes"]
        assert all(name.startswith("transformers_modules.") for name in classes.values()), classes
        assert classes["model"].endswith(f"{module_file(model_type, 2)[:-3]}.{MODEL_REGISTRY[model_type][2].__name__}")
        assert classes["feature_extractor"].endswith("feature_extraction_msa.MSAFeatureExtractor")
        for auto_class, message in result["without_trust_remote_code"].items():
            assert "contains custom code" in message and "trust_remote_code=True" in message, (auto_class, message)
        for key in ("logits", "classifier_logits", "resaved_logits"):
            torch.testing.assert_close(torch.tensor(result[key]), expected[model_type], atol=1e-5, rtol=1e-4)
        assert module_file(model_type, 2) in result["resaved_files"]  # saved again without hf_msa: code kept


def test_the_lnln_converter_output_loads_without_hf_msa_and_reproduces_the_official_outputs(bare_env, tmp_path):
    """The converter CLI's folder is a checkpoint like any other: it carries its code, and the official LNLN
    fixture's eval-call predictions come out of it where hf_msa is not installed."""
    import subprocess

    from safetensors.torch import load_file, save_file

    from .test_lnln_golden import FORWARD, corrupted_inputs

    folder = Path(__file__).resolve().parents[2] / "shared" / "golden" / "lnln"
    if not (folder / "weights.safetensors").is_file():
        pytest.skip(f"LNLN golden fixture not found in {folder}")
    done = subprocess.run([sys.executable, "-m", "hf_msa.models.lnln.convert_lnln_original_to_hf", "--checkpoint",
                           str(folder / "weights.safetensors"), "--output", str(tmp_path / "converted")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "auto_map" in json.loads((tmp_path / "converted" / "config.json").read_text())
    inputs = {k: v.contiguous() for k, v in corrupted_inputs(load_file(str(folder / "inputs.safetensors"))).items()}
    save_file(inputs, str(tmp_path / "inputs.safetensors"))
    results = load_without_hf_msa({"lnln": {"path": str(tmp_path / "converted"),
                                            "tensors": str(tmp_path / "inputs.safetensors")}}, tmp_path)
    expected = load_file(str(folder / "outputs.safetensors"))["eval_call.sentiment_preds"][:, 0]
    torch.testing.assert_close(torch.tensor(results["lnln"]["logits"]), expected, **FORWARD)
