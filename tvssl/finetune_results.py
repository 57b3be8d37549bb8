"""Writes a fine-tuning run's test scores to ``metrics.json``, the file ``tvssl report`` reads.

A side effect of the run, so a Callback and not the LightningModule: the module computes scores, this
decides where they go. An existing file is never replaced: it is refused before training starts, so a run
cannot spend hours and then fail to save, and again at the end in case another run wrote it meanwhile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from data_modules.atomic_write import write_atomic

FILE_NAME = "metrics.json"


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise FileExistsError(f"{path} already holds results of an earlier run; move it away or pick another")


class FinetuneResults(pl.Callback):
    """``metrics.json`` at ``results`` (default: the run directory) with the scores of the test epoch.

    Written in ``on_test_end``: callbacks see ``on_test_epoch_end`` before the module has computed its scores.
    """

    def __init__(self, results: str | None = None) -> None:
        self.results = results

    def path(self, trainer: pl.Trainer) -> Path | None:
        if self.results:
            return Path(self.results)
        return Path(trainer.log_dir) / FILE_NAME if trainer.log_dir else None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = self.path(trainer)
        if path is not None:
            _refuse_existing(path)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        scores: dict[str, Any] | None = getattr(pl_module, "test_scores", None)
        path = self.path(trainer)
        if scores is None or path is None or not trainer.is_global_zero or trainer.fast_dev_run:
            return
        dm = trainer.datamodule
        is_audio = dm.modality == "audio"
        record = {
            "dataset": dm.dataset_name.lower().replace("-", ""),
            "split": None if is_audio else dm.partition,
            "fold": dm.partition if is_audio else None,
            "seed": dm.seed,
            **scores,
            "pretrained": pl_module.hparams.pretrained,
            "mode": pl_module.hparams.mode,
            "arch": pl_module.arch,
            "epochs": pl_module.current_epoch,
        }
        _refuse_existing(path)
        write_atomic(path, json.dumps(record, indent=2) + "\n")
