"""Dataset builder for cmu_mosei (see README.md beside it). Instantiate it directly; datasets 5 runs no loading scripts:

    from dataset_scripts.cmu_mosei.cmu_mosei import CmuMosei
    builder = CmuMosei(config_name="unaligned", data_dir="path/to/raw/files")
    builder.download_and_prepare()
    dataset = builder.as_dataset()
"""

from hf_msa.data.builder import MSADatasetBuilder, builder_configs


class CmuMosei(MSADatasetBuilder):
    DATASET_NAME = "cmu_mosei"
    BUILDER_CONFIGS = builder_configs("cmu_mosei")
    DEFAULT_CONFIG_NAME = "unaligned"


__all__ = ["CmuMosei"]
