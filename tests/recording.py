"""A callback that writes which (title, slot) pairs each rank trained on, for resume and DDP tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl


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
