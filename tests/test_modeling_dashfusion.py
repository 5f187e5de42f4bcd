"""DashFusion beyond the golden fixture: the shared post-norm encoder is torch's, the padding rules, the fixed-length
padding the unmasked fusion needs, partner checks and the reference's init (training with partners: test_partners.py)."""

import pytest
import torch
from torch import nn

from hf_msa import DashFusionConfig, DashFusionForSentimentAnalysis
from hf_msa.modules.post_norm_encoder import PostNormEncoder

from .conftest import TINY_TEXT, random_batch

TINY = dict(hidden_size=16, num_attention_heads=2, num_encoder_layers=1, encoder_intermediate_size=32,
            alignment_heads=2, alignment_head_dim=8, fusion_depth=2, bottleneck_tokens=4, fusion_heads=2,
            fusion_intermediate_size=32, head_hidden_sizes=[16, 8], audio_max_length=64, vision_max_length=64)


def tiny(**overrides):
    return DashFusionConfig.from_preset("mosi", text_config=dict(TINY_TEXT), **{**TINY, **overrides})


def test_post_norm_encoder_is_torchs_transformer_encoder_with_the_same_weights():
    torch.manual_seed(0)
    reference = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, 0.5, activation="gelu", batch_first=True),
                                      2, enable_nested_tensor=False).eval()
    ours = PostNormEncoder(2, 16, 2, 32, 0.5).eval()
    for mine, theirs in zip(ours.layers, reference.layers):
        mine.qkv.load_state_dict({"weight": theirs.self_attn.in_proj_weight, "bias": theirs.self_attn.in_proj_bias})
        for a, b in (("out", theirs.self_attn.out_proj), ("fc1", theirs.linear1), ("fc2", theirs.linear2),
                     ("norm1", theirs.norm1), ("norm2", theirs.norm2)):
            getattr(mine, a).load_state_dict(b.state_dict())
    x = torch.randn(3, 7, 16)
    padding = torch.zeros(3, 7, dtype=torch.bool)
    padding[1, 4:] = True
    with torch.no_grad():
        torch.testing.assert_close(ours(x, padding), reference(x, src_key_padding_mask=padding), atol=1e-5, rtol=1e-5)
    ours.train()  # dropout 0.5 on the attention weights too: training outputs differ from eval, but stay finite
    assert torch.isfinite(ours(x, padding)).all() and not torch.allclose(ours(x, padding), ours.eval()(x, padding))


def test_zero_sum_padding_masks_silent_frames_but_never_frame_zero():
    model = DashFusionForSentimentAnalysis(tiny()).eval()
    batch = random_batch(model.config, batch_size=2, audio_length=10, vision_length=10, labels=False)
    batch["audio_features"][0, 0] = 0.0      # frame 0 silent: still valid
    batch["audio_features"][0, 4:6] = 0.0    # silent frames inside the clip: padding
    inputs = model.dashfusion.prepare_inputs(batch["input_ids"], batch["attention_mask"], None, batch["audio_features"],
                                             batch["audio_attention_mask"], None, None)
    frames, padding = model.dashfusion._frames(inputs, "audio")
    assert frames.shape[1] == 64 and padding.shape == (2, 65)  # padded to audio_max_length, CLS slot first
    assert not padding[:, :2].any()                              # the CLS slot and frame 0
    assert padding[0, 5:7].all() and not padding[1, 1:11].any() and padding[:, 11:].all()
    model.config.padding_rule = "attention_mask"
    _, by_mask = model.dashfusion._frames(inputs, "audio")
    assert not by_mask[0, 5:7].any() and by_mask[:, 11:].all()


def test_a_clip_scores_the_same_whatever_frame_padding_it_arrives_with():
    """Fixed-length padding inside the model: zero frames appended by a collator change nothing."""
    torch.manual_seed(0)
    model = DashFusionForSentimentAnalysis(tiny()).eval()
    batch = random_batch(model.config, batch_size=3, audio_length=20, vision_length=15, labels=False)
    longer = dict(batch, audio_features=nn.functional.pad(batch["audio_features"], (0, 0, 0, 30)),
                  audio_attention_mask=nn.functional.pad(batch["audio_attention_mask"], (0, 30)))
    with torch.no_grad():
        torch.testing.assert_close(model(**longer).logits, model(**batch).logits, atol=1e-6, rtol=1e-6)
    too_long = dict(batch, audio_features=torch.randn(3, 65, model.config.audio_dim), audio_attention_mask=None)
    with pytest.raises(ValueError, match="audio_max_length=64"):
        model(**too_long)


def test_text_padding_longest_makes_a_score_depend_on_the_batch_and_max_length_does_not(tokenizer):
    """Upstream pads text to the longest of the batch and masks nothing after the encoders."""
    from hf_msa import MSAFeatureExtractor, MSAProcessor

    texts = ["good", "a much longer transcript with many more words than the first one has"]
    for padding, same in (("longest", False), ("max_length", True)):
        torch.manual_seed(0)
        config = tiny(text_padding=padding, text_max_length=24)
        model = DashFusionForSentimentAnalysis(config).eval()
        processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), tokenizer, max_text_length=24)
        with torch.no_grad():
            alone = model(**processor(text=texts[:1], padding=config.input_padding, return_tensors="pt")).logits
            together = model(**processor(text=texts, padding=config.input_padding, return_tensors="pt")).logits
        assert torch.allclose(alone[0], together[0], atol=1e-6) is same, padding


def test_partners_must_come_six_per_anchor():
    model = DashFusionForSentimentAnalysis(tiny()).eval()
    batch = random_batch(model.config, batch_size=2)
    partners = random_batch(model.config, batch_size=11, labels=False)
    with pytest.raises(ValueError, match="6 partners per anchor"):
        model(**batch, **{f"partner_{k}": v for k, v in partners.items()})
    with pytest.raises(ValueError, match="partner_input_ids is required"):
        model(**batch, partner_audio_features=partners["audio_features"])
    partners = random_batch(model.config, batch_size=12, labels=False)
    out = model(**batch, **{f"partner_{k}": v for k, v in partners.items()})
    assert set(out.loss_terms) == {"task", "contrastive"} and torch.isfinite(out.loss)


def test_initialisation_follows_the_reference():
    torch.manual_seed(0)
    model = DashFusionForSentimentAnalysis(tiny(num_encoder_layers=2))
    encoder = model.dashfusion.audio_encoder
    assert torch.equal(encoder.cls_token, torch.ones_like(encoder.cls_token))
    assert torch.equal(encoder.position_embeddings, torch.zeros_like(encoder.position_embeddings))
    for layer in encoder.encoder.layers:  # torch MultiheadAttention: Xavier-uniform in-projection, zero biases
        bound = (6 / (16 + 48)) ** 0.5
        assert layer.qkv.weight.abs().max() <= bound and layer.qkv.weight.std() > bound / 3
        assert not layer.qkv.bias.any() and not layer.out.bias.any()
    fc = model.dashfusion.alignment.to_out  # PyTorch's Linear default, not N(0, 0.02)
    assert fc.weight.abs().max() <= 1 / fc.in_features ** 0.5 and fc.weight.std() > 0.03


def test_text_bert_feeds_an_mmsa_pickles_own_token_ids(tmp_path):
    """text_input="text_bert": the ids MMSA stored (not the transcript re-tokenized) reach the model, through the
    training collator and the robustness harness alike; rows without them, or with foreign ids, are refused."""
    import numpy as np
    from datasets import Dataset
    from transformers import AutoTokenizer

    from hf_msa import MSAFeatureExtractor, MSAProcessor
    from hf_msa.data import read_mmsa_pickle, synthetic_mmsa_pickle, write_mmsa_pickle
    from hf_msa.data.collator import MSADataCollator, training_collator
    from hf_msa.data.mmsa_pickle import mmsa_rows
    from hf_msa.robustness import encode_split
    from hf_msa.text_encoders import minilm_path

    content = synthetic_mmsa_pickle("mosi", sizes={"train": 6, "valid": 2, "test": 2}, seed=3)
    write_mmsa_pickle(tmp_path / "unaligned_50.pkl", content)
    rows = list(mmsa_rows(read_mmsa_pickle(tmp_path / "unaligned_50.pkl")["train"]))
    config = tiny(text_input="text_bert")
    processor = MSAProcessor(MSAFeatureExtractor.from_model_config(config), AutoTokenizer.from_pretrained(minilm_path()),
                             max_text_length=config.text_max_length)
    stored = torch.as_tensor(content["train"]["text_bert"]).long()
    model = DashFusionForSentimentAnalysis(config)
    collator, _ = training_collator(model, processor, Dataset.from_list(rows))
    for batch in (MSADataCollator(processor, text_input="text_bert")(rows),
                  {k: torch.as_tensor(v) for k, v in encode_split(processor, rows, "text_bert")[0].items()}):
        torch.testing.assert_close(batch["input_ids"], stored[:, 0], rtol=0, atol=0)
        torch.testing.assert_close(batch["attention_mask"].long(), stored[:, 1], rtol=0, atol=0)
    assert collator.text_input == "text_bert"
    raw = MSADataCollator(processor)(rows)["input_ids"]
    assert raw.shape != stored[:, 0].shape or not torch.equal(raw, stored[:, 0])  # the transcripts tokenize otherwise
    batch = MSADataCollator(processor, text_input="text_bert")(rows)
    assert torch.isfinite(model(**batch).loss)

    with pytest.raises(ValueError, match=r"needs the \['input_ids', 'attention_mask', 'token_type_ids'\] columns"):
        MSADataCollator(processor, text_input="text_bert")([{k: v for k, v in r.items() if k != "input_ids"}
                                                            for r in rows])
    foreign = [dict(r, input_ids=np.full_like(r["input_ids"], 40000)) for r in rows]
    with pytest.raises(ValueError, match="made with another vocabulary"):
        MSADataCollator(processor, text_input="text_bert")(foreign)
    with pytest.raises(ValueError, match="text_input must be one of"):
        tiny(text_input="bert")
