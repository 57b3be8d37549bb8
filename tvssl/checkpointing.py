"""Checkpointing for long runs: mid-epoch checkpoints to resume from, and a last.ckpt that ends as the final state.

A run that dies of an exception (a bug, an out-of-memory error, a node failure Python sees, Ctrl-C) still
leaves ``last.ckpt`` at the last completed step, so hours of training between two periodic checkpoints are
not lost: resuming from it replays exactly the batches the run had not finished.
"""

from __future__ import annotations

import logging
import os

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

log = logging.getLogger(__name__)


class ResumableCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose ``last.ckpt`` is rewritten when training ends.

    With ``every_n_train_steps`` set, Lightning leaves last.ckpt at the last multiple of that step
    count; fine-tuning and resuming both want the weights of the final step, so they are saved again
    at the end. The datamodule's sampler position travels in the same file.
    """

    def last_path(self) -> str | None:
        if self.dirpath is None:
            return None
        return os.path.join(self.dirpath, f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Save the last completed step before the exception ends the run.

        Written by rank 0 alone and without the barrier of ``Trainer.save_checkpoint``: the other ranks may be
        the ones that died. Nothing is written before the first optimizer step or outside fit (its validation included).
        """
        path = self.last_path()
        if (
            path is None
            or not self.save_last
            or trainer.fast_dev_run
            or trainer.state.fn != TrainerFn.FITTING
            or trainer.global_step == 0
            or trainer.global_rank != 0
        ):
            return
        try:
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
            trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, path)
        except Exception as exc:  # the original exception is what the user must see
            log.error("could not save %s after the run failed: %s", path, exc)
            return
        log.warning("the run failed at step %d; its last completed step is in %s", trainer.global_step, path)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if not self.save_last or trainer.fast_dev_run or self.dirpath is None:
            return
        trainer.save_checkpoint(self.last_path())
