"""Run directories: one new ``<root>/<name>/version_N`` per run, and none left behind by a run that never ran.

Every LightningCLI run gets its own directory (never reused), holding the resolved config, the CSV log the
report reads, checkpoints and the offline W&B run. It has to exist before the trainer does (the loggers are
built with it), which is before the datamodule can check the config; so a run that fails before it produced
anything removes the directory it made, and a run that produced anything keeps it.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

RUN_DIR_ENV = "TVSSL_RUN_DIR"

RUN_FILES = frozenset({"config.yaml", "hparams.yaml", "metrics.csv"})
"""Files the CLI's own callback and loggers write at the top of a run directory."""

WANDB_DIR = "wandb"
"""The offline W&B run of this CLI: only its logger writes there."""


def allocate_run_dir(root: Path, name: str) -> Path:
    """A new directory for this run, shared by every rank of one job (see ``claim_run_dir``)."""
    return claim_run_dir(root, name)[0]


def claim_run_dir(root: Path, name: str) -> tuple[Path, Path | None]:
    """(directory for this run, the outermost directory this call created, None when it created none).

    Lightning's own DDP launcher re-executes this command for the other ranks with our environment, so
    the directory chosen by rank 0 travels in TVSSL_RUN_DIR; SLURM and torchrun jobs, whose ranks start
    independently, name it after the job id instead.
    """
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV]), None
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        attempt = os.environ.get("SLURM_RESTART_COUNT", "0")
        run_dir = root / name / f"slurm-{job}{'_' + task if task else ''}-r{attempt}"
    elif os.environ.get("TORCHELASTIC_RUN_ID", "none") != "none":
        run_dir = root / name / f"torchrun-{os.environ['TORCHELASTIC_RUN_ID']}"
    else:
        made = _outermost_missing(root / name)
        (root / name).mkdir(parents=True, exist_ok=True)
        version = 0
        while True:
            run_dir = root / name / f"version_{version}"
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                version += 1
        os.environ[RUN_DIR_ENV] = str(run_dir)
        return run_dir, made or run_dir
    made = _outermost_missing(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir, made


def _outermost_missing(path: Path) -> Path | None:
    top = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        top = folder
    return top


def discard_if_unused(run_dir: Path, made: Path | None = None) -> bool:
    """Remove ``run_dir`` when a failed run left nothing in it worth keeping; whether it was removed.

    Kept when it holds a checkpoint, a CSV log with at least one row, or any file the CLI does not write
    itself (a user's, or a callback's): only empty folders, the config, the hyper-parameters, an empty log
    and this run's W&B files go. Then its parents up to ``made`` (the outermost folder the run created) go
    too, each only if it is empty.
    """
    if not run_dir.is_dir():
        return False
    for path in run_dir.rglob("*"):
        rel = path.relative_to(run_dir)
        if path.is_dir() or rel.parts[0] == WANDB_DIR:
            if path.suffix == ".ckpt":
                return False
            continue
        if rel.as_posix() not in RUN_FILES or (rel.name == "metrics.csv" and _has_rows(path)):
            return False
    _finish_wandb_run_in(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    if run_dir.exists():
        return False
    if made is not None and made != run_dir and made in run_dir.parents:
        for folder in run_dir.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty: another run, or the user's
                break
            if folder == made:
                break
    return True


def _has_rows(path: Path) -> bool:
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            next(reader, None)
            return next(reader, None) is not None
    except (OSError, UnicodeDecodeError, csv.Error):
        return True


def _finish_wandb_run_in(run_dir: Path) -> None:
    """An open W&B run would write into the directory again at exit: finish it first."""
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None) if wandb is not None else None
    if run is None:
        return
    try:
        inside = Path(run.dir).resolve().is_relative_to(run_dir.resolve())
    except (AttributeError, OSError):
        inside = False
    if inside:
        wandb.finish(exit_code=1)
