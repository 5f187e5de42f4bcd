"""What the multimodal-sentiment pipeline takes besides raw clips: transcripts, ready features, lists with
batch_size; what it refuses (unknown keys and arguments, clips for a model trained on standard features); and
where the extraction settings travel (processor_config.json, from a folder or a repo id). Tiny models, no clips."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from hf_msa import MODEL_REGISTRY, pipeline
from hf_msa.features import ClipFeatureExtractor, ExtractionSettings
from hf_msa.pipelines import TASK, input_kind, is_clip_path

from .conftest import processor_for, tiny_dib_config
from .test_all_models import tiny_config

TEXT = "anyhow it was really good"
ATOL = 1e-5


def _features(config, audio_frames=7, vision_frames=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((audio_frames, config.audio_dim)).astype(np.float32),
            rng.standard_normal((vision_frames, config.vision_dim)).astype(np.float32))


def _model(config):
    torch.manual_seed(0)
    return MODEL_REGISTRY[config.model_type][2](config).eval()


def _direct(model, processor, text, audio=None, vision=None):
    """The score of the model on the processor's output, without the pipeline."""
    encoded = processor(text=[text], audio=[audio], vision=[vision], padding=model.config.input_padding,
                        return_tensors="pt")
    with torch.no_grad():
        return float(model(**encoded).logits.reshape(())), encoded


@pytest.fixture(scope="module")
def standard():
    """A model on MMSA's standard MOSI features (audio_dim 5, vision_dim 20): no extraction settings."""
    config = tiny_dib_config()
    assert (config.audio_dim, config.vision_dim) == (5, 20)
    model, processor = _model(config), processor_for(config)
    assert processor.extraction_settings is None
    return model, processor, pipeline(model=model, processor=processor)


# --- The rule for a plain string ----------------------------------------------------------------------------------

def test_a_string_is_a_clip_path_when_it_names_a_file_or_ends_in_a_media_suffix(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not media, but a file")
    assert is_clip_path(str(notes)) and is_clip_path("clip.MP4") and is_clip_path("talk.wav")
    assert not is_clip_path(TEXT) and not is_clip_path("it was 4.5 stars.") and not is_clip_path("")
    assert input_kind(TEXT) == ("text", {"text": TEXT})
    assert input_kind(notes) == ("clip", {"path": str(notes)})  # any os.PathLike is a path
    assert input_kind({"text": TEXT, "id": "a"})[0] == "text"
    assert input_kind({"text": TEXT, "audio_features": None})[0] == "features"
    assert input_kind({"video": "a.mp4", "text": TEXT})[0] == "clip"


def test_mixed_unknown_and_textless_dicts_are_refused_by_name(standard):
    sentiment = standard[2]
    with pytest.raises(ValueError, match=r"clip keys \['audio'\] and feature keys \['vision_features'\]"):
        sentiment({"audio": "a.wav", "vision_features": np.zeros((2, 20)), "text": TEXT})
    with pytest.raises(ValueError, match=r"unknown input keys \['lang', 'transcript'\]"):
        sentiment({"transcript": TEXT, "lang": "en"})
    with pytest.raises(ValueError, match="needs `text`"):
        sentiment({"audio_features": np.zeros((2, 5))})
    with pytest.raises(ValueError, match="non-empty transcript"):
        sentiment({"text": "  "})
    with pytest.raises(TypeError, match="got int"):
        sentiment(3)


# --- Transcript alone and ready features ---------------------------------------------------------------------------

def test_text_alone_is_the_model_with_zero_audio_and_vision_masks(standard):
    model, processor, sentiment = standard
    expected, encoded = _direct(model, processor, TEXT)
    assert not encoded["audio_attention_mask"].any() and not encoded["vision_attention_mask"].any()
    for given in (TEXT, {"text": TEXT, "id": "t1"}):
        result = sentiment(given)
        assert result["score"] == pytest.approx(expected, abs=ATOL)
        assert result["modalities"] == {"text": "given", "audio": False, "vision": False, "audio_used": False,
                                        "vision_used": False}
        assert result["text"] == TEXT and result["polarity"] in ("positive", "negative", "neutral")
    assert sentiment({"text": TEXT, "id": "t1"})["id"] == "t1" and sentiment(TEXT)["id"] is None


def test_ready_features_go_straight_to_the_processor(standard):
    model, processor, sentiment = standard
    audio, vision = _features(model.config)
    expected, _ = _direct(model, processor, TEXT, audio, vision)
    result = sentiment({"text": TEXT, "audio_features": audio, "vision_features": vision})
    assert result["score"] == pytest.approx(expected, abs=ATOL)
    assert result["modalities"] == {"text": "given", "audio": True, "vision": True, "audio_used": True,
                                    "vision_used": True}
    as_lists = sentiment({"text": TEXT, "audio_features": audio.tolist(), "vision_features": vision.tolist()})
    assert as_lists["score"] == pytest.approx(expected, abs=ATOL)

    audio_only, _ = _direct(model, processor, TEXT, audio, None)
    result = sentiment({"text": TEXT, "audio_features": audio, "vision_features": None})
    assert result["score"] == pytest.approx(audio_only, abs=ATOL)
    assert result["modalities"]["audio_used"] and not result["modalities"]["vision_used"]
    assert sentiment({"text": TEXT, "audio_features": audio})["score"] == pytest.approx(audio_only, abs=ATOL)


def test_feature_widths_are_checked_against_the_model(standard):
    sentiment = standard[2]
    with pytest.raises(ValueError, match=r"audio_features must be shaped \[T, 5\].*got shape \(7, 6\)"):
        sentiment({"text": TEXT, "audio_features": np.zeros((7, 6))})
    with pytest.raises(ValueError, match=r"vision_features must be shaped \[T, 20\].*got shape \(20,\)"):
        sentiment({"text": TEXT, "vision_features": np.zeros(20)})
    with pytest.raises(ValueError, match=r"audio_features must be numbers shaped \[T, 5\]"):
        sentiment({"text": TEXT, "audio_features": [[1.0, "x"]]})
    text_audio = tiny_dib_config(modalities=["text", "audio"])
    only_audio = pipeline(model=_model(text_audio), processor=processor_for(text_audio))
    with pytest.raises(ValueError, match=r"vision_features was given but this model reads no vision"):
        only_audio({"text": TEXT, "vision_features": np.zeros((2, 20))})


# --- Lists and batch_size -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_type", sorted(MODEL_REGISTRY))
def test_a_list_with_batch_size_equals_one_by_one_in_order(model_type):
    """Inputs of different lengths padded together: the masks keep each prediction as it was alone."""
    config = tiny_config(model_type)
    model, processor = _model(config), processor_for(config)
    sentiment = pipeline(model=model, processor=processor)
    short, long = _features(config, 3, 2, seed=1), _features(config, 40, 30, seed=2)
    items = [
        {"text": TEXT, "audio_features": short[0], "vision_features": short[1], "id": "short"},
        "a longer transcript that takes many more tokens than the others do in this batch",
        {"text": "bad", "audio_features": long[0], "vision_features": long[1], "id": "long"},
        {"text": "fine", "audio_features": None, "vision_features": long[1]},
        {"text": TEXT},
    ]
    alone = [sentiment(item) for item in items]
    for batch_size in (2, 5):
        together = sentiment(items, batch_size=batch_size)
        assert [r["id"] for r in together] == [r["id"] for r in alone]
        assert [r["text"] for r in together] == [r["text"] for r in alone]
        assert [r["modalities"] for r in together] == [r["modalities"] for r in alone]
        np.testing.assert_allclose([r["score"] for r in together], [r["score"] for r in alone], atol=ATOL, rtol=0)
    preset = pipeline(model=model, processor=processor, batch_size=3)  # batch_size at construction
    np.testing.assert_allclose([r["score"] for r in preset(tuple(items))], [r["score"] for r in alone], atol=ATOL,
                               rtol=0)
    assert sentiment([]) == []


def test_a_list_of_classification_inputs_keeps_each_distribution():
    config = tiny_dib_config(preset="mvsa", vision_dim=12, vision_max_length=1)
    model, processor = _model(config), processor_for(config)
    sentiment = pipeline(model=model, processor=processor)
    items = [{"text": TEXT, "vision_features": np.ones((1, 12))}, "so bad", {"text": "meh", "vision_features": None}]
    alone, together = [sentiment(i) for i in items], sentiment(items, batch_size=3)
    assert [r["label"] for r in together] == [r["label"] for r in alone]
    for a, b in zip(alone, together):
        assert a["scores"].keys() == b["scores"].keys()
        np.testing.assert_allclose(list(b["scores"].values()), list(a["scores"].values()), atol=ATOL, rtol=0)


# --- Arguments ------------------------------------------------------------------------------------------------------

def test_unknown_arguments_are_named_with_the_accepted_ones(standard):
    model, processor, sentiment = standard
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['foo'\].*\['batch_size', 'num_workers'\]"):
        sentiment(TEXT, foo=1)
    with pytest.raises(TypeError, match=r"\['top_k'\]"):
        sentiment([TEXT], batch_size=2, top_k=3)
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['foo'\]"):
        pipeline(model=model, processor=processor, foo=1)
    with pytest.raises(TypeError, match="positional"):
        sentiment(TEXT, 2)
    with pytest.raises(TypeError, match="MSAFeatureExtractor comes inside processor="):
        pipeline(model=model, processor=processor, feature_extractor=processor.feature_extractor)


# --- Clips: which models can take them ----------------------------------------------------------------------------

def _refuses_clips(sentiment, clips):
    for given in clips:
        with pytest.raises(ValueError) as raised:
            sentiment(given)
        message = str(raised.value)
        assert "trained on features of widths audio_dim=5, vision_dim=20" in message
        assert "cannot compute from a raw clip" in message
        assert "'audio_features': array [T, 5], 'vision_features': array [T, 20]" in message
        assert "sentiment({'text': transcript})" in message


def test_a_standard_features_model_says_plainly_it_cannot_take_a_clip(standard):
    sentiment = standard[2]
    assert sentiment.clip_settings_source is None
    _refuses_clips(sentiment, ["never-made.mp4", {"video": "never-made.mp4", "text": TEXT}])  # before any reading
    assert np.isfinite(sentiment(TEXT)["score"])  # and it still reads transcripts


def test_a_standard_features_model_refuses_a_real_clip_too(standard, shared_data):
    clip = shared_data / "mosi" / "raw_samples" / "Oz06ZWiO20M_6.mp4"
    _refuses_clips(standard[2], [str(clip), clip, {"audio": str(clip.with_name("03bSnISJMiM_1.wav"))}])


def test_a_missing_clip_path_is_not_read_as_text(tmp_path):
    """A model the extractor fits (FaceMesh widths, no audio extractor): the path is checked, then refused."""
    config = tiny_dib_config(vision_dim=468 * 3)
    extractor = ClipFeatureExtractor(ExtractionSettings(audio="none", transcribe=False))
    sentiment = pipeline(model=_model(config), processor=processor_for(config), clip_extractor=extractor)
    with pytest.raises(FileNotFoundError, match=r"never-made\.mp4: no such file"):
        sentiment(str(tmp_path / "never-made.mp4"))


def test_a_given_extractor_that_misfits_the_model_fails_at_construction(standard):
    model, processor, _ = standard
    with pytest.raises(ValueError, match=r"the model expects vision_dim=20 but the clip extractor gives 1404"):
        pipeline(model=model, processor=processor, feature_extractor=ExtractionSettings(audio="none"))


# --- Where the extraction settings live ----------------------------------------------------------------------------

PORTABLE = ExtractionSettings(audio="none", vision="none", audio_frame_rate=10, vision_fps=5.0, transcribe=False)


def test_save_pretrained_puts_the_settings_in_the_processor(standard, tmp_path):
    from transformers import AutoProcessor

    model, processor, _ = standard
    sentiment = pipeline(model=model, processor=processor_for(model.config), clip_extractor=PORTABLE)
    sentiment.save_pretrained(tmp_path / "saved")
    assert AutoProcessor.from_pretrained(tmp_path / "saved").extraction_settings == dataclasses.asdict(PORTABLE)
    assert not (tmp_path / "saved" / "extraction_settings.json").exists()
    again = pipeline(model=str(tmp_path / "saved"))
    assert again.clip_extractor.config == PORTABLE and again.clip_settings_source == "the processor's " \
                                                                                       "extraction_settings"
    assert again(TEXT)["score"] == pytest.approx(sentiment(TEXT)["score"], abs=ATOL)

    import transformers

    stock = transformers.pipeline(TASK, model=str(tmp_path / "saved"))
    assert stock.clip_extractor.config == PORTABLE
    assert stock(TEXT)["score"] == pytest.approx(sentiment(TEXT)["score"], abs=ATOL)

    local = pipeline(model=model, processor=processor_for(model.config),
                     clip_extractor=dataclasses.replace(PORTABLE, audio_model=str(tmp_path / "whisper")))
    with pytest.raises(ValueError, match=r"extraction_settings\['audio_model'\].*is a local path"):
        local.save_pretrained(tmp_path / "refused")
    assert not (tmp_path / "refused").exists() and local.processor.extraction_settings is None


def test_a_standard_features_model_saves_no_settings(standard, tmp_path):
    standard[2].save_pretrained(tmp_path / "standard")
    again = pipeline(model=str(tmp_path / "standard"))
    assert again.processor.extraction_settings is None and again.clip_settings_source is None
    with pytest.raises(ValueError, match="cannot compute from a raw clip"):
        again("never-made.wav")


def test_a_folder_saved_before_keeps_its_extraction_settings_json(standard, tmp_path):
    model, processor, _ = standard
    model.save_pretrained(tmp_path / "old")
    processor.save_pretrained(tmp_path / "old")
    request = dataclasses.asdict(dataclasses.replace(PORTABLE, audio_model="/somewhere/whisper"))
    (tmp_path / "old" / "extraction_settings.json").write_text(json.dumps({"request": request, "audio": {}}))
    old = pipeline(model=str(tmp_path / "old"))
    assert old.clip_extractor.config == ExtractionSettings(**request)
    assert old.clip_settings_source.endswith("extraction_settings.json")


def test_settings_come_back_from_a_repo_id_at_the_revision_asked(standard, local_hub, tmp_path):
    from huggingface_hub import HfApi

    model, _, _ = standard
    api = HfApi()
    repo_id = api.create_repo("tester/pipeline-settings").repo_id
    first = dataclasses.replace(PORTABLE, vision_fps=2.0)
    commits = []
    for settings in (first, PORTABLE):
        pipeline(model=model, processor=processor_for(model.config), clip_extractor=settings).save_pretrained(
            tmp_path / str(len(commits)))
        commits.append(api.upload_folder(folder_path=tmp_path / str(len(commits)), repo_id=repo_id).oid)
    latest = pipeline(model=repo_id, token="hf_local_test_token")
    assert latest.clip_extractor.config == PORTABLE
    assert latest(TEXT)["score"] == pytest.approx(standard[2](TEXT)["score"], abs=ATOL)
    assert pipeline(model=repo_id, revision=commits[0]).clip_extractor.config == first
    import transformers

    assert transformers.pipeline(TASK, model=repo_id, revision=commits[0]).clip_extractor.config == first
