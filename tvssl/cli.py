"""The `tvssl` command: utility verbs first, then LightningCLI for fit / validate / test.

Every LightningCLI run gets its own directory ``<run.dir>/<run.name>/version_N`` (never reused), holding
the resolved config, the CSV log the report reads, checkpoints and the offline W&B run.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

VERBS = ("index", "synth", "prepare", "report", "bench", "ablation")
RUN_DIR_ENV = "TVSSL_RUN_DIR"


def allocate_run_dir(root: Path, name: str) -> Path:
    """A new directory for this run, shared by every rank of one job.

    Lightning's own DDP launcher re-executes this command for the other ranks with our environment, so
    the directory chosen by rank 0 travels in TVSSL_RUN_DIR; SLURM and torchrun jobs, whose ranks start
    independently, name it after the job id instead.
    """
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        attempt = os.environ.get("SLURM_RESTART_COUNT", "0")
        run_dir = root / name / f"slurm-{job}{'_' + task if task else ''}-r{attempt}"
    elif os.environ.get("TORCHELASTIC_RUN_ID", "none") != "none":
        run_dir = root / name / f"torchrun-{os.environ['TORCHELASTIC_RUN_ID']}"
    else:
        (root / name).mkdir(parents=True, exist_ok=True)
        version = 0
        while True:
            run_dir = root / name / f"version_{version}"
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                version += 1
    run_dir.mkdir(parents=True, exist_ok=True)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in VERBS:
        module = importlib.import_module(f"tvssl.commands.{args[0]}")
        return int(module.main(args[1:]) or 0)
    from tvssl.lightning_cli import lightning_main

    lightning_main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
