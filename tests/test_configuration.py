import pytest
from transformers import AutoConfig, BertConfig, RobertaConfig

from hf_msa import DibConfig, MSAConfig
from hf_msa.configuration_utils import DATASET_PRESETS

from .conftest import TINY_TEXT


@pytest.mark.parametrize("name", sorted(DATASET_PRESETS))
def test_presets_set_the_dataset_layout(name):
    config = DibConfig.from_preset(name)
    for key, value in DATASET_PRESETS[name].items():
        if key == "id2label":
            assert config.id2label == value
        else:
            assert getattr(config, key) == value, key


def test_mvsa_preset_is_a_three_class_text_image_task():
    config = DibConfig.from_preset("mvsa")
    assert config.problem_type == "single_label_classification" and config.num_labels == 3
    assert config.modalities == ["text", "vision"] and not config.has_audio
    assert config.id2label == {0: "positive", 1: "neutral", 2: "negative"}


def test_preset_overrides_win_and_aliases_resolve():
    config = DibConfig.from_preset("CMU-MOSEI", hidden_size=30, num_attention_heads=3)
    assert (config.audio_dim, config.vision_dim, config.hidden_size) == (74, 35, 30)
    assert DibConfig.from_preset("ch-sims").audio_dim == 33
    with pytest.raises(ValueError, match="unknown preset 'iemocap'"):
        DibConfig.from_preset("iemocap")


def test_text_config_from_dict_or_config_and_any_bert_family():
    from_dict = DibConfig(text_config=dict(TINY_TEXT))
    assert isinstance(from_dict.text_config, BertConfig) and from_dict.text_config.hidden_size == 16
    from_config = DibConfig(text_config=BertConfig(**{k: v for k, v in TINY_TEXT.items() if k != "model_type"}))
    assert from_config.text_config.hidden_size == 16
    roberta = DibConfig(text_config=dict(model_type="roberta", hidden_size=16, num_attention_heads=2))
    assert isinstance(roberta.text_config, RobertaConfig)


def test_config_round_trips_through_autoconfig(tmp_path):
    config = DibConfig.from_preset("mvsa", text_config=dict(TINY_TEXT), lrib_mi_mode="entropy_z")
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is DibConfig
    saved, restored = config.to_dict(), loaded.to_dict()
    saved.pop("_name_or_path"), restored.pop("_name_or_path")
    assert restored == saved


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(modalities=["audio", "vision"]), "modalities must include 'text'"),
        (dict(modalities=["text", "smell"]), "modalities must be distinct names"),
        (dict(audio_dim=0), "audio_dim and audio_max_length must be positive"),
        (dict(num_labels=3), "num_labels must be 1"),
        (dict(problem_type="multi_label_classification"), "problem_type must be one of"),
        (dict(metric_family="sims", problem_type="single_label_classification", num_labels=3), "metric_family='sims'"),
        (dict(label_range=[3.0, -3.0]), "label_range must be"),
        (dict(lrib_mi_mode="kl"), "lrib_mi_mode must be one of"),
        (dict(text_pooling="max"), "text_pooling must be one of"),
        (dict(hidden_size=50, num_attention_heads=3), "multiple of num_attention_heads"),
        (dict(lrib_eig_solver="svd"), "lrib_eig_solver must be one of"),
    ],
)
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DibConfig(**kwargs)


def test_wrong_field_type_is_rejected():
    from huggingface_hub.errors import StrictDataclassFieldValidationError

    with pytest.raises(StrictDataclassFieldValidationError, match="audio_dim"):
        MSAConfig(audio_dim="74")
