"""LightningCLI for `tvssl fit|validate|test`: run naming, CSV + W&B loggers, one directory per run.

Imported only for those subcommands, so the other verbs start without loading Lightning.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

from tvssl.cli import RUN_DIR_ENV, allocate_run_dir
from tvssl.configs import expand_config_args


class ConfigToWandb(SaveConfigCallback):
    """Writes config.yaml into the run directory and, from rank 0 only, attaches it to the W&B run."""

    def save_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update(self.config.as_dict(), allow_val_change=True)


class TVSSLCLI(LightningCLI):
    """LightningCLI with run naming, loggers and a per-run directory."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--run.name", type=str, default=None, help="run name (default: the config's file name)"
        )
        parser.add_argument("--run.group", type=str, default="adhoc", help="W&B group: the table section")
        parser.add_argument("--run.job_type", type=str, default=None, help="W&B job type (default: pretrain)")
        parser.add_argument("--run.dir", type=str, default="runs", help="parent folder of run directories")
        parser.add_argument(
            "--run.wandb", type=str, default="offline", help="offline (default), online or disabled"
        )
        parser.add_argument("--run.project", type=str, default="tvssl", help="W&B project")

    def _run_settings(self) -> dict[str, Any]:
        config = self.config[self.subcommand] if self.subcommand else self.config
        run = dict(config.get("run") or {})
        if not run.get("name"):
            configs = config.get("config") or []
            run["name"] = (
                Path(str(configs[-1])).stem if configs and Path(str(configs[-1])).is_file() else "run"
            )
        return run

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        run = self._run_settings()
        mode = run.get("wandb", "offline")
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"--run.wandb must be offline, online or disabled, got {mode!r}")
        trainer_config = self._get(self.config_init, "trainer", default={})
        if trainer_config.get("logger") is False:
            return super().instantiate_trainer(**kwargs)
        run_dir = allocate_run_dir(Path(run.get("dir") or "runs"), run["name"])
        # The directory is new by construction; the CSV logger only sees W&B's files in it and would warn
        # that earlier logs get deleted.
        warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
        loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="", version="")]
        if mode != "disabled":
            (run_dir / "wandb").mkdir(exist_ok=True)
            loggers.append(
                WandbLogger(
                    project=run.get("project") or "tvssl",
                    group=run.get("group"),
                    job_type=run.get("job_type")
                    or ("pretrain" if self.subcommand == "fit" else self.subcommand),
                    name=run["name"],
                    save_dir=str(run_dir),
                    offline=mode == "offline",
                )
            )
        print(f"tvssl: run directory {run_dir}", file=sys.stderr)
        return super().instantiate_trainer(logger=loggers, default_root_dir=str(run_dir), **kwargs)

    def after_fit(self) -> None:
        """Fine-tuning runs test at the end of fit, on the final weights (the paper's protocol)."""
        if getattr(self.model, "test_after_fit", False):
            self.trainer.test(self.model, datamodule=self.datamodule)


def lightning_main(argv: Sequence[str]) -> None:
    """Run LightningCLI on ``argv`` with config bases expanded; it reads sys.argv, so that is where they go."""
    saved = sys.argv
    inherited_run_dir = os.environ.get(RUN_DIR_ENV)
    sys.argv = [saved[0], *expand_config_args(argv)]
    try:
        _cli()
    finally:
        sys.argv = saved
        if inherited_run_dir is None:
            os.environ.pop(RUN_DIR_ENV, None)


def _cli() -> None:
    TVSSLCLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=ConfigToWandb,
        parser_kwargs={"default_env": False},
    )
