"""A callback that writes which (title, slot) pairs each rank trained on, for resume and DDP tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from tvssl.gpu_check import RecordLosses

__all__ = ["FailAt", "RecordBatches", "RecordLosses", "StopAfter", "read_losses", "read_records"]


class RecordBatches(pl.Callback):
    """Appends one JSON line per training batch to ``<out>/rank<r>.jsonl``."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        record = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "titles": batch["title"].tolist(),
            "slots": batch["slot"].tolist(),
        }
        with (self.out / f"rank{trainer.global_rank}.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")


def read_records(out: Path, rank: int = 0) -> list[dict[str, Any]]:
    path = out / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_losses(out: Path, rank: int = 0) -> list[dict[str, Any]]:
    path = out / f"losses-rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


class StopAfter(pl.Callback):
    """Ends fit cleanly after ``steps`` optimizer steps without changing max_steps (so the LR schedule is the same)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step >= self.steps:
            trainer.should_stop = True


class FailAt(pl.Callback):
    """Raises inside the training step of batch ``step`` (0-based global step): a crash for any cause."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError(f"injected failure at step {self.step}")
