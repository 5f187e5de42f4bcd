"""Dataset builder for mvsa_single (see README.md beside it). Instantiate it directly; datasets 5 runs no loading scripts:

    from dataset_scripts.mvsa_single.mvsa_single import MvsaSingle
    builder = MvsaSingle(config_name="text", data_dir="path/to/raw/files")
    builder.download_and_prepare()
    dataset = builder.as_dataset()
"""

from hf_msa.data.builder import MSADatasetBuilder, builder_configs


class MvsaSingle(MSADatasetBuilder):
    DATASET_NAME = "mvsa_single"
    BUILDER_CONFIGS = builder_configs("mvsa_single")
    DEFAULT_CONFIG_NAME = "text"


__all__ = ["MvsaSingle"]
