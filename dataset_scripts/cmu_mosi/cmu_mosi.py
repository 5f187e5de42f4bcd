"""Dataset builder for cmu_mosi (see README.md beside it). Instantiate it directly; datasets 5 runs no loading scripts:

    from dataset_scripts.cmu_mosi.cmu_mosi import CmuMosi
    builder = CmuMosi(config_name="unaligned", data_dir="path/to/raw/files")
    builder.download_and_prepare()
    dataset = builder.as_dataset()
"""

from hf_msa.data.builder import MSADatasetBuilder, builder_configs


class CmuMosi(MSADatasetBuilder):
    DATASET_NAME = "cmu_mosi"
    BUILDER_CONFIGS = builder_configs("cmu_mosi")
    DEFAULT_CONFIG_NAME = "unaligned"


__all__ = ["CmuMosi"]
