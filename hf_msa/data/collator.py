"""Turn dataset rows into model inputs through an MSAProcessor; a column that is absent is a missing modality."""

import numpy as np
import torch


class MSADataCollator:
    """Collate rows with `text`, optional `audio` / `vision` frame arrays and a label column.

    Works with the stock Trainer when `remove_unused_columns=False` (it reads raw columns). Labels become float
    for regression and long for classification, following `problem_type`.
    """

    def __init__(self, processor, problem_type: str = "regression", text_column: str = "text",
                 audio_column: str = "audio", vision_column: str = "vision", label_column: str = "label",
                 padding: str = "longest"):
        self.processor = processor
        self.problem_type = problem_type
        self.text_column, self.audio_column, self.vision_column = text_column, audio_column, vision_column
        self.label_column = label_column
        self.padding = padding

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
        if self.label_column in rows[0]:
            labels = np.asarray([row[self.label_column] for row in rows])
            dtype = torch.float32 if self.problem_type == "regression" else torch.long
            batch["labels"] = torch.as_tensor(labels, dtype=dtype)
        return dict(batch)


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


def training_collator(model, processor, train_dataset, seed: int = 1111, random_missing: bool | None = None):
    """The collator and training split to hand the stock Trainer for `model`.

    A model whose objective needs training-time corruption says so (`training_corruption = "random_missing"`, LNLN):
    then the training rows are marked and corrupted per batch by `RandomMissingCollator`, which also emits the
    uncorrupted inputs when the model's forward takes them; evaluation rows stay clean. `random_missing` True / False
    forces the augmentation on / off (None: the model's own protocol). Returns `(collator, train_dataset)`.
    """
    import inspect

    config = model.config
    padding = getattr(config, "input_padding", "longest")  # non-hf_msa baselines pad to the longest
    if random_missing is None:
        random_missing = getattr(model, "training_corruption", None) == "random_missing"
    if not random_missing:
        return MSADataCollator(processor, problem_type=config.problem_type, padding=padding), train_dataset
    wants_complete = "complete_input_ids" in inspect.signature(model.forward).parameters
    collator = RandomMissingCollator(processor, config.problem_type, emit_complete=wants_complete, seed=seed,
                                     padding=padding)
    return collator, mark_for_augmentation(train_dataset)


__all__ = ["AUGMENT_COLUMN", "MSADataCollator", "RandomMissingCollator", "mark_for_augmentation", "training_collator"]
