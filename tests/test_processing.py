import numpy as np
import pytest
from transformers import AutoProcessor

from hf_msa import MSAFeatureExtractor, MSAProcessor


def test_pads_truncates_and_masks(rng):
    extractor = MSAFeatureExtractor(audio_dim=5, vision_dim=20, max_audio_length=6, max_vision_length=4)
    audio = [rng.normal(size=(3, 5)), rng.normal(size=(9, 5))]
    vision = [rng.normal(size=(2, 20)), None]
    out = extractor(audio=audio, vision=vision, return_tensors="np")
    assert out["audio_features"].shape == (2, 6, 5)
    assert out["audio_attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    np.testing.assert_allclose(out["audio_features"][1], audio[1][:6].astype(np.float32))
    assert out["vision_attention_mask"].tolist() == [[1, 1], [0, 0]]  # a missing sample: all-zero mask
    fixed = extractor(audio=audio, vision=vision, padding="max_length", return_tensors="np")
    assert fixed["vision_features"].shape == (2, 4, 20)


def test_missing_modality_is_a_normal_input():
    extractor = MSAFeatureExtractor(audio_dim=5, vision_dim=20)
    out = extractor(audio=None, vision=None, batch_size=3, return_tensors="np")
    assert out["audio_features"].shape == (3, 1, 5) and not out["audio_attention_mask"].any()
    assert out["vision_features"].shape == (3, 1, 20) and not out["vision_attention_mask"].any()


def test_non_finite_values_are_rejected_or_sanitised(rng):
    frames = rng.normal(size=(4, 5)).astype(np.float32)
    frames[1, 2], frames[3, 0] = np.nan, -np.inf
    strict = MSAFeatureExtractor(audio_dim=5, vision_dim=0, non_finite="error")
    with pytest.raises(ValueError, match=r"audio contains non-finite values .*\(0, 2\)"):
        strict(audio=[frames])
    lenient = MSAFeatureExtractor(audio_dim=5, vision_dim=0, non_finite="zero")
    out = lenient(audio=[frames], return_tensors="np")["audio_features"]
    assert np.isfinite(out).all() and out[0, 1, 2] == 0 and out[0, 3, 0] == 0
    with pytest.raises(ValueError, match="non_finite must be one of"):
        MSAFeatureExtractor(non_finite="drop")


def test_bad_shapes_name_the_field(rng):
    extractor = MSAFeatureExtractor(audio_dim=5, vision_dim=20)
    with pytest.raises(ValueError, match=r"audio\[1\] must be \[time, audio_dim=5\]"):
        extractor(audio=[rng.normal(size=(3, 5)), rng.normal(size=(3, 7))])
    with pytest.raises(ValueError, match="same number of samples"):
        extractor(audio=[rng.normal(size=(3, 5))], vision=[None, None])


def test_normalisation_is_fitted_saved_and_restored(tmp_path, tokenizer, rng):
    train_audio = [rng.normal(3.0, 2.0, size=(50, 5)) for _ in range(20)]
    extractor = MSAFeatureExtractor(audio_dim=5, vision_dim=20).fit_normalization(audio=train_audio)
    np.testing.assert_allclose(extractor.audio_mean, np.concatenate(train_audio).mean(0), rtol=1e-5)
    processor = MSAProcessor(extractor, tokenizer, max_text_length=12)
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is MSAProcessor and type(loaded.feature_extractor) is MSAFeatureExtractor
    assert loaded.max_text_length == 12 and loaded.feature_extractor.audio_mean == extractor.audio_mean
    batch = dict(text=["a fine film", "not my thing at all"], audio=train_audio[:2], vision=None)
    first, second = processor(**batch, return_tensors="np"), loaded(**batch, return_tensors="np")
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert abs(first["audio_features"][..., 0].mean()) < 0.5  # normalised around 0


def test_processor_returns_exactly_the_model_inputs(processor):
    out = processor(["it was really good", "meh"], audio=None, vision=None, return_tensors="pt")
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids", "audio_features", "audio_attention_mask",
                        "vision_features", "vision_attention_mask"}
    assert out["input_ids"][0, 0].item() == processor.tokenizer.cls_token_id


@pytest.mark.parametrize("text", [["fine", ""], ["fine", "   "], ["fine", None]])
def test_empty_text_is_rejected(processor, text):
    with pytest.raises(ValueError, match=r"text\[1\] is empty"):
        processor(text)


def test_sample_counts_must_agree(processor, rng):
    with pytest.raises(ValueError, match="audio has 1 samples but text has 2"):
        processor(["a", "b"], audio=[rng.normal(size=(3, 5))])


def test_extraction_settings_travel_in_the_processor_config_and_refuse_local_paths(processor, tmp_path):
    from transformers import AutoProcessor

    from hf_msa import MSAProcessor

    settings = {"audio": "whisper", "audio_model": None, "audio_frame_rate": 12.5, "vision": "none"}
    saved = MSAProcessor(processor.feature_extractor, processor.tokenizer, max_text_length=24,
                         extraction_settings=settings)
    saved.save_pretrained(tmp_path)
    assert AutoProcessor.from_pretrained(tmp_path).extraction_settings == settings
    assert AutoProcessor.from_pretrained(tmp_path).max_text_length == 24
    for value in ("/home/me/whisper-small", "~/models/whisper", "./whisper"):
        with pytest.raises(ValueError, match=r"extraction_settings\['audio_model'\] = .* is a local path"):
            MSAProcessor(processor.feature_extractor, processor.tokenizer, extraction_settings={"audio_model": value})
    with pytest.raises(TypeError, match=r"extraction_settings\['audio'\] must be a string"):
        MSAProcessor(processor.feature_extractor, processor.tokenizer, extraction_settings={"audio": ["whisper"]})
