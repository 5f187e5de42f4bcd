"""`hf-msa prompts generate`: a real causal LM (tiny, random) writes one prompt per clip, resumes without redoing
finished clips, shows the label to training clips only, and the prompts come back as a dataset column."""

import json

import pytest
import torch
from datasets import Dataset, DatasetDict
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from hf_msa import prompts as prompt_job
from hf_msa.prompts import (PromptSettings, attach_prompts, build_request, decoding_arguments, done_ids,
                            generate_prompts, prompt_lengths)
from hf_msa.text_encoders import minilm_path


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())  # any tokenizer: the LM is random and tiny
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    return LlamaForCausalLM(config), tokenizer


def clips():
    def split(name, n, offset):
        return Dataset.from_dict({"id": [f"{name}_{i}" for i in range(n)],
                                  "text": [f"{name} clip {i}: it was a {'good' if i % 2 else 'bad'} movie"
                                           for i in range(n)],
                                  "label": [round(-2.6 + 0.7 * (i + offset), 1) for i in range(n)]})
    return DatasetDict({"train": split("train", 5, 0), "validation": split("validation", 3, 11),
                        "test": split("test", 3, 17)})


def test_labels_reach_training_requests_only():
    settings = PromptSettings()
    train = build_request("great film", "train", 2.4, settings)[1]["content"]
    assert "+2.4" in train and "Sentiment label" in train
    for split in ("validation", "test"):
        request = build_request("great film", split, 2.4, settings)[1]["content"]
        assert "Sentiment label" not in request and "2.4" not in request


def test_one_prompt_per_clip_resumable_and_no_held_out_label(lm, tmp_path, monkeypatch):
    model, tokenizer = lm
    data = clips()
    seen = []
    real_render = prompt_job._render
    monkeypatch.setattr(prompt_job, "_render", lambda tok, messages: seen.append(messages) or real_render(tok, messages))
    settings = PromptSettings(max_new_tokens=6, batch_size=2)
    first = generate_prompts(data, model, tokenizer, tmp_path, settings, generator_name="tiny-llama", limit=4,
                             progress=False)
    assert first == {"written": 4, "total": 4, "remaining": 7}
    before = (tmp_path / "prompts.jsonl").read_text().splitlines()
    with open(tmp_path / "prompts.jsonl", "a") as handle:
        handle.write('{"id": "test_2", "spl')  # an interrupted write: a torn last line
    seen.clear()
    second = generate_prompts(data, model, tokenizer, tmp_path, settings, generator_name="tiny-llama", progress=False)
    assert second == {"written": 7, "total": 11, "remaining": 0}
    assert len(seen) == 7  # the 4 finished clips were not asked again
    lines = [json.loads(line) for line in (tmp_path / "prompts.jsonl").read_text().splitlines() if line.endswith("}")]
    assert [line["id"] for line in lines[:4]] == [json.loads(line)["id"] for line in before]
    assert sorted(line["id"] for line in lines) == sorted(i for split in data.values() for i in split["id"])
    assert done_ids(tmp_path) == {line["id"] for line in lines}
    for messages in seen:  # every request of a held-out clip is label-free
        request = messages[1]["content"]
        if "validation clip" in request or "test clip" in request:
            assert "Sentiment label" not in request, request
    assert sum("Sentiment label" in m[1]["content"] for m in seen) == 1  # of the 7 new clips, 1 was a training clip
    meta = json.loads((tmp_path / "generation.json").read_text())
    assert meta["generator"] == "tiny-llama" and meta["label_shown_for_splits"] == ["train"]
    assert meta["settings"]["max_new_tokens"] == 6
    with pytest.raises(ValueError, match="other \\['settings'\\]"):
        generate_prompts(data, model, tokenizer, tmp_path, PromptSettings(max_new_tokens=9, batch_size=2),
                         generator_name="tiny-llama", progress=False)


def repeated_ngrams(tokens: list[int], n: int) -> int:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) - len(set(grams))


def test_the_ngram_block_stops_loops_and_request_echoes():
    """A random LM over 8 tokens decoding greedily repeats itself; with no_repeat_ngram_size=2 no bigram of the
    request and the answer together occurs twice (transformers counts the request's n-grams too, so a label line
    cannot be copied)."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config).eval()
    request = torch.tensor([[1, 2, 3, 4, 5]])
    runs = {}
    for size in (0, 2):
        settings = PromptSettings(max_new_tokens=24, no_repeat_ngram_size=size)
        with torch.no_grad():
            runs[size] = model.generate(request, attention_mask=torch.ones_like(request), pad_token_id=0,
                                        **decoding_arguments(settings))[0].tolist()
    assert repeated_ngrams(runs[0], 2) > 0  # unblocked, the greedy answer loops or copies the request
    assert len(runs[2]) > 5 + 8 and repeated_ngrams(runs[2], 2) == 0  # (it may stop early at an end token)
    assert decoding_arguments(PromptSettings(no_repeat_ngram_size=0, repetition_penalty=1.2)) == {
        "max_new_tokens": 96, "do_sample": False, "repetition_penalty": 1.2}
    for bad in ({"no_repeat_ngram_size": -1}, {"repetition_penalty": 0.0}, {"max_new_tokens": 0}):
        with pytest.raises(ValueError, match=f"PromptSettings.{next(iter(bad))} must be"):
            PromptSettings(**bad)


def test_prompts_come_back_as_a_column(lm, tmp_path):
    model, tokenizer = lm
    data = clips()
    generate_prompts(data, model, tokenizer, tmp_path, PromptSettings(max_new_tokens=5, batch_size=4),
                     progress=False)
    attached = attach_prompts(data, tmp_path)
    assert all(len(split) == len(data[name]) and all(p.strip() for p in split["prompt"])
               for name, split in attached.items())
    stats = prompt_lengths(tmp_path)
    assert stats["count"] == 11 and stats["unit"] == "words" and stats["max"] >= stats["median"] > 0
    extra = DatasetDict({"train": Dataset.from_dict({"id": ["unknown_clip"], "text": ["x"], "label": [0.0]})})
    with pytest.raises(ValueError, match="have no prompt"):
        attach_prompts(extra, tmp_path)


def test_the_command_writes_smollm2_prompts_for_real_mosi_clips(shared_data, tmp_path):
    """`hf-msa prompts generate` with the packaged SmolLM2-135M-Instruct on the first real MOSI transcripts."""
    from hf_msa.cli import main

    main(["prompts", "generate", "--data", str(shared_data / "mosi" / "label.csv"), "--output", str(tmp_path),
          "--limit", "3", "--batch-size", "3", "--max-new-tokens", "12"])
    lines = [json.loads(line) for line in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert [line["split"] for line in lines] == ["train"] * 3 and all(line["prompt"] for line in lines)
    meta = json.loads((tmp_path / "generation.json").read_text())
    assert meta["generator"].startswith("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert meta["settings"]["max_new_tokens"] == 12
