"""A `datasets` builder over hf_msa's readers, for the dataset folders in dataset_scripts/.

datasets 5 no longer runs loading scripts, so a builder is instantiated directly:

    from dataset_scripts.cmu_mosi.cmu_mosi import CmuMosi
    builder = CmuMosi(config_name="transcripts", data_dir="path/to/MOSI", cache_dir="...")
    builder.download_and_prepare()
    dataset = builder.as_dataset()

The rows and features are those of `load_msa_dataset` (one reader, two entry points).
"""

import datasets

from .catalog import DATASETS
from .loading import read_source


def builder_configs(name: str) -> list[datasets.BuilderConfig]:
    spec = DATASETS[name]
    return [datasets.BuilderConfig(name=c.name, version=datasets.Version("1.0.0"), description=c.description)
            for c in spec.configs.values()]


class MSADatasetBuilder(datasets.GeneratorBasedBuilder):
    """Subclasses set DATASET_NAME, BUILDER_CONFIGS (`builder_configs(name)`) and DEFAULT_CONFIG_NAME."""

    DATASET_NAME: str = ""

    def _source(self):
        if getattr(self, "_cached_source", None) is None:
            if not self.config.data_dir:
                raise ValueError(f"{type(self).__name__} needs data_dir=<folder with the raw files> "
                                 "(see the dataset card for what it holds)")
            self._cached_source = read_source(self.DATASET_NAME, self.config.data_dir, self.config.name)
        return self._cached_source

    def _info(self) -> datasets.DatasetInfo:
        spec = DATASETS[self.DATASET_NAME]
        return datasets.DatasetInfo(description=spec.configs[self.config.name].description,
                                    features=self._source()[2])

    def _split_generators(self, dl_manager):
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in self._source()[1]]

    def _generate_examples(self, split):
        rows = self._source()[1][split]
        for index, row in enumerate(rows() if callable(rows) else rows):
            yield index, row


__all__ = ["MSADatasetBuilder", "builder_configs"]
