"""Turn dataset rows into model inputs through an MSAProcessor; a column that is absent is a missing modality."""

import numpy as np
import torch

from ..configuration_utils import TEXT_INPUTS

PRETOKENIZED_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")  # what the MMSA reader makes of text_bert
TEACHER_PREFIX = "teacher_"  # precomputed distillation targets (hf_msa.distillation), handed to the model as they are
DOMAIN_COLUMN = "domain_id"  # the source domain (dataset) of a clip, for models that take `domain_ids` (MIDG)
PROMPT_COLUMN = "prompt"  # a context prompt per clip (MMSLF's teacher; `hf-msa prompts generate` writes it)


class MSADataCollator:
    """Collate rows with `text`, optional `audio` / `vision` frame arrays and a label column.

    Works with the stock Trainer when `remove_unused_columns=False` (it reads raw columns). Labels become float
    for regression and long for classification, following `problem_type`. `text_input="text_bert"` feeds the token
    ids an MMSA pickle carries (the reader's `input_ids` / `attention_mask` / `token_type_ids` columns) instead of
    tokenizing the transcript; the config's `text_input` chooses (`training_collator`, the robustness harness).
    Columns named `teacher_*` (a teacher's distillation targets, `hf_msa.distillation`) are stacked into tensors of
    the same names. `prompt_max_length`: the rows' `prompt` column is tokenised too, padded to that length (nothing masks prompt
    padding downstream, as upstream), as `prompt_input_ids` / `prompt_attention_mask` / `prompt_token_type_ids`.
    `domains=True`: a `domain_id` column becomes `domain_ids` (each clip's source domain; MIDG's adapters read it).
    """

    def __init__(self, processor, problem_type: str = "regression", text_column: str = "text",
                 audio_column: str = "audio", vision_column: str = "vision", label_column: str = "label",
                 padding: str = "longest", text_input: str = "raw", prompt_max_length: int | None = None,
                 domains: bool = False):
        if text_input not in TEXT_INPUTS:
            raise ValueError(f"text_input must be one of {TEXT_INPUTS}, got {text_input!r}")
        self.processor = processor
        self.problem_type = problem_type
        self.text_column, self.audio_column, self.vision_column = text_column, audio_column, vision_column
        self.label_column = label_column
        self.padding, self.text_input, self.prompt_max_length = padding, text_input, prompt_max_length
        self.domains = domains

    def _column(self, rows, name):
        return [row.get(name) for row in rows] if name in rows[0] else None

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("cannot collate an empty batch")
        if self.text_column not in rows[0]:
            raise ValueError(f"rows have no {self.text_column!r} column (columns: {sorted(rows[0])})")
        batch = self.processor(
            text=[str(row[self.text_column]) for row in rows],
            audio=self._column(rows, self.audio_column),
            vision=self._column(rows, self.vision_column),
            padding=self.padding,
            return_tensors="pt",
        )
        if self.text_input == "text_bert":
            batch.update(self._pretokenized(rows))
        if self.prompt_max_length:
            batch.update(self._prompts(rows))
        if self.domains and DOMAIN_COLUMN in rows[0]:  # each clip's source domain (MIDG); -1 = unseen
            batch["domain_ids"] = torch.as_tensor(np.asarray([row[DOMAIN_COLUMN] for row in rows]), dtype=torch.long)
        for key in [k for k in rows[0] if k.startswith(TEACHER_PREFIX)]:  # distillation targets, as stored
            batch[key] = torch.as_tensor(np.stack([np.asarray(row[key], dtype=np.float32) for row in rows]))
        if self.label_column in rows[0]:
            labels = np.asarray([row[self.label_column] for row in rows])
            dtype = torch.float32 if self.problem_type == "regression" else torch.long
            batch["labels"] = torch.as_tensor(labels, dtype=dtype)
        return dict(batch)

    def _prompts(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if PROMPT_COLUMN not in rows[0]:
            raise ValueError(f"this model reads a context prompt per clip from a {PROMPT_COLUMN!r} column "
                             f"(`hf-msa prompts generate` writes it); the rows have columns {sorted(rows[0])}")
        empty = [i for i, row in enumerate(rows) if not str(row[PROMPT_COLUMN] or "").strip()]
        if empty:
            raise ValueError(f"rows {empty} of the batch have an empty {PROMPT_COLUMN!r}: every clip needs its prompt")
        tokens = self.processor.tokenizer([str(row[PROMPT_COLUMN]) for row in rows], padding="max_length",
                                          truncation=True, max_length=self.prompt_max_length, return_tensors="pt")
        return {f"prompt_{key}": value for key, value in tokens.items()}

    def _pretokenized(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        """The rows' own token ids, stacked as they are (MMSA pads them all to one length)."""
        missing = [name for name in PRETOKENIZED_COLUMNS[:2] if name not in rows[0]]
        if missing:
            raise ValueError(f"text_input='text_bert' needs the {list(PRETOKENIZED_COLUMNS)} columns an MMSA pickle's "
                             f"text_bert becomes (hf_msa.data.mmsa_pickle); the rows lack {missing} (columns: "
                             f"{sorted(rows[0])})")
        out = {}
        for name in PRETOKENIZED_COLUMNS:
            if name not in rows[0]:
                continue
            lengths = {len(row[name]) for row in rows}
            if len(lengths) != 1:
                raise ValueError(f"text_input='text_bert': {name} rows have different lengths {sorted(lengths)}; "
                                 "MMSA pads text_bert to one length per dataset")
            out[name] = torch.as_tensor(np.stack([np.asarray(row[name]) for row in rows]).astype(np.int64))
        vocabulary = len(self.processor.tokenizer)
        if int(out["input_ids"].max()) >= vocabulary or int(out["input_ids"].min()) < 0:
            raise ValueError(f"text_input='text_bert': input_ids lie in [{int(out['input_ids'].min())}, "
                             f"{int(out['input_ids'].max())}] but the tokenizer has {vocabulary} entries: the ids "
                             "were made with another vocabulary (MMSA: bert-base-uncased / bert-base-chinese)")
        return out


AUGMENT_COLUMN = "augment_random_missing"


def mark_for_augmentation(dataset):
    """The training split with the marker column RandomMissingCollator looks for."""
    return dataset.add_column(AUGMENT_COLUMN, [True] * len(dataset))


class RandomMissingCollator(MSADataCollator):
    """Training-time augmentation with LNLN's random-missing protocol, drawn afresh for every batch.

    Only rows that carry `AUGMENT_COLUMN` = True are corrupted, so one collator serves the stock Trainer's training
    and evaluation loaders: `mark_for_augmentation(train_dataset)` adds the column to the training split only.
    Rates follow LNLN's training recipe (per sample and modality r ~ U(0, 1), half the samples r = 0). With
    `emit_complete=True` the batch also carries the uncorrupted inputs (`complete_input_ids`,
    `complete_audio_features`, `complete_vision_features`) and `text_missing_rate`, which LNLN's objective needs.
    Deviation from the reference, said here and in the LNLN card: the reference's training masks are effectively
    static across epochs (regenerated only inside a worker process that is then discarded); this collator redraws
    them for each batch from one seeded stream.
    """

    def __init__(self, processor, problem_type: str = "regression", emit_complete: bool = False, seed: int = 1111,
                 **kwargs):
        kwargs.setdefault("padding", "max_length")
        super().__init__(processor, problem_type, **kwargs)
        self.emit_complete = emit_complete
        self.rng = np.random.RandomState(seed)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        from .corruption import lnln_training_rates, random_missing

        batch = super().__call__(rows)
        if not all(row.get(AUGMENT_COLUMN, False) for row in rows):
            return batch  # evaluation rows (without the marker column) are never corrupted
        arrays = {k: v.numpy() for k, v in batch.items() if k != "labels"}
        rates = lnln_training_rates(len(rows), self.rng)
        corrupted = random_missing(arrays, rates, int(self.rng.randint(2**31 - 1)),
                                   self.processor.tokenizer.unk_token_id)
        out = {key: torch.as_tensor(corrupted[key]) for key in arrays}
        if "labels" in batch:
            out["labels"] = batch["labels"]
        if self.emit_complete:
            out["complete_input_ids"] = batch["input_ids"]
            out["complete_audio_features"] = batch["audio_features"]
            out["complete_vision_features"] = batch["vision_features"]
            out["text_missing_rate"] = torch.as_tensor(corrupted["text_missing_rate"])
        return out


class ModalityMissingCollator(MSADataCollator):
    """Training-time dataset-level modality missing (HME's protocol: GCNet/IMDer's mask), drawn for every batch.

    Rows that carry `AUGMENT_COLUMN` = True lose whole modalities per sample at `missing_rate` (at least one kept) as
    `hf_msa.data.corruption.apply_presence` does, and the batch carries `modality_mask` [B, 3] when `emit_mask`.
    Deviation from the reference, said in the HME card: upstream draws one mask for the whole split per epoch and
    slices it by batch, for train, validation and test alike; here each training batch draws its own (the same
    algorithm, over max(B, 32) rows) and evaluation rows stay clean (selection on the clean validation split)."""

    def __init__(self, processor, problem_type: str = "regression", missing_rate: float = 0.2, seed: int = 1111,
                 emit_mask: bool = True, **kwargs):
        super().__init__(processor, problem_type, **kwargs)
        if not 0.0 <= missing_rate < 1.0:
            raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")
        self.missing_rate, self.emit_mask = missing_rate, emit_mask
        self.rng = np.random.RandomState(seed)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        from .corruption import apply_presence, modality_missing_presence

        batch = super().__call__(rows)
        if not all(row.get(AUGMENT_COLUMN, False) for row in rows):
            return batch
        arrays = {k: v.numpy() for k, v in batch.items() if k != "labels"}
        presence = modality_missing_presence(arrays, self.missing_rate, self.rng)
        corrupted = apply_presence(arrays, presence, self.processor.tokenizer.unk_token_id)
        out = {key: torch.as_tensor(corrupted[key]) for key in arrays}
        if self.emit_mask:
            out["modality_mask"] = torch.as_tensor(corrupted["modality_mask"])
        if "labels" in batch:
            out["labels"] = batch["labels"]
        return out


class SequenceSamplingCollator(MSADataCollator):
    """Training-time sequence sampling (MMSLF's teacher; `hf_msa.data.corruption.sequence_sampling`) for the rows
    that carry `AUGMENT_COLUMN`: per sample and modality q ~ U(min_rate, 1), audio / vision elements zeroed and text
    positions set to [UNK] with probability 1 - q, drawn per batch from two seeded streams (numpy for q, torch for
    the elements, in the reference's order). Prompts are never sampled; evaluation rows stay clean."""

    def __init__(self, processor, problem_type: str = "regression", min_rate: float = 0.5, seed: int = 1111,
                 **kwargs):
        super().__init__(processor, problem_type, **kwargs)
        if not 0.0 <= min_rate <= 1.0:
            raise ValueError(f"min_rate must be in [0, 1], got {min_rate}")
        self.min_rate = min_rate
        self.rng, self.generator = np.random.RandomState(seed), torch.Generator().manual_seed(seed)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        from .corruption import sequence_sampling

        batch = super().__call__(rows)
        if not all(row.get(AUGMENT_COLUMN, False) for row in rows):
            return batch
        keys = ("vision_features", "audio_features", "input_ids")
        sampled = sequence_sampling({k: batch[k].numpy() for k in keys if k in batch}, self.min_rate, self.rng,
                                    self.generator, self.processor.tokenizer.unk_token_id)
        return dict(batch, **{k: torch.as_tensor(sampled[k]) for k in keys if k in batch})


def training_collator(model, processor, train_dataset, seed: int = 1111, random_missing: bool | None = None):
    """The collator and training split to hand the stock Trainer for `model`.

    A model whose objective needs training-time corruption says so: `training_corruption = "random_missing"` (LNLN):
    the training rows are marked and corrupted per batch by `RandomMissingCollator`, which also emits the
    uncorrupted inputs when the model's forward takes them; `"modality_missing"` (HME, at `config.missing_rate`):
    `ModalityMissingCollator`; `"sequence_sampling"` (MMSLF's teacher, at `config.min_sampling_rate`):
    `SequenceSamplingCollator`. A model whose forward takes `prompt_input_ids` gets the rows' `prompt` column
    tokenised to `config.prompt_max_length`. A model with `training_partners = True` (DashFusion) gets `PartnerCollator`, which adds
    six contrastive partners per training row (`build_trainer` adds the refresh callback). Evaluation rows stay clean. `random_missing` True forces LNLN's random missing, False
    turns any training corruption off (None: the model's own protocol). Returns `(collator, train_dataset)`.
    """
    import inspect

    config = model.config
    padding = getattr(config, "input_padding", "longest")  # non-hf_msa baselines pad to the longest
    text_input = getattr(config, "text_input", "raw")
    forward_inputs = inspect.signature(model.forward).parameters
    prompts = {"prompt_max_length": config.prompt_max_length} if "prompt_input_ids" in forward_inputs else {}
    protocol = getattr(model, "training_corruption", None)
    if getattr(model, "training_partners", False):  # DashFusion: partners drawn per batch (hf_msa.data.partners)
        from .partners import PartnerCollator, PartnerIndex, mark_partner_rows

        if random_missing:
            raise ValueError(f"{type(model).__name__} draws contrastive partners for its training rows; random "
                             "missing augmentation is not combined with that (pass random_missing=None or False)")
        marked = mark_partner_rows(train_dataset)
        index = PartnerIndex(np.asarray(train_dataset["label"]), same_label=config.same_label,
                             compat_retrieval_bug=config.compat_retrieval_bug)
        return PartnerCollator(processor, marked, index, seed=seed, problem_type=config.problem_type,
                               padding=padding, text_input=text_input), marked
    if random_missing is None and protocol == "modality_missing" and getattr(config, "missing_rate", 0.0) > 0:
        wants_mask = "modality_mask" in inspect.signature(model.forward).parameters
        collator = ModalityMissingCollator(processor, config.problem_type, missing_rate=config.missing_rate,
                                           seed=seed, emit_mask=wants_mask, padding=padding, text_input=text_input)
        return collator, mark_for_augmentation(train_dataset)
    if random_missing is None and protocol == "sequence_sampling":
        collator = SequenceSamplingCollator(processor, config.problem_type, min_rate=config.min_sampling_rate,
                                            seed=seed, padding=padding, text_input=text_input, **prompts)
        return collator, mark_for_augmentation(train_dataset)
    if random_missing is None:
        random_missing = protocol == "random_missing"
    if not random_missing:
        collator = MSADataCollator(processor, problem_type=config.problem_type, padding=padding, text_input=text_input,
                                   domains="domain_ids" in forward_inputs, **prompts)
        return collator, train_dataset
    wants_complete = "complete_input_ids" in inspect.signature(model.forward).parameters
    collator = RandomMissingCollator(processor, config.problem_type, emit_complete=wants_complete, seed=seed,
                                     padding=padding, text_input=text_input, **prompts)
    return collator, mark_for_augmentation(train_dataset)


__all__ = ["AUGMENT_COLUMN", "DOMAIN_COLUMN", "MSADataCollator", "ModalityMissingCollator", "PROMPT_COLUMN",
           "RandomMissingCollator",
           "SequenceSamplingCollator", "mark_for_augmentation", "training_collator"]
