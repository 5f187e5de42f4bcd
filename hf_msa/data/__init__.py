"""Readers, the collator and the embedded synthetic data."""

from .collator import MSADataCollator
from .label_csv import read_label_csv
from .synthetic import load_synthetic_mosi

__all__ = ["MSADataCollator", "load_synthetic_mosi", "read_label_csv"]
