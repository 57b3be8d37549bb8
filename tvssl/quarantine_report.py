"""Names each quarantined title once, counts them in the logs and lists them in ``<run dir>/quarantine.csv``.

The data workers quarantine titles (``data_modules.quarantine``) and every batch carries the entries of the
worker that made it; this callback, in the main process, merges them. Under DDP each rank sees its own
workers' entries; they are merged over ranks at the end of every epoch and of training, and rank 0 writes
the file.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch.distributed as dist

from data_modules.atomic_write import write_atomic
from data_modules.quarantine import QuarantineEntry

FILE_NAME = "quarantine.csv"
COLUMNS = ("title", "path", "reason", "failures")


class QuarantineReport(pl.Callback):
    """Collects quarantine entries from batches: one warning per title, a count metric, a CSV in the run dir."""

    def __init__(self) -> None:
        self.entries: dict[str, QuarantineEntry] = {}

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._take(trainer, batch)
        pl_module.log("train/quarantined_titles", float(len(self.entries)), reduce_fx="max", batch_size=1)

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._take(trainer, batch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._merge_ranks(trainer)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._merge_ranks(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._merge_ranks(trainer)

    def _take(self, trainer: pl.Trainer, batch: Any) -> None:
        if not isinstance(batch, dict):
            return
        new = [e for e in batch.get("quarantined") or () if e.title not in self.entries]
        for entry in new:
            self.entries[entry.title] = entry
            warnings.warn(
                f"title {entry.title} ({entry.path}) quarantined for the rest of the run after {entry.failures} "
                f"failed reads: {entry.reason}. Its clips now come from other titles; see {FILE_NAME}.",
                stacklevel=1,
            )
        if new:
            self._write(trainer)

    def _merge_ranks(self, trainer: pl.Trainer) -> None:
        if trainer.world_size < 2 or not (dist.is_available() and dist.is_initialized()):
            return
        gathered: list[Any] = [None] * trainer.world_size
        dist.all_gather_object(gathered, list(self.entries.values()))
        before = len(self.entries)
        for entries in gathered:
            for entry in entries or ():
                self.entries.setdefault(entry.title, entry)
        if len(self.entries) > before:
            self._write(trainer)

    def _write(self, trainer: pl.Trainer) -> None:
        run_dir = trainer.log_dir or trainer.default_root_dir
        if trainer.global_rank != 0 or not run_dir:
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        for entry in sorted(self.entries.values(), key=lambda e: e.title):
            writer.writerow([entry.title, entry.path, entry.reason, entry.failures])
        write_atomic(Path(run_dir) / FILE_NAME, text.getvalue())
