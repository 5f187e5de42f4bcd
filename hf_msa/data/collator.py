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


__all__ = ["MSADataCollator"]
