"""Every bad input a dataset reader can meet fails at load time naming the file, the row (or clip id) and the field.

CASES is the table: (id, a function that writes the bad file into tmp_path and calls the reader, the exception type,
substrings the message must contain). What is kept under a documented rule (lengths inferred from padding,
unlabelled / untranscribed extracted clips, undecodable tweets) and the cache key have their own tests below.
"""

import os
import warnings

import numpy as np
import pytest

from hf_msa.data import (
    DataWarning,
    MSADataCollator,
    load_msa_dataset,
    read_mmsa_pickle,
    synthetic_mmsa_pickle,
    write_mmsa_pickle,
)
from hf_msa.data import loading
from hf_msa.data.label_csv import label_csv_rows
from hf_msa.data.mvsa import read_mvsa_clmlf, read_mvsa_original

from .test_readers_csd_mvsa import write_clmlf, write_csd, write_mvsa

# ---- writers and callers -------------------------------------------------------------------------------------------

MOSI_HEADER = "id,text,label,mode\n"
SIMS_HEADER = "video_id,clip_id,label,label_T,label_A,label_V,mode\n"


def mosi_csv(body: str | bytes, header: str = MOSI_HEADER):
    """Write a MOSI label.csv and load it through the loader (which passes MOSI's range [-3, 3])."""
    def run(tmp_path):
        data = body if isinstance(body, bytes) else body.encode()
        (tmp_path / "label.csv").write_bytes(header.encode() + data)
        return load_msa_dataset("cmu_mosi", tmp_path, "transcripts", keep_in_memory=True)
    return run


def sims_csv(body: str):
    def run(tmp_path):
        (tmp_path / "label.csv").write_text(SIMS_HEADER + body, encoding="utf-8")
        return load_msa_dataset("ch_sims", tmp_path, "v2_labels", keep_in_memory=True)
    return run


def pickle_case(mutate, dataset="mosi", sizes=None):
    """Write a synthetic file in the exact MMSA layout, break it with `mutate`, load it as load_msa_dataset does."""
    name, config, file = {"mosi": ("cmu_mosi", "unaligned", "unaligned_50.pkl"),
                          "sims": ("ch_sims", "v1_unaligned", "unaligned_39.pkl")}[dataset]

    def run(tmp_path):
        content = synthetic_mmsa_pickle(dataset, sizes=sizes, seed=3, text_dim=8)
        mutate(content)
        write_mmsa_pickle(tmp_path / file, content)
        return load_msa_dataset(name, tmp_path, config, keep_in_memory=True)
    return run


def setitem(split, key, row, value):
    def mutate(content):
        content[split][key][row] = value
    return mutate


def assign(split, key, value_of):
    def mutate(content):
        content[split][key] = value_of(content[split][key])
    return mutate


def with_float_lengths(content):
    content["train"]["vision_lengths"] = content["train"]["vision_lengths"].astype(np.float64)
    content["train"]["vision_lengths"][1] = 3.5


def with_ragged_audio(content):
    audio = content["train"]["audio"]
    content["train"]["audio"] = [audio[i, : i + 1] for i in range(len(audio))]  # unpadded: a list of [i + 1, 5]


def with_same_id_across_splits(content):
    content["test"]["id"][0] = content["train"]["id"][1]


def csd_case(videos, beside: str | None = None):
    def run(tmp_path):
        write_csd(tmp_path / "CMU_MOSI_Opinion_Labels.csd", videos)
        if beside is not None:
            (tmp_path / "label.csv").write_text(beside, encoding="utf-8")
        return load_msa_dataset("cmu_mosi", tmp_path, "sdk_labels", keep_in_memory=True)
    return run


def clmlf_case(raw: dict | None = None, **files):
    def run(tmp_path):
        folder = write_clmlf(tmp_path / "c", **files)
        for name, content in (raw or {}).items():
            (folder / name).write_bytes(content)
        return read_mvsa_clmlf(folder)
    return run


def mvsa_original_case(edit):
    def run(tmp_path):
        folder = write_mvsa(tmp_path / "m")
        edit(folder)
        return read_mvsa_original(folder, require_images=False)
    return run


def latin1_label_line(folder):
    path = folder / "labelResultAll.txt"
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"102\tneutral,neutral \xe9"  # line 3
    path.write_bytes(b"\n".join(lines))


GOOD = "a_1,good,1.0,train\n"
TWO_VIDEO_FOLDS = "id,text,label,mode\nv1_1,fine,0.5,train\nv1_2,okay,1.0,test\n"

# ---- the table -----------------------------------------------------------------------------------------------------

CASES = [
    # label.csv ------------------------------------------------------------------------------------------------------
    ("csv: label above MOSI's range", mosi_csv(GOOD + "a_2,bad,3.5,test\n"), ValueError,
     ["label.csv:3", "'a_2'", "label 3.5", "[-3, 3]"]),
    ("csv: SIMS unimodal label outside [-1, 1]",
     sims_csv("v,0001,0.2,0.2,0.2,0.2,train\nv,0002,0.4,1.6,0.2,0.2,test\n"), ValueError,
     ["label.csv:3", "'v_0002'", "label_T 1.6", "[-1, 1]"]),
    ("csv: SIMS label outside [-1, 1]", sims_csv("v,0001,-1.2,0.2,0.2,0.2,valid\n"), ValueError,
     ["label.csv:2", "'v_0001'", "label -1.2", "[-1, 1]"]),
    ("csv: NaN label", mosi_csv(GOOD + "a_2,meh,nan,dev\n"), ValueError,
     ["label.csv:3", "'a_2'", "label is not finite"]),
    ("csv: infinite label", mosi_csv("a_1,meh,-inf,dev\n"), ValueError, ["label.csv:2", "label is not finite"]),
    ("csv: empty label", mosi_csv("a_1,meh,,dev\n"), ValueError, ["label.csv:2", "'a_1'", "label must be a number, got ''"]),
    ("csv: non-numeric label", mosi_csv("a_1,meh,positive,dev\n"), ValueError,
     ["label.csv:2", "label must be a number", "'positive'"]),
    ("csv: empty unimodal cell", sims_csv("v,0001,0.2,0.2,0.2,0.2,train\nv,0002,0.4,0.2,,0.2,test\n"), ValueError,
     ["label.csv:3", "'v_0002'", "label_A must be a number"]),
    ("csv: duplicate id across splits", mosi_csv(GOOD + "a_2,ok,0.0,dev\na_1,again,2.0,test\n"), ValueError,
     ["label.csv:4", "'a_1'", "duplicate", "line 2"]),
    ("csv: duplicate video_id+clip_id", sims_csv("v,0001,0.2,0.2,0.2,0.2,train\nv,0001,0.4,0.2,0.2,0.2,train\n"),
     ValueError, ["label.csv:3", "'v_0001'", "line 2"]),
    ("csv: not UTF-8", mosi_csv(b"a_1,caf\xe9 was good,1.0,train\n"), ValueError,
     ["label.csv", "not UTF-8", "0xe9", "byte offset 26", "line 2"]),
    ("csv: empty transcript", mosi_csv(GOOD + "a_2,,1.0,train\n"), ValueError,
     ["label.csv:3", "'a_2'", "text is empty"]),
    ("csv: whitespace-only transcript", mosi_csv('a_1,"   ",1.0,train\n'), ValueError,
     ["label.csv:2", "'a_1'", "text is empty"]),
    ("csv: row with too few fields", mosi_csv(GOOD + "a_2,good,train\n"), ValueError,
     ["label.csv:3", "3 fields", "header has 4"]),
    ("csv: row with too many fields", mosi_csv("a_1,good, really good,1.0,train\n"), ValueError,
     ["label.csv:2", "5 fields", "header has 4"]),
    ("csv: repeated column", mosi_csv(GOOD, header="id,text,label,label,mode\n"), ValueError,
     ["label.csv:1", "['label']", "more than once"]),
    ("csv: empty id", mosi_csv(",good,1.0,train\n"), ValueError, ["label.csv:2", "id is empty"]),
    ("csv: unknown mode", mosi_csv("a_1,good,1.0,holdout\n"), ValueError, ["label.csv:2", "mode", "'holdout'", "'a_1'"]),
    # MMSA pickle (through load_msa_dataset: the dataset's range, labelled data only) --------------------------------
    ("pkl: label outside MOSI's range", pickle_case(setitem("train", "regression_labels", 2, 4.0)), ValueError,
     ["unaligned_50.pkl", "split 'train'", "regression_labels", "'trainvideo1$_$0001' (row 2)", "4", "[-3, 3]"]),
    ("pkl: SIMS unimodal label outside [-1, 1]", pickle_case(setitem("valid", "regression_labels_V", 1, 1.4), "sims"),
     ValueError, ["unaligned_39.pkl", "split 'valid'", "regression_labels_V", "'validvideo0$_$0002' (row 1)", "1.4",
                  "[-1, 1]"]),
    ("pkl: NaN label", pickle_case(setitem("valid", "regression_labels", 2, np.nan)), ValueError,
     ["unaligned_50.pkl", "split 'valid'", "regression_labels", "'validvideo1$_$0001' (row 2)", "NaN"]),
    ("pkl: infinite label", pickle_case(setitem("test", "regression_labels", 0, np.inf)), ValueError,
     ["split 'test'", "regression_labels", "(row 0)", "not finite"]),
    ("pkl: non-numeric label",
     pickle_case(assign("train", "regression_labels", lambda v: np.array([*v[:3], "high", *v[4:]], dtype=object))),
     ValueError, ["split 'train'", "regression_labels", "(row 3)", "must be a number", "'high'"]),
    ("pkl: label array of the wrong shape", pickle_case(assign("train", "regression_labels", lambda v: np.stack([v, v], 1))),
     ValueError, ["split 'train'", "'regression_labels'", "one label per clip"]),
    ("pkl: duplicate id in a split", pickle_case(setitem("train", "id", 3, "trainvideo0$_$0001")), ValueError,
     ["split 'train'", "'trainvideo0$_$0001' (row 3)", "duplicate", "row 0 of split 'train'"]),
    ("pkl: duplicate id across splits", pickle_case(with_same_id_across_splits), ValueError,
     ["split 'test'", "'trainvideo0$_$0002' (row 0)", "row 1 of split 'train'"]),
    ("pkl: 10 labels but 9 audio rows",
     pickle_case(assign("train", "audio", lambda v: v[:9]), sizes={"train": 10, "valid": 2, "test": 2}), ValueError,
     ["unaligned_50.pkl", "split 'train'", "'audio' has 9 rows but 'id' has 10"]),
    ("pkl: 11 labels for 10 clips",
     pickle_case(assign("train", "regression_labels", lambda v: np.append(v, 0.0)),
                 sizes={"train": 10, "valid": 2, "test": 2}), ValueError,
     ["split 'train'", "'regression_labels' has 11 rows but 'id' has 10"]),
    ("pkl: ragged audio (unpadded list)", pickle_case(with_ragged_audio), ValueError,
     ["split 'train'", "'audio' is ragged"]),
    ("pkl: audio without a frame axis", pickle_case(assign("valid", "audio", lambda v: v[:, :, 0])), ValueError,
     ["split 'valid'", "'audio' must be a number array [N, frames, dim]", "(3, 375)"]),
    ("pkl: length past the frames", pickle_case(setitem("train", "audio_lengths", 1, 999)), ValueError,
     ["split 'train'", "audio_lengths must lie in [0, 375]", "999", "'trainvideo0$_$0002' (row 1)"]),
    ("pkl: fractional length", pickle_case(with_float_lengths), ValueError,
     ["split 'train'", "vision_lengths", "'trainvideo0$_$0002' (row 1)", "3.5", "not a whole number"]),
    ("pkl: empty transcript", pickle_case(setitem("test", "raw_text", 2, "  ")), ValueError,
     ["split 'test'", "raw_text", "'testvideo1$_$0001' (row 2)", "empty"]),
    ("pkl: no transcripts at all", pickle_case(lambda c: c["valid"].pop("raw_text")), ValueError,
     ["unaligned_50.pkl", "split 'valid'", "has no 'raw_text'"]),
    ("pkl: text_bert row with an all-zero mask", pickle_case(setitem("train", "text_bert", 4, 0.0)), ValueError,
     ["split 'train'", "text_bert attention mask", "'trainvideo2$_$0001' (row 4)", "all zero"]),
    ("pkl: splits with different keys", pickle_case(lambda c: c["train"].pop("annotations")), ValueError,
     ["unaligned_50.pkl", "split 'valid' has 'annotations' but split 'train' has not"]),
    ("pkl: splits with different audio dims", pickle_case(assign("test", "audio", lambda v: np.pad(v, ((0, 0),) * 2 + ((0, 1),)))),
     ValueError, ["split 'test'", "'audio'", "(6,)", "split 'train' has (5,)"]),
    ("pkl: two keys for one split", pickle_case(lambda c: c.__setitem__("validation", c["valid"])), ValueError,
     ["unaligned_50.pkl", "splits 'valid' and 'validation'"]),
    # CMU-SDK .csd (and the label.csv beside it that gives the folds) ------------------------------------------------
    ("csd: label outside MOSI's range", csd_case({"v1": ([[1.0], [4.0]], [[0, 1], [1, 2]])}), ValueError,
     ["CMU_MOSI_Opinion_Labels.csd", "video 'v1' segment 2", "'v1_2'", "label 4", "[-3, 3]"]),
    ("csd: NaN label", csd_case({"v1": ([[np.nan]], [[0, 1]])}), ValueError,
     ["CMU_MOSI_Opinion_Labels.csd", "'v1_1'", "label is not finite"]),
    ("csd: interval that ends before it starts", csd_case({"v1": ([[1.0]], [[3, 2]])}), ValueError,
     ["CMU_MOSI_Opinion_Labels.csd", "'v1_1'", "intervals", "start <= end"]),
    ("csd: folds label.csv puts a video in two splits",
     csd_case({"v1": ([[0.5], [1.0]], [[0, 1], [1, 2]])}, beside=TWO_VIDEO_FOLDS), ValueError,
     ["label.csv", "video 'v1'", "split 'train' (clip 'v1_1')", "split 'test' (clip 'v1_2')"]),
    ("csd: folds label.csv with a label outside the range",
     csd_case({"v1": ([[0.5]], [[0, 1]])}, beside="id,text,label,mode\nv1_1,fine,9,train\n"), ValueError,
     ["label.csv:2", "'v1_1'", "label 9", "[-3, 3]"]),
    # MVSA-Single -----------------------------------------------------------------------------------------------------
    ("clmlf: id in two files", clmlf_case(**{"dev.json": [{"id": "1", "text": "c", "emotion_label": 1}]}), ValueError,
     ["dev.json: row 0", "'1'", "duplicate", "row 0 of train.json"]),
    ("clmlf: same id as number and text", clmlf_case(**{"test.json": [{"id": "2", "text": "d", "emotion_label": 0}]}),
     ValueError, ["test.json: row 0", "'2'", "row 1 of train.json"]),
    ("clmlf: not UTF-8", clmlf_case(raw={"test.json": b'[{"id": "4", "text": "caf\xe9", "emotion_label": 0}]'}),
     ValueError, ["test.json", "not UTF-8", "byte offset 25", "line 1"]),
    ("clmlf: empty text", clmlf_case(**{"train.json": [{"id": "1", "text": "a", "emotion_label": 0},
                                                       {"id": "9", "text": " ", "emotion_label": 2}]}),
     ValueError, ["train.json: row 1", "'9'", "text is empty"]),
    ("clmlf: id that is not a string or number", clmlf_case(**{"dev.json": [{"id": None, "text": "c", "emotion_label": 1}]}),
     ValueError, ["dev.json: row 0", "id must be", "None"]),
    ("clmlf: class id outside 0..2", clmlf_case(**{"dev.json": [{"id": "3", "text": "c", "emotion_label": 3}]}),
     ValueError, ["dev.json: row 0", "'3'", "emotion_label", "got 3"]),
    ("mvsa original: label file not UTF-8", mvsa_original_case(latin1_label_line), ValueError,
     ["labelResultAll.txt", "not UTF-8", "line 3", "byte offset"]),
    ("mvsa original: empty tweet", mvsa_original_case(lambda f: (f / "data" / "104.txt").write_bytes(b" \n")), ValueError,
     ["104.txt", "'104'", "empty"]),
]


@pytest.mark.parametrize("run, error, parts", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_refused_naming_file_row_and_field(tmp_path, run, error, parts):
    with pytest.raises(error) as info:
        run(tmp_path)
    missing = [part for part in parts if part not in str(info.value)]
    assert not missing, f"message lacks {missing}: {info.value}"


# ---- kept under a documented rule, with a warning -------------------------------------------------------------------

def test_empty_transcripts_are_refused_because_the_first_batch_would_fail(processor):
    """The rule chosen for empty transcripts: refuse at load time, since MSAProcessor refuses them in the batch."""
    with pytest.raises(ValueError, match="empty"):
        MSADataCollator(processor)([{"text": "fine", "label": 0.0}, {"text": "", "label": 1.0}])


def test_missing_lengths_are_inferred_from_trailing_zero_frames(tmp_path, processor):
    content = synthetic_mmsa_pickle("mosi", seed=7, text_dim=8)
    expected = {split: {m: arrays.pop(f"{m}_lengths") for m in ("audio", "vision")} for split, arrays in content.items()}
    train = content["train"]
    train["audio"][0, :, :] = 0.0  # a clip with no frame at all: length 0, the modality counts as missing
    expected["train"]["audio"][0] = 0
    train["vision"][1, expected["train"]["vision"][1] - 1] = np.nan  # a NaN frame at the end is data, not padding
    assert expected["train"]["vision"][2] > 4
    train["vision"][2, 3] = 0.0  # an all-zero frame inside the clip is kept: only trailing ones are padding
    write_mmsa_pickle(tmp_path / "unaligned_50.pkl", content)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = read_mmsa_pickle(tmp_path / "unaligned_50.pkl")
    said = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(said) == 6 and all("last one that is not all zero" in message for message in said), said
    assert "split 'train' has no audio_lengths" in said[0] and "1 clips have no non-zero frame" in said[0]
    for split, name in (("train", "train"), ("valid", "validation"), ("test", "test")):
        assert splits[name].inferred_lengths == ("audio", "vision")
        for modality in ("audio", "vision"):
            np.testing.assert_array_equal(splits[name].lengths[modality], expected[split][modality])
    with pytest.warns(DataWarning):
        data = load_msa_dataset("mosi", tmp_path, "unaligned", keep_in_memory=True).with_format("numpy")
    rows = [data["train"][i] for i in range(6)]
    assert [r["audio"].shape[0] for r in rows] == expected["train"]["audio"].tolist()
    assert [r["vision_length"] for r in rows] == expected["train"]["vision"].tolist()
    batch = MSADataCollator(processor)(rows)  # a zero-length clip collates: fully masked, as a missing modality
    kept = np.minimum(expected["train"]["audio"], processor.feature_extractor.max_audio_length)
    np.testing.assert_array_equal(batch["audio_attention_mask"].sum(1).numpy(), kept)


def test_nonzero_frames_past_the_given_length_are_dropped_with_a_warning(tmp_path):
    content = synthetic_mmsa_pickle("mosi", seed=8, text_dim=8)
    length = content["test"]["audio_lengths"][1]
    content["test"]["audio_lengths"][1] = length - 2
    write_mmsa_pickle(tmp_path / "unaligned_50.pkl", content)
    with pytest.warns(DataWarning, match=r"split 'test': 1 clips have non-zero audio frames past their audio_lengths"
                                         r" \(first id 'testvideo0\$_\$0002' \(row 1\)"):
        splits = read_mmsa_pickle(tmp_path / "unaligned_50.pkl")
    assert splits["test"].lengths["audio"][1] == length - 2


def test_unlabelled_untranscribed_clips_are_kept_by_the_reader_and_refused_by_the_loader(tmp_path):
    """`save_features` writes NaN labels and empty raw_text for such clips; only the training loader refuses them."""
    content = synthetic_mmsa_pickle("mosi", seed=9, text_dim=8)
    content["test"]["regression_labels"][:] = np.nan
    content["test"]["raw_text"][1] = ""
    write_mmsa_pickle(tmp_path / "unaligned_50.pkl", content)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = read_mmsa_pickle(tmp_path / "unaligned_50.pkl")
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert any("4 clips have regression_labels NaN: kept as unlabelled" in m for m in messages), messages
    assert any("1 clips have an empty raw_text" in m and "(row 1)" in m for m in messages), messages
    assert np.isnan(splits["test"].arrays["regression_labels"]).all()
    with pytest.raises(ValueError, match=r"split 'test': regression_labels of id 'testvideo0\$_\$0001' \(row 0\) is NaN"):
        load_msa_dataset("mosi", tmp_path, "unaligned", keep_in_memory=True)


def test_undecodable_tweets_are_kept_with_a_warning(tmp_path):
    folder = write_mvsa(tmp_path / "m")  # every tweet written ends in a 0xff byte
    with pytest.warns(DataWarning, match=r"10 tweets are not valid UTF-8 \(first: 101.txt\)"):
        splits = read_mvsa_original(folder, require_images=False)
    assert all(row["text"].endswith("\ufffd") for rows in splits.values() for row in rows)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "label.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (MOSI_HEADER + GOOD).encode())
    splits, features = label_csv_rows(path)
    assert "id" in features and splits["train"][0]["id"] == "a_1"


def test_real_files_pass_every_check_without_a_warning(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        for name, folder, config, rows in [("cmu_mosi", "mosi", "transcripts", 2195),
                                           ("cmu_mosi", "mosi", "sdk_labels", 2199),
                                           ("cmu_mosei", "mosei", "transcripts", 22788),
                                           ("ch_sims", "ch-sims-v2", "v2_labels", 4403),
                                           ("mvsa_single", "mvsa_single", "text", 4511)]:
            data = load_msa_dataset(name, shared_data / folder, config, keep_in_memory=True)
            assert sum(len(split) for split in data.values()) == rows, (name, config)


# ---- the Arrow cache key ---------------------------------------------------------------------------------------------

def _rewrite_keeping_size_and_mtime(path, old: str, new: str):
    stat = path.stat()
    text = path.read_text()
    assert len(old) == len(new) and old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


@pytest.mark.parametrize("hash_limit, after_rewrite", [(loading.HASH_LIMIT, 2.5), (16, 1.0)],
                         ids=["hashed", "above the hash limit"])
def test_cache_and_a_rewrite_with_the_same_size_and_mtime(tmp_path, monkeypatch, hash_limit, after_rewrite):
    """A file under HASH_LIMIT is keyed on its content, so the rewrite is noticed; above it (the documented limit)
    only a change of size or mtime rebuilds its cache."""
    monkeypatch.setattr(loading, "HASH_LIMIT", hash_limit)
    cache = str(tmp_path / "cache")
    path = tmp_path / "label.csv"
    path.write_text(MOSI_HEADER + "v_1,good,1.0,train\nv_2,bad,-2.0,test\n")
    label = lambda: load_msa_dataset("mosi", tmp_path, "transcripts", cache_dir=cache)["train"][0]["label"]  # noqa: E731
    assert label() == 1.0
    _rewrite_keeping_size_and_mtime(path, "good,1.0", "good,2.5")
    assert label() == after_rewrite
    stat = path.stat()  # a new mtime, 1 s later (filesystems with coarse timestamps would miss a bare touch)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert label() == 2.5

