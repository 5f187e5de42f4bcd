"""Which datasets and configs `load_msa_dataset` knows, where their files sit under `data_dir`, and their layouts.

One table, read by the loader, the dataset builders in dataset_scripts/ and the dataset cards, so a config name or
a file name is written once.
"""

from dataclasses import dataclass, field

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class ConfigSpec:
    """One config of a dataset: the reader that produces it and the files (relative to data_dir) it tries, in order."""

    name: str
    reader: str  # "mmsa_pickle" | "label_csv" | "csd" | "mvsa_clmlf" | "mvsa_original"
    candidates: tuple[str, ...]
    description: str
    audio_dim: int | None = None
    vision_dim: int | None = None
    needs_images: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    pretty_name: str
    preset: str  # the MSAConfig preset of models trained on it
    configs: dict[str, ConfigSpec] = field(default_factory=dict)
    default_config: str = ""
    unimodal_labels: bool = False  # SIMS carries label_T / label_A / label_V

    @property
    def label_range(self) -> tuple[float, float] | None:
        """The model preset's label range: the readers refuse a label a model of this dataset is not trained for."""
        from ..configuration_utils import DATASET_PRESETS  # lazily: the config module must not import data/

        values = DATASET_PRESETS[self.preset].get("label_range")
        return (float(values[0]), float(values[1])) if values else None


def _pickle(name, files, audio_dim, vision_dim, description):
    return ConfigSpec(name, "mmsa_pickle", files, description, audio_dim, vision_dim)


DATASETS: dict[str, DatasetSpec] = {
    "cmu_mosi": DatasetSpec(
        "cmu_mosi", "CMU-MOSI", "mosi",
        {
            "unaligned": _pickle("unaligned", ("Processed/unaligned_50.pkl", "unaligned_50.pkl"), 5, 20,
                                 "MMSA unaligned features: COVAREP audio [375, 5], Facet vision [500, 20]"),
            "aligned": _pickle("aligned", ("Processed/aligned_50.pkl", "aligned_50.pkl"), 5, 20,
                               "MMSA word-aligned features: audio [50, 5], vision [50, 20]"),
            "transcripts": ConfigSpec("transcripts", "label_csv", ("label.csv",),
                                      "MMSA label.csv: transcript, label and split, no features"),
            "sdk_labels": ConfigSpec("sdk_labels", "csd", ("CMU_MOSI_Opinion_Labels.csd",),
                                     "CMU-MultimodalSDK opinion-segment labels with time intervals (no split)"),
        },
        default_config="unaligned",
    ),
    "cmu_mosei": DatasetSpec(
        "cmu_mosei", "CMU-MOSEI", "mosei",
        {
            "unaligned": _pickle("unaligned", ("Processed/unaligned_50.pkl", "unaligned_50.pkl"), 74, 35,
                                 "MMSA unaligned features: COVAREP audio [500, 74], Facet vision [500, 35]"),
            "aligned": _pickle("aligned", ("Processed/aligned_50.pkl", "aligned_50.pkl"), 74, 35,
                               "MMSA word-aligned features: audio [50, 74], vision [50, 35]"),
            "transcripts": ConfigSpec("transcripts", "label_csv", ("label.csv",),
                                      "MMSA label.csv: transcript, label and split, no features"),
        },
        default_config="unaligned",
    ),
    "ch_sims": DatasetSpec(
        "ch_sims", "CH-SIMS", "sims",
        {
            "v1_unaligned": _pickle("v1_unaligned", ("Processed/unaligned_39.pkl", "unaligned_39.pkl"), 33, 709,
                                    "CH-SIMS v1 MMSA features: librosa audio [400, 33], OpenFace vision [55, 709]"),
            "v1_transcripts": ConfigSpec("v1_transcripts", "label_csv", ("label.csv",),
                                         "CH-SIMS v1 label.csv: Chinese transcript, label, label_T/A/V, split"),
            # File name and dims of the v2 release are not verified against a real file here: dims come from the file.
            "v2_unaligned": _pickle("v2_unaligned", ("ch-simsv2s.pkl", "Processed/unaligned.pkl", "unaligned.pkl"),
                                    None, None, "CH-SIMS v2(s) features in the MMSA pickle layout (dims read from the file)"),
            "v2_labels": ConfigSpec("v2_labels", "label_csv", ("label.csv",),
                                    "CH-SIMS v2(s) label.csv: label, label_T/A/V and split (no transcripts here)"),
        },
        default_config="v1_unaligned",
        unimodal_labels=True,
    ),
    "mvsa_single": DatasetSpec(
        "mvsa_single", "MVSA-Single", "mvsa",
        {
            "text": ConfigSpec("text", "mvsa_clmlf", ("clmlf/10-flod-1", "10-flod-1", "."),
                               "CLMLF's cleaned 8:1:1 split (JSON): tweet text and label, no images"),
            "text_image": ConfigSpec("text_image", "mvsa_original", ("MVSA_Single", "."),
                                     "original release: data/<id>.txt + data/<id>.jpg + labelResultAll.txt",
                                     needs_images=True),
            "original_text": ConfigSpec("original_text", "mvsa_original", ("MVSA_Single", "."),
                                        "original release without images: text and the agreed label"),
        },
        default_config="text",
    ),
}

ALIASES = {"mosi": "cmu_mosi", "mosei": "cmu_mosei", "sims": "ch_sims", "ch_sims_v2": "ch_sims",
           "mvsa": "mvsa_single", "mvsa_single": "mvsa_single"}

# MVSA-Single label ids as CLMLF's JSON files use them (and as the `mvsa` model preset's id2label states).
MVSA_LABELS = ("positive", "neutral", "negative")


def dataset_spec(name: str) -> DatasetSpec:
    key = name.lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[key]


__all__ = ["ALIASES", "ConfigSpec", "DATASETS", "DatasetSpec", "MVSA_LABELS", "SPLITS", "dataset_spec"]
