"""Checkpointing for long runs: mid-epoch checkpoints to resume from, and a last.ckpt that ends as the final state."""

from __future__ import annotations

import os

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint


class ResumableCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose ``last.ckpt`` is rewritten when training ends.

    With ``every_n_train_steps`` set, Lightning leaves last.ckpt at the last multiple of that step
    count; fine-tuning and resuming both want the weights of the final step, so they are saved again
    at the end. The datamodule's sampler position travels in the same file.
    """

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if not self.save_last or trainer.fast_dev_run or self.dirpath is None:
            return
        trainer.save_checkpoint(
            os.path.join(self.dirpath, f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}")
        )
