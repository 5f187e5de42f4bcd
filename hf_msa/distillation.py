"""Teacher targets for distillation (MMSLF's student), as data around the stock Trainer.

The student's objective reads three tensors of its teacher per clip: the fusion tokens and the last cross layer's
text-over-audio and text-over-vision maps (`TEACHER_TARGETS`). By default they are computed once, before training,
and stored as `teacher_*` columns of the training split (`add_teacher_targets`); the collator hands any `teacher_*`
column to the model. `OnlineTeacherCollator` runs the teacher per batch instead (the switch for a teacher that
changes, or a split too big to store: MOSI's maps are ~0.7 MB per clip in float32).

Upstream never calls `teacher.eval()` while distilling, so its targets come with dropout active (0.5 in the cross
encoders, BERT's 0.1): random, and 3-4x the eval cost at 512 prompt tokens. `train_mode=True` reproduces that (only
with the online teacher, where each batch draws afresh); the default is eval mode, deterministic targets.
"""

import datasets
import numpy as np
import torch

from .data.collator import TEACHER_PREFIX, MSADataCollator

TEACHER_TARGETS = ("fusion_tokens", "text_audio_attention", "text_vision_attention")


@torch.no_grad()
def teacher_targets(teacher, batch: dict, train_mode: bool = False) -> dict[str, torch.Tensor]:
    """`teacher_*` targets of one collated batch (labels and other `teacher_*` keys ignored), under no_grad."""
    was_training = teacher.training
    teacher.train(train_mode)
    try:
        device = next(teacher.parameters()).device
        inputs = {k: v.to(device) for k, v in batch.items() if k != "labels" and not k.startswith(TEACHER_PREFIX)}
        out = teacher(**inputs)
    finally:
        teacher.train(was_training)
    return {TEACHER_PREFIX + name: getattr(out, name).float().cpu() for name in TEACHER_TARGETS}


def add_teacher_targets(teacher, processor, dataset, batch_size: int = 32, progress: bool = True):
    """`dataset` with the teacher's eval-mode targets as `teacher_*` columns (float32, one row per clip, in order).

    The rows are collated as the teacher is fed (its padding, its `prompt` column); rows that cannot be collated
    raise, none is dropped."""
    from tqdm.auto import tqdm

    config = teacher.config
    collator = MSADataCollator(processor, problem_type=config.problem_type, padding=config.input_padding,
                               text_input=getattr(config, "text_input", "raw"),
                               prompt_max_length=getattr(config, "prompt_max_length", None))
    columns = {TEACHER_PREFIX + name: [] for name in TEACHER_TARGETS}
    bar = tqdm(total=len(dataset), desc="teacher targets", unit="clip", disable=not progress)
    for start in range(0, len(dataset), batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        targets = teacher_targets(teacher, collator(rows))
        for key, values in targets.items():
            columns[key].extend(np.asarray(values))
        bar.update(len(rows))
    bar.close()
    stale = [key for key in columns if key in dataset.column_names]  # targets of an earlier teacher
    if stale:
        dataset = dataset.remove_columns(stale)
    arrays = {key: np.stack(values) for key, values in columns.items()}
    # fixed shapes: Array2D / Array3D columns, read back as arrays rather than nested lists
    features = datasets.Features({key: (datasets.Array2D if a.ndim == 3 else datasets.Array3D)(
        shape=a.shape[1:], dtype="float32") for key, a in arrays.items()})
    targets = datasets.Dataset.from_dict(arrays, features=features)
    joined = datasets.concatenate_datasets([dataset.with_format(None), targets], axis=1)
    return joined.with_format(dataset.format["type"])  # the caller's format kept


class OnlineTeacherCollator:
    """Wrap a student's collator: every batch also gets its teacher's targets, computed now (`train_mode` as above).
    The teacher's own inputs (its prompt) are collated by `teacher_collator`."""

    def __init__(self, student_collator, teacher, teacher_collator, train_mode: bool = False):
        self.student_collator, self.teacher, self.teacher_collator = student_collator, teacher, teacher_collator
        self.train_mode = train_mode

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.student_collator(rows)
        batch.update(teacher_targets(self.teacher, self.teacher_collator(rows), self.train_mode))
        return batch


__all__ = ["OnlineTeacherCollator", "TEACHER_PREFIX", "TEACHER_TARGETS", "add_teacher_targets", "teacher_targets"]
