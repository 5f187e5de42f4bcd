"""`push_dataset` / `hf-msa data push` over real HTTP against the session's `LocalHub` (tests/hub_server.py): shards
and our dataset card go up, `datasets.load_dataset` reads every row back. Every repo name is unique to its test."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard, HfApi

from hf_msa.cli import main
from hf_msa.data import (
    dataset_card_path,
    dataset_sizes,
    load_msa_dataset,
    push_dataset,
    synthetic_mmsa_pickle,
    write_mmsa_pickle,
)
from hf_msa.hub import HubError

ROOT = Path(__file__).resolve().parents[1]
@pytest.fixture(autouse=True)
def hub(local_hub):
    """The session's hub; each test must only hit routes it knows and must not trip a server-side error."""
    known, errors = len(local_hub.unknown), len(local_hub.errors)
    yield local_hub
    assert local_hub.unknown[known:] == []
    assert local_hub.errors[errors:] == []


def fixture_pickle_config(tmp_path, seed=3):
    """cmu_mosi [unaligned] from a small pickle in MMSA's layout (6 / 3 / 4 clips, audio [T, 5], vision [T, 20])."""
    write_mmsa_pickle(tmp_path / "raw" / "Processed" / "unaligned_50.pkl", synthetic_mmsa_pickle("mosi", seed=seed))
    return load_msa_dataset("cmu_mosi", tmp_path / "raw", "unaligned", cache_dir=str(tmp_path / "cache"))


def assert_same_rows(pushed, back):
    """Every split, feature, row and value. Exact: strings, ints and float32 scalars and arrays come back from
    Parquet bit for bit, so no tolerance is needed."""
    assert dataset_sizes(back) == dataset_sizes(pushed)
    for split in pushed:
        assert back[split].features == pushed[split].features, split
        original, loaded = pushed[split].with_format("numpy"), back[split].with_format("numpy")
        for i in range(len(original)):
            a, b = original[i], loaded[i]
            assert a.keys() == b.keys()
            for column in a:
                np.testing.assert_array_equal(b[column], a[column], err_msg=f"{split}[{i}].{column}")
                assert np.asarray(b[column]).dtype == np.asarray(a[column]).dtype, column


def test_push_mosi_transcripts_then_a_feature_config_and_read_every_row_back(hub, shared_data, tmp_path):
    repo_id = "hf-msa-test/cmu-mosi-push"
    transcripts = load_msa_dataset("cmu_mosi", shared_data / "mosi", "transcripts", cache_dir=str(tmp_path / "cache"))
    features = fixture_pickle_config(tmp_path)

    first = push_dataset(transcripts, "cmu_mosi", "transcripts", repo_id, max_shard_size="40KB")
    assert first.rows == {"train": 1281, "validation": 229, "test": 685} == dataset_sizes(transcripts)
    assert first.shards["train"] > 1  # sharded by size, as push_to_hub does
    second = push_dataset(features, "cmu_mosi", "unaligned", repo_id)
    assert second.rows == dataset_sizes(features) and second.repo_url.endswith(f"datasets/{repo_id}")

    assert_same_rows(transcripts, load_dataset(repo_id, "transcripts", cache_dir=str(tmp_path / "back")))
    assert_same_rows(features, load_dataset(repo_id, "unaligned", cache_dir=str(tmp_path / "back")))

    card = DatasetCard.load(repo_id, repo_type="dataset")
    ours = DatasetCard.load(dataset_card_path("cmu_mosi"))
    assert card.text == ours.text  # the body: description, citation, licence paragraph, columns
    assert "@article{zadeh2016mosi" in card.text and "**Licence.**" in card.text
    assert (card.data.license, card.data.license_name, card.data.pretty_name) == (
        "other", "cmu-mosi-no-stated-licence", "CMU-MOSI")
    configs = {c["config_name"]: c for c in card.data.configs}
    assert set(configs) == {"transcripts", "unaligned"}  # the second push kept the first config
    assert configs["unaligned"].get("default") and not configs["transcripts"].get("default")
    infos = {i["config_name"]: i for i in card.data.dataset_info}
    assert {s["name"]: s["num_examples"] for s in infos["transcripts"]["splits"]} == first.rows
    assert {s["name"]: s["num_examples"] for s in infos["unaligned"]["splits"]} == second.rows
    audio = next(f for f in infos["unaligned"]["features"] if f["name"] == "audio")
    assert audio["dtype"] == {"array2_d": {"shape": [None, 5], "dtype": "float32"}}
    readme = hub.files(repo_id, "dataset")["README.md"].decode()
    assert readme.count("config_name: unaligned") == 2  # configs + dataset_info, nothing listed without files


def test_cli_push_from_another_directory_finds_the_installed_card(hub, tmp_path):
    repo_id = "hf-msa-test/cmu-mosi-cli"
    raw = tmp_path / "raw"
    write_mmsa_pickle(raw / "aligned_50.pkl", synthetic_mmsa_pickle("mosi", aligned=True, seed=8))
    work = tmp_path / "elsewhere"  # no dataset_scripts/ here: the card must come from the package
    work.mkdir()
    command = [str(Path(sys.executable).parent / "hf-msa"), "data", "push", "cmu_mosi", "--data-dir", str(raw),
               "--config", "aligned", "--repo-id", repo_id, "--private", "--cache-dir", str(tmp_path / "cache")]
    done = subprocess.run(command, cwd=work, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{hub.url}/datasets/{repo_id}" in done.stdout
    assert "rows on the repo per split: {'train': 6, 'validation': 3, 'test': 4}" in done.stdout
    assert HfApi().dataset_info(repo_id).private and "note: the dataset card asks" not in done.stdout
    card = DatasetCard.load(repo_id, repo_type="dataset")
    assert "# CMU-MOSI (hf_msa layout)" in card.text and [c["config_name"] for c in card.data.configs] == ["aligned"]
    back = load_dataset(repo_id, "aligned", cache_dir=str(tmp_path / "back"))
    assert dataset_sizes(back) == {"train": 6, "validation": 3, "test": 4}
    assert back["train"].features["audio"].shape == (None, 5)


def test_export_finds_the_installed_card_from_another_directory(tmp_path, monkeypatch, capsys):
    write_mmsa_pickle(tmp_path / "raw" / "unaligned_50.pkl", synthetic_mmsa_pickle("mosi", seed=1))
    monkeypatch.chdir(tmp_path)
    main(["data", "export", "cmu_mosi", "--data-dir", str(tmp_path / "raw"), "--output", str(tmp_path / "out"),
          "--cache-dir", str(tmp_path / "cache")])
    assert str(dataset_card_path("cmu_mosi")) in capsys.readouterr().out
    assert "# CMU-MOSI (hf_msa layout)" in (tmp_path / "out" / "README.md").read_text()


def test_push_without_a_token_is_one_clear_error(hub, tmp_path, monkeypatch, capsys):
    from huggingface_hub import get_token

    monkeypatch.delenv("HF_TOKEN")
    assert get_token() is None  # nothing stored in the session's temporary HF_HOME either
    repo_id = "hf-msa-test/no-token"
    with pytest.raises(HubError, match=r"hf-msa-test/no-token: no Hub token .*HF_TOKEN.*`hf auth login`"):
        push_dataset(fixture_pickle_config(tmp_path), "cmu_mosi", "unaligned", repo_id, token=None)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "push", "cmu_mosi", "--data-dir", str(tmp_path / "raw"), "--repo-id", repo_id])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback (most recent" not in err and len(err.strip().splitlines()) == 1
    assert "hf-msa data: error: hf-msa-test/no-token: no Hub token to push with" in err
    assert not hub.repo_exists(repo_id, "dataset")


def test_illegal_repo_id_and_unknown_names_are_clear_errors(hub, tmp_path, capsys):
    data = fixture_pickle_config(tmp_path)
    with pytest.raises(ValueError, match=r"repo id 'not a repo id' is not a Hub repo id"):
        push_dataset(data, "cmu_mosi", "unaligned", "not a repo id")
    with pytest.raises(ValueError, match=r"unknown dataset 'iemocap'; choose one of \['ch_sims', 'cmu_mosei'"):
        push_dataset(data, "iemocap", "unaligned", "hf-msa-test/iemocap")
    with pytest.raises(ValueError, match=r"cmu_mosi has no config 'raw'"):
        push_dataset(data, "cmu_mosi", "raw", "hf-msa-test/raw")
    for argv, message in (
        (["--repo-id", "not a repo id"], "--repo-id 'not a repo id': not a Hub repo id"),
        ([], "data push needs --repo-id ORG/NAME"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["data", "push", "cmu_mosi", "--data-dir", str(tmp_path / "raw"), *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "push", "iemocap", "--data-dir", str(tmp_path / "raw"), "--repo-id", "hf-msa-test/iemocap"])
    assert exit_info.value.code == 2
    assert "hf-msa data: error: unknown dataset 'iemocap'; choose one of" in capsys.readouterr().err
    assert not any(hub.repo_exists(r, "dataset") for r in ("hf-msa-test/iemocap", "hf-msa-test/raw"))


def test_push_to_a_branch_leaves_main_alone(hub, tmp_path):
    repo_id = "hf-msa-test/cmu-mosi-branch"
    data = fixture_pickle_config(tmp_path, seed=5)
    result = push_dataset(data, "cmu_mosi", "unaligned", repo_id, revision="v1")
    assert result.rows == dataset_sizes(data)
    on_branch, on_main = hub.files(repo_id, "dataset", "v1"), hub.files(repo_id, "dataset")
    assert "README.md" in on_branch and any(p.startswith("unaligned/") for p in on_branch)
    assert not any(p.startswith("unaligned/") or p == "README.md" for p in on_main)
    assert_same_rows(data, load_dataset(repo_id, "unaligned", revision="v1", cache_dir=str(tmp_path / "back")))
