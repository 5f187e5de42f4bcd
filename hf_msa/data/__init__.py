"""Readers, the loader, the collator and the embedded synthetic data."""

from .catalog import DATASETS, dataset_spec
from .checks import DataWarning
from .collator import (
    MSADataCollator,
    ModalityMissingCollator,
    RandomMissingCollator,
    mark_for_augmentation,
    training_collator,
)
from .export import export_dataset
from .frame_views import FrameViewDataset, frame_views
from .label_csv import read_label_csv
from .loading import dataset_sizes, load_msa_dataset
from .mmsa_pickle import UnsafePickleError, read_mmsa_pickle
from .partners import PartnerCollator, PartnerIndex, PartnerRefreshCallback, mark_partner_rows
from .publish import PushResult, dataset_card_path, push_dataset
from .synthetic import load_synthetic_domains, load_synthetic_mosi, synthetic_mmsa_pickle, write_mmsa_pickle

__all__ = [
    "FrameViewDataset",
    "frame_views",
    "DATASETS",
    "DataWarning",
    "PushResult",
    "MSADataCollator",
    "ModalityMissingCollator",
    "PartnerCollator",
    "PartnerIndex",
    "PartnerRefreshCallback",
    "mark_partner_rows",
    "RandomMissingCollator",
    "mark_for_augmentation",
    "training_collator",
    "UnsafePickleError",
    "dataset_sizes",
    "dataset_card_path",
    "dataset_spec",
    "export_dataset",
    "load_msa_dataset",
    "load_synthetic_domains",
    "load_synthetic_mosi",
    "push_dataset",
    "read_label_csv",
    "read_mmsa_pickle",
    "synthetic_mmsa_pickle",
    "write_mmsa_pickle",
]
