"""The .csd and MVSA-Single readers on the real files in ../shared/data and on small files written here."""

import csv
import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

from hf_msa.data.csd import read_csd, read_csd_metadata
from hf_msa.data.mvsa import clean_pair, read_mvsa_clmlf, read_mvsa_original

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (see shared/data/SOURCES.md)")
    return SHARED_DATA


# ---------------------------------------------------------------- real files


def test_real_mosi_csd_segments_and_metadata(shared_data):
    rows = read_csd(shared_data / "mosi" / "CMU_MOSI_Opinion_Labels.csd")
    assert len(rows) == 2199
    assert len({row["video_id"] for row in rows}) == 93
    assert len({row["id"] for row in rows}) == 2199
    assert all(-3.0 <= row["label"] <= 3.0 for row in rows)
    assert all(0.0 <= row["start"] <= row["end"] for row in rows)
    # one zero-length segment in the real file, one of the four clips label.csv leaves out
    assert [row["id"] for row in rows if row["start"] == row["end"]] == ["2WGyTLYerpo_44"]
    keys = [(row["video_id"], int(row["clip_id"])) for row in rows]
    assert keys == sorted(keys)
    first = rows[0]
    assert (first["id"], first["video_id"], first["clip_id"]) == ("03bSnISJMiM_1", "03bSnISJMiM", "1")
    assert first["label"] == pytest.approx(2.4, abs=1e-6)
    assert first["start"] == pytest.approx(51.904533, abs=1e-4)

    metadata = read_csd_metadata(shared_data / "mosi" / "CMU_MOSI_Opinion_Labels.csd")
    assert metadata["dataset name"] == "CMU-MOSI"
    assert metadata["creator"] == "Amir Zadeh"
    assert metadata["root name"] == "Opinion Segment Labels"
    assert metadata["computational sequence version"] == "1.0"
    assert all(isinstance(value, str) for value in metadata.values())


def test_real_mosi_label_csv_agrees_with_csd(shared_data):
    by_id = {row["id"]: row["label"] for row in read_csd(shared_data / "mosi" / "CMU_MOSI_Opinion_Labels.csd")}
    with (shared_data / "mosi" / "label.csv").open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 2195
    missing = [row["id"] for row in table if row["id"] not in by_id]
    assert missing == []
    worst = max(abs(float(row["label"]) - by_id[row["id"]]) for row in table)
    assert worst < 1e-6
    assert set(by_id) - {row["id"] for row in table} == {
        "2WGyTLYerpo_44", "5W7Z1C_fDaE_24", "BioHAh1qJAQ_30", "lXPQBPVc5Cw_30"}


def test_real_mvsa_clmlf_splits(shared_data):
    splits = read_mvsa_clmlf(shared_data / "mvsa_single" / "clmlf" / "10-flod-1")
    assert list(splits) == ["train", "validation", "test"]
    assert [len(rows) for rows in splits.values()] == [3611, 450, 450]
    every = [row for rows in splits.values() for row in rows]
    assert len({row["id"] for row in every}) == 4511
    assert Counter(row["label"] for row in every) == {0: 2683, 1: 470, 2: 1358}
    assert all(isinstance(row["id"], str) and isinstance(row["text"], str) for row in every)
    assert splits["validation"][0] == {"id": "16", "label": 0, "text": (
        "RT @VenusCaelestis: You are a #manifestation of energetic potential. #truth #quote #DivineSociety")}


# ---------------------------------------------------------------- .csd written here

BYTES = h5py.special_dtype(vlen=bytes)


def write_csd(path: Path, videos: dict, metadata: dict | None = None, root: str = "Opinion Segment Labels",
              extra_roots: tuple[str, ...] = ()) -> Path:
    """The SDK's layout: <root>/data/<video>/{features,intervals} and <root>/metadata/<key> = [b'<json>']."""
    with h5py.File(path, "w") as handle:
        for name in (root, *extra_roots):
            group = handle.create_group(name)
            data = group.create_group("data")
            for video_id, (features, intervals) in videos.items():
                video = data.create_group(video_id)
                video.create_dataset("features", data=np.asarray(features, dtype=np.float32))
                video.create_dataset("intervals", data=np.asarray(intervals, dtype=np.float32))
            meta = group.create_group("metadata")
            for key, value in (metadata or {}).items():
                meta.create_dataset(key, data=np.array([value.encode()], dtype=object), dtype=BYTES)
    return path


def test_tiny_csd_read_back_exactly(tmp_path):
    videos = {
        "vidB": ([[1.5]], [[0.0, 2.5]]),
        "vidA": ([[-3.0], [0.25], [2.0]], [[1.0, 2.0], [2.0, 3.5], [4.0, 8.0]]),
    }
    metadata = {"dataset name": '"TINY"', "dataset version": "1.0", "dimension names": '["sentiment score"]',
                "md5": "null"}
    path = write_csd(tmp_path / "tiny.csd", videos, metadata)
    assert read_csd(path) == [
        {"id": "vidA_1", "video_id": "vidA", "clip_id": "1", "label": -3.0, "start": 1.0, "end": 2.0},
        {"id": "vidA_2", "video_id": "vidA", "clip_id": "2", "label": 0.25, "start": 2.0, "end": 3.5},
        {"id": "vidA_3", "video_id": "vidA", "clip_id": "3", "label": 2.0, "start": 4.0, "end": 8.0},
        {"id": "vidB_1", "video_id": "vidB", "clip_id": "1", "label": 1.5, "start": 0.0, "end": 2.5},
    ]
    assert read_csd_metadata(path) == {"dataset name": "TINY", "dataset version": "1.0",
                                       "dimension names": '["sentiment score"]', "md5": "null"}


def test_csd_length_mismatch_names_file_video_and_lengths(tmp_path):
    path = write_csd(tmp_path / "broken.csd", {"ok": ([[0.0]], [[0.0, 1.0]]),
                                                "bad": ([[0.0], [1.0], [2.0]], [[0.0, 1.0], [1.0, 2.0]])})
    with pytest.raises(ValueError) as info:
        read_csd(path)
    message = str(info.value)
    assert "broken.csd" in message and "'bad'" in message and "3" in message and "2" in message


def test_csd_with_several_feature_dims_is_refused_not_truncated(tmp_path):
    path = write_csd(tmp_path / "features.csd", {"v1": (np.zeros((2, 3)), [[0.0, 1.0], [1.0, 2.0]])})
    with pytest.raises(ValueError, match=r"features.csd: video 'v1': a label sequence has features of shape"):
        read_csd(path)


def test_csd_not_hdf5_names_file(tmp_path):
    path = tmp_path / "fake.csd"
    path.write_text("id,label\nx_1,0.5\n")
    with pytest.raises(ValueError, match="fake.csd"):
        read_csd(path)
    with pytest.raises(ValueError, match="fake.csd"):
        read_csd_metadata(path)


def test_csd_missing_file_and_several_roots(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.csd"):
        read_csd(tmp_path / "absent.csd")
    path = write_csd(tmp_path / "two.csd", {"v": ([[0.0]], [[0.0, 1.0]])}, extra_roots=("Other Labels",))
    with pytest.raises(ValueError, match="Opinion Segment Labels") as info:
        read_csd(path)
    assert "Other Labels" in str(info.value)


# ---------------------------------------------------------------- MVSA original layout written here

# id: (text label, image label, expected label id or None when dropped, has a .jpg)
PAIRS = {
    "101": ("positive", "positive", 0, True),
    "102": ("neutral", "neutral", 1, False),
    "103": ("negative", "negative", 2, True),
    "104": ("positive", "neutral", 0, False),
    "105": ("neutral", "positive", 0, True),
    "106": ("negative", "neutral", 2, False),
    "107": ("neutral", "negative", 2, True),
    "108": ("positive", "negative", None, False),
    "109": ("negative", "positive", None, False),
    "110": ("positive", "positive", 0, True),
    "111": ("negative", "neutral", 2, True),
    "112": ("neutral", "neutral", 1, True),
}


def write_mvsa(folder: Path, pairs=PAIRS, images=True) -> Path:
    data = folder / "data"
    data.mkdir(parents=True)
    lines = ["ID\ttext,image"] + [f"{i}\t{t},{v}" for i, (t, v, _, _) in pairs.items()]
    (folder / "labelResultAll.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for item_id, (_, _, expected, has_jpg) in pairs.items():
        if expected is None:
            continue  # dropped pairs need no files
        (data / f"{item_id}.txt").write_bytes(f"tweet {item_id} ".encode() + b"\xff\n")
        if images and has_jpg:
            (data / f"{item_id}.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    return folder


def test_clean_pair_rule():
    assert clean_pair("positive", "negative") is None and clean_pair("negative", "positive") is None
    assert clean_pair("neutral", "negative") == "negative" and clean_pair("positive", "neutral") == "positive"
    assert clean_pair("neutral", "neutral") == "neutral"


def test_mvsa_original_cleaning_row_by_row(tmp_path):
    folder = write_mvsa(tmp_path / "MVSA_Single")
    splits = read_mvsa_original(folder, require_images=False)
    assert list(splits) == ["train", "validation", "test"]
    assert splits.dropped == 2 and splits.dropped_ids == ("108", "109")
    assert type(splits.splits) is dict and splits.splits == dict(splits)
    rows = {row["id"]: row for part in splits.values() for row in part}
    assert set(rows) == {i for i, pair in PAIRS.items() if pair[2] is not None}
    for item_id, (text_label, image_label, expected, has_jpg) in PAIRS.items():
        if expected is None:
            continue
        row = rows[item_id]
        assert (row["label"], row["text_label"], row["image_label"]) == (expected, text_label, image_label), item_id
        assert row["text"] == f"tweet {item_id} \ufffd"
        if has_jpg:
            assert row["image"] == str((folder / "data" / f"{item_id}.jpg").resolve())
            assert Path(row["image"]).is_absolute()
        else:
            assert row["image"] is None


def test_mvsa_original_split_sizes_and_determinism(tmp_path):
    folder = write_mvsa(tmp_path / "m")
    first = read_mvsa_original(folder, require_images=False, split_seed=7)
    again = read_mvsa_original(folder, require_images=False, split_seed=7)
    assert [len(first[s]) for s in first] == [8, 1, 1]
    assert first == again
    for part in first.values():
        assert [row["id"] for row in part] == sorted(row["id"] for row in part)
    others = [read_mvsa_original(folder, require_images=False, split_seed=seed) for seed in range(5)]
    assert any(other["test"] != first["test"] or other["validation"] != first["validation"] for other in others)
    wide = read_mvsa_original(folder, require_images=False, split_fractions=(0.6, 0.2, 0.2))
    assert [len(wide[s]) for s in wide] == [6, 2, 2]
    with pytest.raises(ValueError, match="split_fractions"):
        read_mvsa_original(folder, require_images=False, split_fractions=(0.8, 0.1, 0.2))


def test_mvsa_original_images_required(tmp_path):
    folder = write_mvsa(tmp_path / "m")
    with pytest.raises(FileNotFoundError) as info:
        read_mvsa_original(folder, require_images=True)
    assert "102" in str(info.value) and str(folder / "data") in str(info.value)

    complete = {i: (t, v, e, True) for i, (t, v, e, _) in PAIRS.items()}
    full = write_mvsa(tmp_path / "full", complete)
    splits = read_mvsa_original(full, require_images=True)
    images = [row["image"] for part in splits.values() for row in part]
    assert len(images) == 10 and all(image is not None and Path(image).is_file() for image in images)


def test_mvsa_original_missing_text_names_id(tmp_path):
    folder = write_mvsa(tmp_path / "m")
    (folder / "data" / "106.txt").unlink()
    with pytest.raises(FileNotFoundError, match="106"):
        read_mvsa_original(folder, require_images=False)


@pytest.mark.parametrize("bad_line", ["103\tpositive", "103\tpositive,happy", "103 positive,neutral",
                                      "103\tpositive,neutral\tnegative,negative"])
def test_mvsa_original_malformed_line_names_line_number(tmp_path, bad_line):
    folder = write_mvsa(tmp_path / "m")
    path = folder / "labelResultAll.txt"
    lines = path.read_text().splitlines()
    lines[3] = bad_line  # line 4 of the file
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"labelResultAll\.txt:4:"):
        read_mvsa_original(folder, require_images=False)


# ---------------------------------------------------------------- CLMLF JSON written here


def write_clmlf(folder: Path, **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"train.json": [{"id": "1", "text": "a", "emotion_label": 0}, {"id": 2, "text": "b", "emotion_label": 2}],
             "dev.json": [{"id": "3", "text": "c", "emotion_label": 1}],
             "test.json": [{"id": "4", "text": "d", "emotion_label": 0}]}
    files.update(overrides)
    for name, rows in files.items():
        if rows is not None:
            (folder / name).write_text(json.dumps(rows), encoding="utf-8")
    return folder


def test_clmlf_tiny_read_back(tmp_path):
    splits = read_mvsa_clmlf(write_clmlf(tmp_path / "c"))
    assert splits == {"train": [{"id": "1", "text": "a", "label": 0}, {"id": "2", "text": "b", "label": 2}],
                      "validation": [{"id": "3", "text": "c", "label": 1}],
                      "test": [{"id": "4", "text": "d", "label": 0}]}


def test_clmlf_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="test.json"):
        read_mvsa_clmlf(write_clmlf(tmp_path / "missing", **{"test.json": None}))
    with pytest.raises(ValueError, match=r"dev\.json: row 0 .*got 3"):
        read_mvsa_clmlf(write_clmlf(tmp_path / "label", **{"dev.json": [{"id": "3", "text": "c", "emotion_label": 3}]}))
    with pytest.raises(ValueError, match=r"dev\.json: row 0 .*got True"):
        read_mvsa_clmlf(write_clmlf(tmp_path / "bool", **{"dev.json": [{"id": "3", "text": "c",
                                                                            "emotion_label": True}]}))
    bad_key = [{"id": "1", "text": "a", "emotion_label": 0}, {"id": "2", "emotion_label": 1}]
    with pytest.raises(ValueError, match=r"train\.json: row 1 has no 'text' key"):
        read_mvsa_clmlf(write_clmlf(tmp_path / "key", **{"train.json": bad_key}))
