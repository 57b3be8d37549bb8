"""Per-step learning-rate schedule shared by pretraining and fine-tuning: linear warm-up, then cosine."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch


def warmup_cosine(
    step: int, warmup_steps: int, total_steps: int, start: float, peak: float, end: float
) -> float:
    """Learning rate at ``step``: linear from start to peak over the warm-up, then cosine from peak to end."""
    if step < warmup_steps:
        return start + (peak - start) * step / max(1, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer,
    trainer: pl.Trainer,
    warmup_epochs: float,
    start: float,
    peak: float,
    end: float,
) -> dict[str, Any]:
    """A Lightning scheduler config stepping every optimizer step; the optimizer's lr must be ``peak``.

    The warm-up is given in epochs (as in the paper) and turned into steps from the trainer's own count
    of optimizer steps, so it follows accumulation, limits and the world size.
    """
    total = max(1, int(trainer.estimated_stepping_batches))
    epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
    warmup = int(round(warmup_epochs * total / epochs))

    def factor(step: int) -> float:
        return warmup_cosine(step, warmup, total, start, peak, end) / peak

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
