"""Dataset builder for ch_sims (see README.md beside it). Instantiate it directly; datasets 5 runs no loading scripts:

    from dataset_scripts.ch_sims.ch_sims import ChSims
    builder = ChSims(config_name="v1_unaligned", data_dir="path/to/raw/files")
    builder.download_and_prepare()
    dataset = builder.as_dataset()
"""

from hf_msa.data.builder import MSADatasetBuilder, builder_configs


class ChSims(MSADatasetBuilder):
    DATASET_NAME = "ch_sims"
    BUILDER_CONFIGS = builder_configs("ch_sims")
    DEFAULT_CONFIG_NAME = "v1_unaligned"


__all__ = ["ChSims"]
