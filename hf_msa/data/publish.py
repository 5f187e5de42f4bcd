"""Publish a loaded dataset as a Hub dataset repo: Parquet shards from `DatasetDict.push_to_hub`, our dataset card.

`push_dataset` pushes one config at a time; `datasets.load_dataset(repo_id, config)` reads it back. The card is
`dataset_scripts/<name>/README.md`, found from the installed package (`dataset_card_path`), never from the current
directory. Order of operations, measured against the local Hub of the tests:

1. the card goes up first: its body, licence, citation and metadata from the package, with the `configs:` and
   `dataset_info` already on the repo (only configs whose files are there: a listed config without files makes the
   whole repo unreadable to `datasets`);
2. `DatasetDict.push_to_hub` then uploads the shards (split by size, `max_shard_size`) and, in the same commit,
   rewrites the README it finds: it keeps the body and every other YAML field and adds this config's `configs:` entry
   and `dataset_info` (features, split sizes), keeping the other configs' entries.

The final card therefore lands in the same commit as the shards it describes. The reverse order (shards first, card
after) also ends with the right card, but it needs a YAML merge of our own and leaves a commit whose README is the
bare card `datasets` writes.
"""

from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import DatasetCard

from ..hub import HubError, check_repo_id, hub_errors
from .catalog import dataset_spec
from .loading import dataset_sizes


@dataclass
class PushResult:
    """What a push left on the repo: `rows` and `shards` per split as the repo states them after the commit."""

    repo_id: str
    config_name: str
    repo_url: str
    commit_url: str
    rows: dict[str, int] = field(default_factory=dict)
    shards: dict[str, int] = field(default_factory=dict)


def dataset_card_path(name: str) -> Path:
    """`dataset_scripts/<name>/README.md` as installed with hf_msa (package data), whatever the current directory."""
    from importlib.resources import files

    spec = dataset_spec(name)
    candidates = []
    try:
        candidates.append(Path(str(files("dataset_scripts") / spec.name / "README.md")))
    except ModuleNotFoundError:
        pass
    # beside hf_msa/: the checkout, for an editable install made before dataset_scripts became package data
    candidates.append(Path(__file__).resolve().parents[2] / "dataset_scripts" / spec.name / "README.md")
    card = next((path for path in candidates if path.is_file()), None)
    if card is None:
        raise FileNotFoundError(f"the dataset card of {spec.name} is not installed (looked for {candidates[0]}): "
                                "reinstall hf_msa")
    return card


def hub_token(repo_id: str, token: str | None = None) -> str:
    """`token`, else the one huggingface_hub finds (HF_TOKEN, then the file `hf auth login` writes)."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubError(f"{repo_id}: no Hub token to push with: set HF_TOKEN or log in with `hf auth login`")
    return token


def _data_files(config: dict) -> list[str]:
    patterns = []
    for entry in config.get("data_files") or []:
        paths = entry.get("path") if isinstance(entry, dict) else entry
        patterns += [paths] if isinstance(paths, str) else list(paths)
    return patterns


def _infos(card_data) -> list[dict]:
    info = card_data.get("dataset_info")
    return [info] if isinstance(info, dict) else list(info or [])


def card_for_repo(name: str, remote: DatasetCard | None, repo_files: list[str]) -> DatasetCard:
    """Our card for `name` with the `configs:` and `dataset_info` of `remote` (the repo's README), keeping only the
    configs whose data files are on the repo. The default config is the dataset's default once it is pushed, until
    then the first one pushed."""
    card = DatasetCard(dataset_card_path(name).read_text(encoding="utf-8"))
    configs = [dict(c) for c in (remote.data.configs or []) if any(fnmatch(f, p) for p in _data_files(c)
                                                                    for f in repo_files)] if remote else []
    if configs and not any(c.get("default") or c["config_name"] == "default" for c in configs):
        # explicit, as `export_dataset` does: push_to_hub(set_default=True) fails (KeyError 'default', datasets 5.2)
        # when the repo's one config is the default only by being alone
        configs[0]["default"] = True
    kept = {c["config_name"] for c in configs}
    infos = [i for i in _infos(remote.data) if i.get("config_name", "default") in kept] if remote else []
    card.data.configs = configs or None
    card.data.dataset_info = (infos[0] if len(infos) == 1 else infos) or None
    return card


def _remote_card(api, repo_id: str, revision: str | None) -> tuple[DatasetCard | None, list[str]]:
    files = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
    if "README.md" not in files:
        return None, files
    path = api.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision)
    return DatasetCard(Path(path).read_text(encoding="utf-8")), files


def push_dataset(dataset: DatasetDict, name: str, config_name: str, repo_id: str, *, private: bool = False,
                 revision: str | None = None, token: str | None = None,
                 max_shard_size: int | str | None = None) -> PushResult:
    """Push `dataset` (a `load_msa_dataset` result) as config `config_name` of dataset repo `repo_id` with the card of
    dataset `name`; earlier configs on the repo stay listed. `max_shard_size` defaults to datasets' 500MB; `revision`
    is a branch, created from main when missing. Raises `HubError` without a token or when the Hub refuses it, and
    `ValueError` for an illegal repo id, an unknown dataset or config, or rows the repo does not report back."""
    from huggingface_hub import HfApi

    spec = dataset_spec(name)
    if config_name not in spec.configs:
        raise ValueError(f"{spec.name} has no config {config_name!r}; choose one of {sorted(spec.configs)}")
    check_repo_id(repo_id)
    token = hub_token(repo_id, token)
    api = HfApi(token=token)
    with hub_errors(repo_id, revision):
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision is not None and not revision.startswith("refs/pr/"):
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        remote, files = _remote_card(api, repo_id, revision)
        card = card_for_repo(spec.name, remote, files)
        if remote is None or (card.data.to_dict(), card.text) != (remote.data.to_dict(), remote.text):
            api.upload_file(path_or_fileobj=str(card).encode(), path_in_repo="README.md", repo_id=repo_id,
                            repo_type="dataset", revision=revision,
                            commit_message=f"Dataset card of {spec.pretty_name} from hf_msa")
        commit = dataset.push_to_hub(
            repo_id, config_name=config_name, set_default=True if config_name == spec.default_config else None,
            private=private, token=token, revision=revision, max_shard_size=max_shard_size,
            commit_message=f"Upload {spec.pretty_name} [{config_name}] with hf_msa",
        )
        remote, files = _remote_card(api, repo_id, commit.oid)
    info = next((i for i in _infos(remote.data) if i.get("config_name", "default") == config_name), {})
    rows = {s["name"]: s["num_examples"] for s in info.get("splits", [])}
    if rows != dataset_sizes(dataset):
        raise ValueError(f"{repo_id} [{config_name}]: the repo's card reports rows {rows} where "
                         f"{dataset_sizes(dataset)} were pushed")
    shards = {s: sum(f.startswith(f"{config_name}/{s}-") and f.endswith(".parquet") for f in files) for s in rows}
    return PushResult(repo_id, config_name, str(repo_url), commit.commit_url, rows, shards)


__all__ = ["PushResult", "card_for_repo", "dataset_card_path", "hub_token", "push_dataset"]
