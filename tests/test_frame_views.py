"""Frame columns read as zero-copy views give the rows datasets' numpy formatting gives, value for value."""

import numpy as np
import pytest
from datasets import Array2D, Dataset, Features, Value, concatenate_datasets

from hf_msa.data import FrameViewDataset, frame_views, load_msa_dataset, synthetic_mmsa_pickle, write_mmsa_pickle


@pytest.fixture(scope="module")
def features_split(tmp_path_factory):
    """cmu_mosei [unaligned] train split from a small pickle in MMSA's layout, as load_msa_dataset reads it."""
    folder = tmp_path_factory.mktemp("mosei")
    write_mmsa_pickle(folder / "unaligned_50.pkl", synthetic_mmsa_pickle("mosei", sizes={"train": 40, "valid": 1,
                                                                                           "test": 1}))
    return load_msa_dataset("cmu_mosei", folder, "unaligned", cache_dir=str(folder / "cache"))["train"]


def assert_same_rows(views, dataset):
    reference = dataset.with_format("numpy")
    assert len(views) == len(reference)
    for index in range(len(reference)):
        got, want = views[index], reference[index]
        assert list(got) == list(want)
        for key, value in want.items():
            if isinstance(value, np.ndarray):
                assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
                np.testing.assert_array_equal(got[key], value)  # the same stored values: exact
            else:
                assert type(got[key]) is type(value) and got[key] == value, key


@pytest.mark.parametrize("arrangement", ["as_read", "shuffled_subset", "concatenated"])
def test_views_give_the_numpy_formatted_rows(features_split, arrangement):
    dataset = {"as_read": features_split,
               "shuffled_subset": features_split.shuffle(seed=0).select(range(25)),
               "concatenated": concatenate_datasets([features_split.select(range(7)), features_split.shuffle(seed=1)]),
               }[arrangement]
    views = frame_views(dataset)
    assert isinstance(views, FrameViewDataset)
    assert_same_rows(views, dataset)
    batch = views.__getitems__([3, 0, 5])
    assert [row["id"] for row in batch] == [views[i]["id"] for i in (3, 0, 5)]
    frames = views[0]["audio"]
    assert not frames.flags.owndata  # a view of the Arrow buffer, not a copy


def test_datasets_without_frames_or_with_null_frames_are_left_as_they_are():
    plain = Dataset.from_dict({"text": ["a", "b"], "label": [0.5, -1.0]})
    assert frame_views(plain) is plain
    features = Features({"text": Value("string"), "audio": Array2D(shape=(None, 3), dtype="float32")})
    with_null = Dataset.from_dict({"text": ["a", "b"], "audio": [np.zeros((2, 3), np.float32), None]},
                                  features=features)
    assert frame_views(with_null) is with_null  # read through datasets' own formatting instead
