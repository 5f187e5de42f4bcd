"""Round trips through huggingface_hub and datasets over HTTP against the session's `LocalHub` (no mocks).

Every repo name is unique to its test because the hub lives for the whole session.
"""

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, HfFileSystem, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .hub_server import LocalHub

SAFETENSORS_BYTES = bytes(range(256)) * 4  # binary: the Hub sends it through LFS


@pytest.fixture(autouse=True)
def no_unknown_routes(local_hub):
    """Each test must only hit routes the LocalHub knows, and must not trip a server-side bug."""
    known, errors = len(local_hub.unknown), len(local_hub.errors)
    yield
    assert local_hub.unknown[known:] == [], "huggingface_hub called routes LocalHub does not implement"
    assert local_hub.errors[errors:] == []


@pytest.fixture
def api():
    return HfApi()


def upload(api, repo_id, folder, files, **kwargs):
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return api.upload_folder(folder_path=folder, repo_id=repo_id, **kwargs)


def test_create_repo_public_private_and_exist_ok(local_hub, api):
    public = api.create_repo("tester/created-public")
    private = api.create_repo("tester/created-private", private=True)
    assert public == f"{local_hub.url}/tester/created-public" and public.repo_id == "tester/created-public"
    assert api.model_info("tester/created-public").private is False
    assert api.model_info(private.repo_id).private is True

    # The Hub answers 409 with the url; create_repo(exist_ok=True) reads it, exist_ok=False raises.
    assert api.create_repo("tester/created-public", exist_ok=True) == public
    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo("tester/created-public")
    assert error.value.response.status_code == 409

    # Like the Hub, a new repo starts with one commit holding .gitattributes; the namespace defaults to the user.
    assert api.whoami()["name"] == "tester"
    assert api.create_repo("no-namespace").repo_id == "tester/no-namespace"
    assert list(local_hub.files("tester/created-public")) == [".gitattributes"]
    assert len(local_hub.commits("tester/created-public")) == 1


def test_upload_folder_text_and_lfs_then_download(local_hub, api, tmp_path):
    repo_id = api.create_repo("tester/upload-model").repo_id
    upload(api, repo_id, tmp_path / "model", {"config.json": '{"hidden_size": 4}',
                                              "model.safetensors": SAFETENSORS_BYTES})

    # The binary file went through the LFS batch API and the pre-signed PUT, then the commit.
    assert ("POST", f"/{repo_id}.git/info/lfs/objects/batch") in local_hub.log
    assert any(method == "PUT" and path.startswith("/lfs-upload/") for method, path in local_hub.log)
    stored = local_hub.files(repo_id)
    assert stored["model.safetensors"] == SAFETENSORS_BYTES and stored["config.json"] == b'{"hidden_size": 4}'

    assert api.list_repo_files(repo_id) == [".gitattributes", "config.json", "model.safetensors"]
    weights = hf_hub_download(repo_id, "model.safetensors", cache_dir=tmp_path / "cache")
    config = hf_hub_download(repo_id, "config.json", cache_dir=tmp_path / "cache")
    assert open(weights, "rb").read() == SAFETENSORS_BYTES
    assert open(config).read() == '{"hidden_size": 4}'

    info = api.model_info(repo_id, files_metadata=True)
    assert info.sha == local_hub.commits(repo_id)[-1].oid
    siblings = {sibling.rfilename: sibling for sibling in info.siblings}
    assert siblings["model.safetensors"].lfs.size == len(SAFETENSORS_BYTES)
    assert siblings["config.json"].lfs is None

    # Unchanged files are not committed again: no new commit for the same content.
    commits = len(local_hub.commits(repo_id))
    upload(api, repo_id, tmp_path / "model", {})
    assert len(local_hub.commits(repo_id)) == commits


def test_download_at_main_at_a_branch_and_at_an_older_commit(local_hub, api, tmp_path):
    repo_id = api.create_repo("tester/revisions").repo_id
    first = upload(api, repo_id, tmp_path / "v1", {"weights.safetensors": b"\x00old", "notes.txt": "old"})
    api.create_branch(repo_id, branch="release/v1")  # a "/" travels as %2F
    upload(api, repo_id, tmp_path / "v2", {"weights.safetensors": b"\x00new", "notes.txt": "new"})

    def read(filename, revision):
        return open(hf_hub_download(repo_id, filename, revision=revision, cache_dir=tmp_path / "cache"), "rb").read()

    assert read("notes.txt", "main") == b"new" and read("weights.safetensors", "main") == b"\x00new"
    assert read("notes.txt", "release/v1") == b"old" and read("weights.safetensors", "release/v1") == b"\x00old"
    assert read("notes.txt", first.oid) == b"old" and read("weights.safetensors", first.oid) == b"\x00old"

    # Committing to the branch moves only the branch.
    api.upload_file(path_or_fileobj=b"patched", path_in_repo="notes.txt", repo_id=repo_id, revision="release/v1")
    assert local_hub.files(repo_id, revision="release/v1")["notes.txt"] == b"patched"
    assert local_hub.files(repo_id)["notes.txt"] == b"new"
    refs = api.list_repo_refs(repo_id)
    assert {branch.name for branch in refs.branches} == {"main", "release/v1"}
    assert [commit.commit_id for commit in api.list_repo_commits(repo_id)][-2] == first.oid


def test_missing_repo_revision_and_file_raise_the_usual_errors(api, tmp_path):
    repo_id = api.create_repo("tester/errors").repo_id
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("tester/does-not-exist", "config.json", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("tester/does-not-exist")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, ".gitattributes", revision="no-such-branch", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="0" * 40)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.json", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):  # committing to a branch that does not exist
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id, revision="no-such-branch")


def test_writes_without_a_token_are_refused_with_401(local_hub, api, tmp_path, monkeypatch):
    repo_id = api.create_repo("tester/no-token").repo_id
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(HfHubHTTPError) as error:
        api.upload_folder(folder_path=tmp_path, repo_id=repo_id, token=False)
    assert error.value.response.status_code == 401

    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HfHubHTTPError) as error:
        HfApi().create_repo("tester/never-created")
    assert error.value.response.status_code == 401
    assert not local_hub.repo_exists("tester/never-created")
    assert list(local_hub.files(repo_id)) == [".gitattributes"]


def test_private_repo_reads_need_a_token(api, tmp_path):
    repo_id = api.create_repo("tester/secret", private=True).repo_id
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)

    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "config.json", token=False, cache_dir=tmp_path / "anonymous")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id, token=False)
    assert open(hf_hub_download(repo_id, "config.json", cache_dir=tmp_path / "owner")).read() == "{}"


def test_commit_operations_parent_commit_and_readme_card(local_hub, api):
    repo_id = api.create_repo("tester/operations").repo_id
    card = "---\nlicense: mit\ntags:\n- hf_msa\n---\n# A model\n"
    first = api.create_commit(repo_id, commit_message="add", operations=[
        CommitOperationAdd("README.md", card.encode()),
        CommitOperationAdd("sub/a.txt", b"a"), CommitOperationAdd("sub/b.txt", b"b")])
    info = api.model_info(repo_id)
    assert info.card_data["license"] == "mit" and info.tags == ["hf_msa"]

    api.create_commit(repo_id, commit_message="remove sub", parent_commit=first.oid,
                      operations=[CommitOperationDelete("sub/")])
    assert set(local_hub.files(repo_id)) == {".gitattributes", "README.md"}
    before = {".gitattributes", "README.md", "sub/a.txt", "sub/b.txt"}
    assert set(local_hub.files(repo_id, revision=first.oid)) == before

    with pytest.raises(HfHubHTTPError) as error:  # main moved on since `first`
        api.create_commit(repo_id, commit_message="late", parent_commit=first.oid,
                          operations=[CommitOperationAdd("late.txt", b"late")])
    assert error.value.response.status_code == 412
    with pytest.raises(ValueError, match="Invalid metadata"):  # /api/validate-yaml rejects a broken front matter
        api.upload_file(path_or_fileobj=b"---\nlicense: [mit\n---\n", path_in_repo="README.md", repo_id=repo_id)


def test_tree_paths_info_and_range_reads(api):
    repo_id = api.create_repo("tester/tree", repo_type="dataset").repo_id
    api.create_commit(repo_id, repo_type="dataset", commit_message="data", operations=[
        CommitOperationAdd("data/train.parquet", SAFETENSORS_BYTES), CommitOperationAdd("data/x/readme.txt", b"x")])

    top = {entry.path for entry in api.list_repo_tree(repo_id, repo_type="dataset")}
    assert top == {".gitattributes", "data"}
    everything = {entry.path for entry in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True)}
    assert everything == {".gitattributes", "data", "data/train.parquet", "data/x", "data/x/readme.txt"}
    infos = api.get_paths_info(repo_id, ["data/train.parquet", "data", "missing"], repo_type="dataset")
    assert [(info.path, type(info).__name__) for info in infos] == [("data/train.parquet", "RepoFile"),
                                                                     ("data", "RepoFolder")]

    with HfFileSystem().open(f"datasets/{repo_id}/data/train.parquet", "rb", block_size=16) as f:
        f.seek(300)
        assert f.read(8) == SAFETENSORS_BYTES[300:308]


def test_dataset_dict_push_to_hub_then_load_dataset(local_hub, tmp_path):
    import datasets

    splits = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["good", "bad", "fine"], "label": [1.5, -2.0, 0.0]}),
        "test": datasets.Dataset.from_dict({"text": ["meh"], "label": [0.25]}),
    })
    splits.push_to_hub("tester/tiny", config_name="default")

    stored = local_hub.files("tester/tiny", repo_type="dataset")
    assert "README.md" in stored and sum(path.endswith(".parquet") for path in stored) == 2
    loaded = datasets.load_dataset("tester/tiny", "default", cache_dir=str(tmp_path))
    assert set(loaded) == {"train", "test"}
    for split in splits:
        assert loaded[split].to_list() == splits[split].to_list()


def test_a_hub_of_its_own_checks_tokens_and_keeps_repos_on_disk(tmp_path):
    with LocalHub(tmp_path / "hub", tokens={"hf_right"}) as hub:
        api = HfApi(endpoint=hub.url, token="hf_right")
        api.create_repo("tester/persisted")
        api.upload_file(path_or_fileobj=b"kept", path_in_repo="kept.txt", repo_id="tester/persisted")
        with pytest.raises(HfHubHTTPError) as error:
            HfApi(endpoint=hub.url, token="hf_wrong").create_repo("tester/refused")
        assert error.value.response.status_code == 401
        assert hub.unknown == []
    assert (tmp_path / "hub" / "repos" / "model" / "tester" / "persisted.json").is_file()

    with LocalHub(tmp_path / "hub") as reopened:  # a given root is kept by stop() and loaded back
        assert reopened.files("tester/persisted")["kept.txt"] == b"kept"
