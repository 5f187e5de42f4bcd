"""Partner retrieval for DashFusion's supervised contrastive term, as data plumbing around the stock Trainer.

Upstream (src/dataloader/*.py, src/train.py): the whole training split is embedded in eval mode (pooled text, vision,
audio; concatenated), a cosine-similarity ranking is built per sample, and per anchor three lists of 10 are kept:
`ss` the most similar samples with the same label, `sd` the most similar with a different label, `dd` the least
similar with a different label ("same" = equal `np.round(label)` on MOSI / MOSEI, equal label on SIMS). Each training
step draws 2 + 2 + 2 partners per anchor (`random.sample`), in the order ss, ss, dd, dd, sd, sd. The ranking is
refreshed at every odd epoch (1, 3, 5, ...: `similarity_refresh_every=2`).

Here: `PartnerIndex` holds the lists (built in row chunks with masked top-10 searches, so MOSEI's 16k x 16k
similarity never exists at once and no row is fully sorted),
`PartnerCollator` draws partners for the training rows of a batch and collates them as `partner_*` inputs, and
`PartnerRefreshCallback` re-embeds the training split at the refresh epochs.

`compat_retrieval_bug=True` reproduces the released code: its lists hold rank POSITIONS, not sample indices (and
negative positions from the end for `dd`), and the dataset is then indexed with those positions, so "positives" are
low-numbered rows and "negatives" the last rows whatever their labels. Its self-exclusion compares a position with a
sample index. The published numbers were made this way; the default is the method as described.
"""

import random

import numpy as np
import torch
from transformers import TrainerCallback

from .collator import MSADataCollator

PARTNER_COLUMN = "partner_row"  # the training rows' own index, which the collator needs to find their partners
LIST_LENGTH = 10


def _first(mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the first `k` column positions where `mask` is True (in column order) and how many there are."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :k]
    return order, mask.sum(dim=1).clamp(max=k)


class PartnerIndex:
    """ss / sd / dd lists of every training row, rebuilt by `update` from the rows' pooled views."""

    def __init__(self, labels, same_label: str = "rounded", compat_retrieval_bug: bool = False,
                 chunk_rows: int = 1024):
        labels = np.asarray(labels, dtype=np.float64).reshape(-1)
        if same_label not in ("rounded", "exact"):
            raise ValueError(f"same_label must be 'rounded' (MOSI / MOSEI) or 'exact' (SIMS), got {same_label!r}")
        if len(labels) < 2:
            raise ValueError(f"partner retrieval needs at least 2 training rows, got {len(labels)}")
        self.labels = torch.as_tensor(np.round(labels) + 0.0 if same_label == "rounded" else labels)  # -0.0 == 0.0
        self.compat_retrieval_bug, self.chunk_rows = compat_retrieval_bug, chunk_rows
        self.lists: dict[str, list[list[int]]] | None = None
        self.updates = 0

    def __len__(self) -> int:
        return len(self.labels)

    @torch.no_grad()
    def update(self, views: torch.Tensor) -> None:
        """`views` [N, D]: every training row's concatenated pooled views (T, V, A), in dataset order."""
        n = len(self.labels)
        if views.shape[0] != n:
            raise ValueError(f"views has {views.shape[0]} rows but the index was built for {n} training rows")
        # float64 for the released lists (their exact order is reproduced), float32 for the method's top-10 searches
        views = views.double() if self.compat_retrieval_bug else views.float()
        unit = views / views.norm(dim=1, keepdim=True).clamp_min(1e-6)
        build = self._released_lists if self.compat_retrieval_bug else self._lists
        lists = {"ss": [], "sd": [], "dd": []}
        for start in range(0, n, self.chunk_rows):
            for name, chunk in build(unit, torch.arange(start, min(start + self.chunk_rows, n))).items():
                lists[name] += chunk
        self.lists = lists
        self.updates += 1

    def _lists(self, unit: torch.Tensor, rows: torch.Tensor) -> dict[str, list[list[int]]]:
        """The method as described, for one chunk of anchor rows: three masked top-10 searches over the chunk's
        cosine similarities (no full ranking, so a chunk costs a few [rows, N] float32 buffers)."""
        similarity = unit[rows] @ unit.T  # [r, N]
        same = self.labels.unsqueeze(0) == self.labels[rows].unsqueeze(1)
        other = ~same
        same[torch.arange(len(rows)), rows] = False  # never the anchor itself
        k = min(LIST_LENGTH, len(self.labels))
        found = {}
        for name, mask, largest in (("ss", same, True), ("sd", other, True), ("dd", other, False)):
            fill = float("-inf") if largest else float("inf")
            top = similarity.masked_fill(~mask, fill).topk(k, dim=1, largest=largest, sorted=True).indices
            counts = mask.sum(dim=1).clamp(max=k).tolist()
            found[name] = [top[r, :count].tolist() for r, count in enumerate(counts)]
        return found

    def _released_lists(self, unit: torch.Tensor, rows: torch.Tensor) -> dict[str, list[list[int]]]:
        """The released code's lists for one chunk: a full ranking, rank POSITIONS kept (see the module)."""
        n = len(self.labels)
        rank = torch.argsort(unit[rows] @ unit.T, dim=1, descending=True, stable=True)  # [r, N] sample indices
        same = self.labels[rank] == self.labels[rows].unsqueeze(1)
        positions = torch.arange(n).expand_as(rank)
        not_self = positions != rows.unsqueeze(1)  # upstream compares the POSITION j with the anchor's index i
        ss, ss_n = _first(same & not_self, LIST_LENGTH)
        sd, sd_n = _first(~same & not_self, LIST_LENGTH)
        # dd: from the least similar upwards; upstream walks positions -1 .. -(N-1), i.e. never position 0
        dd, dd_n = _first(torch.flip(~same & (positions != 0), dims=[1]), LIST_LENGTH)
        dd = n - 1 - dd  # back to forward positions, used as dataset rows (dd's -k is row N - k = position)
        return {name: [found[r, : count[r]].tolist() for r in range(len(rows))]
                for name, found, count in (("ss", ss, ss_n), ("sd", sd, sd_n), ("dd", dd, dd_n))}

    def draw(self, rows, rng: random.Random) -> list[int]:
        """Six partner rows per anchor row, in the order ss, ss, dd, dd, sd, sd (`random.sample` of 2 from each
        list, as upstream). A list with fewer than 2 entries (a label too rare to fill it) is sampled with
        replacement; an empty one falls back to the anchor itself, so the batch keeps its shape."""
        if self.lists is None:
            raise RuntimeError("PartnerIndex.update has not run yet: embed the training split first "
                               "(PartnerRefreshCallback does at the first epoch)")
        partners = []
        for row in rows:
            for name in ("ss", "dd", "sd"):
                candidates = self.lists[name][int(row)]
                if len(candidates) >= 2:
                    partners += rng.sample(candidates, 2)
                else:
                    partners += [rng.choice(candidates) if candidates else int(row) for _ in range(2)]
        return partners


class PartnerCollator(MSADataCollator):
    """Collate a batch; rows that carry `PARTNER_COLUMN` (the training split, see `mark_partner_rows`) also get their
    six partners each, drawn from `index` and collated from `dataset` as `partner_*` inputs. Evaluation rows have no
    such column and get no partners."""

    def __init__(self, processor, dataset, index: PartnerIndex, seed: int = 0, **kwargs):
        super().__init__(processor, **kwargs)
        self.dataset, self.index = dataset, index
        self.rng = random.Random(seed)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        anchors = [row.get(PARTNER_COLUMN) for row in rows]
        rows = [{k: v for k, v in row.items() if k != PARTNER_COLUMN} for row in rows]
        batch = super().__call__(rows)
        if any(a is None for a in anchors):
            return batch
        partner_rows = self.dataset.select(self.index.draw(anchors, self.rng))
        partners = super().__call__([{k: v for k, v in row.items() if k != PARTNER_COLUMN} for row in partner_rows])
        partners.pop("labels", None)
        batch.update({f"partner_{key}": value for key, value in partners.items()})
        return batch


def mark_partner_rows(dataset):
    """The training split with each row's own index, which `PartnerCollator` draws partners for."""
    if PARTNER_COLUMN in dataset.column_names:
        return dataset
    return dataset.add_column(PARTNER_COLUMN, list(range(len(dataset))))


class PartnerRefreshCallback(TrainerCallback):
    """Re-embed the whole training split (eval mode, no_grad) and rebuild the partner lists at the start of epochs
    0, k, 2k, ... (0-based; upstream's odd epochs 1, 3, 5 with k = 2). `refreshed_at` records when it ran."""

    def __init__(self, collator: PartnerCollator, every: int = 2, batch_size: int = 128):
        self.collator, self.every, self.batch_size = collator, every, batch_size
        self.refreshed_at: list[int] = []

    @torch.no_grad()
    def embed(self, model) -> torch.Tensor:
        """[N, 3d]: cat(T, V, A) of every training row, in dataset order (upstream's update_matrix)."""
        was_training = model.training
        model.eval()
        base = getattr(model, "base_model", model)
        device = next(model.parameters()).device
        dataset, views = self.collator.dataset, []
        try:
            for start in range(0, len(dataset), self.batch_size):
                rows = [{k: v for k, v in row.items() if k != PARTNER_COLUMN}
                        for row in dataset.select(range(start, min(start + self.batch_size, len(dataset))))]
                batch = MSADataCollator.__call__(self.collator, rows)
                batch.pop("labels", None)
                encoded = base.encode(**{k: v.to(device) for k, v in batch.items()})
                views.append(torch.cat([encoded["text_pooled"], encoded["vision_pooled"], encoded["audio_pooled"]],
                                       dim=1).float().cpu())
        finally:
            model.train(was_training)
        return torch.cat(views)

    def on_epoch_begin(self, args, state, control, model=None, **kwargs):
        epoch = int(round(state.epoch or 0))
        # also when no list exists yet (training resumed from a checkpoint at an epoch between refreshes)
        if (epoch % self.every == 0 or self.collator.index.lists is None) and epoch not in self.refreshed_at:
            self.collator.index.update(self.embed(model))
            self.refreshed_at.append(epoch)


__all__ = ["LIST_LENGTH", "PARTNER_COLUMN", "PartnerCollator", "PartnerIndex", "PartnerRefreshCallback",
           "mark_partner_rows"]
