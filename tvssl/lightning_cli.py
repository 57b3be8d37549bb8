"""LightningCLI for `tvssl fit|validate|test`: run naming, CSV + W&B loggers, one directory per run.

Imported only for those subcommands, so the other verbs start without loading Lightning. Until the run starts
(fit, validation or test begins), the CLI is checking what it was asked: a contradiction found by then (a
datamodule's ValueError about k, w and the batch, a missing root, a missing checkpoint) is a ``UserError``, and
the run directory it made is removed again if nothing was written into it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger

from tvssl.configs import expand_config_args
from tvssl.errors import UserError, config_checks, config_error, user_message
from tvssl.progress import PROGRESS_ENV, Reporter
from tvssl.run_dirs import RUN_DIR_ENV, claim_run_dir, discard_if_unused

CKPT_KEYWORDS = ("last", "best", "hpc")
"""``--ckpt_path`` values that Lightning resolves itself instead of reading a file."""


class ConfigToWandb(SaveConfigCallback):
    """Writes config.yaml into the run directory and, from rank 0 only, attaches it to the W&B run."""

    def save_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update(self.config.as_dict(), allow_val_change=True)


class RunStarted(Callback):
    """Records when the run really starts: from then on an error is the run's, no longer the request's.

    The run directory is announced then, not when it is made: a run refused before it starts has none.
    """

    def __init__(self) -> None:
        self.started = False
        self.run_dir: Path | None = None

    def _start(self, trainer: pl.Trainer, *_: Any) -> None:
        if not self.started and self.run_dir is not None and trainer.is_global_zero:
            print(f"tvssl: run directory {self.run_dir}", file=sys.stderr, flush=True)
        self.started = True

    on_fit_start = on_validation_start = on_test_start = on_predict_start = _start


class TrainingProgress(Callback):
    """Reports a fit's optimizer steps against all it will run, for the sweep step's console bar.

    The total is read once when training starts; a fit with no bound on its steps reports nothing.
    """

    def __init__(self) -> None:
        self.report = Reporter("steps")
        self.total: int | None = None

    def on_train_start(self, trainer: pl.Trainer, *args: Any) -> None:
        total = trainer.estimated_stepping_batches
        self.total = int(total) if math.isfinite(total) else None

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.is_global_zero and self.total is not None:
            self.report(int(trainer.global_step), self.total)


class TVSSLCLI(LightningCLI):
    """LightningCLI with run naming, loggers, a per-run directory and one-line errors for config mistakes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.run_started = RunStarted()
        self.run_dir: tuple[Path, Path | None] | None = None
        try:
            super().__init__(*args, **kwargs)
        except BaseException as exc:
            if self.run_dir is not None and self.run_dir[1] is not None:
                discard_if_unused(*self.run_dir)
            checking = isinstance(exc, Exception) and not self.run_started.started
            message = config_error(exc) if checking and user_message(exc) is None else None
            if message is None:
                raise
            raise UserError(message) from exc

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

    def before_instantiate_classes(self) -> None:
        """A resume from a checkpoint that is not there fails now, before anything is built or written."""
        config = self.config.get(str(self.subcommand), self.config)
        ckpt_path = str(config.get("ckpt_path") or "")
        if (
            not ckpt_path
            or ckpt_path in CKPT_KEYWORDS
            or ckpt_path.startswith("registry")
            or "://" in ckpt_path
        ):
            return
        if not Path(ckpt_path).is_file():
            what = "is a folder, not a checkpoint file" if Path(ckpt_path).is_dir() else "does not exist"
            raise UserError(
                f"--ckpt_path {ckpt_path} {what}; pass a checkpoint such as "
                "runs/<row>/version_N/checkpoints/last.ckpt"
            )

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer = self._trainer_with_run_dir(**kwargs)
        trainer.callbacks.append(self.run_started)
        if os.environ.get(PROGRESS_ENV):
            trainer.callbacks.append(TrainingProgress())
        return trainer

    def _trainer_with_run_dir(self, **kwargs: Any) -> pl.Trainer:
        run = self._run_settings()
        mode = run.get("wandb", "offline")
        if mode not in ("offline", "online", "disabled"):
            raise UserError(f"--run.wandb must be offline, online or disabled, got {mode!r}")
        trainer_config = self._get(self.config_init, "trainer", default={})
        if trainer_config.get("logger") is False:
            return super().instantiate_trainer(**kwargs)
        self.run_dir = claim_run_dir(Path(run.get("dir") or "runs"), run["name"])
        run_dir = self.run_started.run_dir = self.run_dir[0]
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
        return super().instantiate_trainer(logger=loggers, default_root_dir=str(run_dir), **kwargs)

    def after_fit(self) -> None:
        """Fine-tuning runs test at the end of fit, on the final weights (the paper's protocol)."""
        if getattr(self.model, "test_after_fit", False):
            self.trainer.test(self.model, datamodule=self.datamodule)


def main(argv: Sequence[str]) -> int:
    """Run LightningCLI on ``argv`` (the verb first) with config bases expanded; exit code 0 when it returns.

    LightningCLI reads sys.argv, so that is where the expanded arguments go; its own exits (--help, a parse
    error) leave by SystemExit.
    """
    saved = sys.argv
    inherited_run_dir = os.environ.get(RUN_DIR_ENV)
    try:
        with config_checks():
            sys.argv = [saved[0], *expand_config_args(argv)]
        _cli()
    finally:
        sys.argv = saved
        if inherited_run_dir is None:
            os.environ.pop(RUN_DIR_ENV, None)
    return 0


def _cli() -> None:
    TVSSLCLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=ConfigToWandb,
        parser_kwargs={"default_env": False},
    )


def unrun(argv: Sequence[str], cli_class: type[TVSSLCLI] = TVSSLCLI, quiet: bool = False) -> TVSSLCLI:
    """``tvssl fit``'s parser on ``argv`` (configs with bases, overrides), classes built, nothing run.

    For tools that must measure or evaluate exactly what training uses (the loader bench, the probe): the same
    parser, config bases, seeding and checks as ``fit``, with ``trainer.logger`` off so no run directory is made.
    ``quiet`` keeps Lightning's notes on building a trainer (accelerators found) off a sweep step's one line.
    """
    with config_checks():
        args = [*expand_config_args(list(argv)), "--trainer.logger=false"]
    seed_log = logging.getLogger("lightning.fabric.utilities.seed")
    notes = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level, notes_level = seed_log.level, notes.level
    with warnings.catch_warnings():
        # `args=` is how LightningCLI is run from Python; it warns because our own argv is not empty.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        # The config's seed is set as in training; a tool that parses once per measurement need not say so.
        seed_log.setLevel(logging.WARNING)
        if quiet:
            notes.setLevel(logging.WARNING)
        try:
            return cli_class(
                pl.LightningModule,
                pl.LightningDataModule,
                subclass_mode_model=True,
                subclass_mode_data=True,
                save_config_callback=None,
                parser_kwargs={"default_env": False},
                run=False,
                args=args,
            )
        finally:
            seed_log.setLevel(level)
            notes.setLevel(notes_level)


def unrun_or_none(argv: Sequence[str]) -> TVSSLCLI | None:
    """``unrun`` for a check that stands aside when the arguments are wrong: None where the parser refuses them,
    with its usage text kept off the console, since the fit that follows reports the mistake in one line."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return unrun(argv, quiet=True)
    except (SystemExit, UserError):
        return None


def instantiate(
    argv: Sequence[str], quiet: bool = False
) -> tuple[pl.LightningModule, pl.LightningDataModule]:
    """The model and datamodule that ``tvssl fit`` would build from ``argv``, unrun (see ``unrun``)."""
    cli = unrun(argv, quiet=quiet)
    return cli.model, cli.datamodule
