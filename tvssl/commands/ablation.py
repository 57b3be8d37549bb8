"""`tvssl ablation`: the steps that `make ablation` chains, one Table 1 row and one task at a time.

make owns the dependency graph (what is finished, what runs in parallel); each step here runs one
`tvssl fit` as a child process, exactly as a user would, and publishes its result under RESULTS only
when it finished:

    RESULTS/<row>/pretrain/last.ckpt      final pretraining checkpoint (link into the run directory)
    RESULTS/<row>/pretrain/metrics.csv    the loss curve, merged over resumed attempts
    RESULTS/<row>/<task>/metrics.json     fine-tuning result, e.g. ucf101_split1, esc50_fold1_seed2
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tvssl.errors import UserError, reports_user_errors
from tvssl.rows import ROWS_BY_NAME, Row
from tvssl.run_dirs import RUN_DIR_ENV, claim_run_dir, discard_if_unused

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SECTION_ENV = {"movie": "MOVIE_ROOT", "tv": "TV_ROOT"}
TASK_ENV = {"ucf101": "UCF101_ROOT", "hmdb51": "HMDB51_ROOT", "esc50": "ESC50_ROOT"}
TASK_MODALITY = {"ucf101": "video", "hmdb51": "video", "esc50": "audio"}


def experiments_dir() -> Path:
    """The experiments/ folder of this checkout (the ablation runs from a clone, like `make`)."""
    if not EXPERIMENTS.is_dir():
        raise UserError(f"{EXPERIMENTS} not found; run tvssl ablation from a clone of the repository")
    return EXPERIMENTS


def data_root(profile: str, env: str, smoke_path: Path) -> str:
    if profile == "smoke":
        if not smoke_path.is_dir():
            raise UserError(f"smoke data {smoke_path} is missing; `make ablation` synthesises it")
        return str(smoke_path)
    value = os.environ.get(env)
    if not value:
        raise UserError(f"PROFILE=paper needs the environment variable {env} (the dataset root)")
    if not Path(value).is_dir():
        raise UserError(f"{env}={value} is not a folder")
    return value


def profile_configs(profile: str, stage: str) -> list[str]:
    if profile == "paper":
        return []
    path = experiments_dir() / profile / f"{stage}.yaml"
    if not path.is_file():
        raise UserError(f"unknown profile {profile!r} (no {path})")
    return ["--config", str(path)]


def latest_checkpoint(runs: Path, name: str) -> Path | None:
    """The newest last.ckpt of earlier attempts at this row, to resume from."""
    found = sorted((runs / name).glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def merge_loss_logs(run_dirs: Sequence[Path], out: Path) -> int:
    """One metrics.csv from several attempts, oldest first: a resumed attempt replaces the steps it re-ran."""
    fields: list[str] = []
    merged: list[dict[str, str]] = []
    for run_dir in run_dirs:
        path = run_dir / "metrics.csv"
        if not path.is_file():
            continue
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if r.get("step")]
            fields += [c for c in reader.fieldnames or [] if c not in fields]
        if rows:
            first = min(int(r["step"]) for r in rows)
            merged = [r for r in merged if int(r["step"]) < first] + rows
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(merged)
    tmp.replace(out)
    return len(merged)


def launched_rank() -> int:
    """Rank of this process when a launcher (srun, torchrun) started one copy of the step per device."""
    return int(os.environ.get("SLURM_PROCID") or os.environ.get("RANK") or 0)


def _failed(message: str, code: int = 1) -> int:
    """A step that ran and failed (not a user mistake: the fit's own output says why)."""
    print(f"tvssl ablation: {message}", file=sys.stderr, flush=True)
    return code


def run_fit(args: list[str], run_dir: Path, made: Path | None) -> int:
    """Exit code of `tvssl fit` in ``run_dir``; a failed fit's directory goes if it holds nothing (see run_dirs)."""
    env = {**os.environ, RUN_DIR_ENV: str(run_dir)}
    command = [sys.executable, "-m", "tvssl.cli", "fit", *args]
    print("+ tvssl " + " ".join(command[3:]), flush=True)
    code = subprocess.run(command, env=env).returncode
    if code != 0:
        kept = made is None or not discard_if_unused(run_dir, made)
        where = f"; its run directory: {run_dir}" if kept else ""
        return _failed(f"`tvssl fit` failed ({code}){where}", code)
    return 0


def pretrain(row: Row, opts: argparse.Namespace) -> int:
    out = Path(opts.results) / row.name / "pretrain"
    runs = Path(opts.runs)
    root = data_root(opts.profile, SECTION_ENV[row.dataset], Path(opts.smoke_data) / row.dataset)
    resume = latest_checkpoint(runs, row.name)
    run_dir, made = claim_run_dir(runs, row.name)
    os.environ.pop(RUN_DIR_ENV, None)
    args = [
        "--config",
        str(experiments_dir() / f"{row.name}.yaml"),
        *profile_configs(opts.profile, "pretrain"),
    ]
    args += ["--data.init_args.root", root, "--run.dir", str(runs), "--run.wandb", opts.wandb]
    if resume is not None:
        print(f"tvssl ablation: resuming {row.name} from {resume}", flush=True)
        args += ["--ckpt_path", str(resume)]
    code = run_fit(args + list(opts.extra), run_dir, made)
    if code != 0 or launched_rank() != 0:
        return code
    final = run_dir / "checkpoints" / "last.ckpt"
    if not final.is_file():
        return _failed(f"{row.name} finished without {final}")
    attempts = sorted(
        (p.parent for p in (runs / row.name).glob("*/metrics.csv")), key=lambda p: p.stat().st_mtime
    )
    merge_loss_logs(attempts, out / "metrics.csv")
    link = out / "last.ckpt"
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(final.resolve(), out.resolve()))
    return 0


def finetune(row: Row, opts: argparse.Namespace) -> int:
    task = opts.task
    partition = opts.fold if task == "esc50" else opts.split
    label = f"esc50_fold{partition}_seed{opts.seed}" if task == "esc50" else f"{task}_split{partition}"
    result = Path(opts.results) / row.name / label / "metrics.json"
    if result.exists():
        print(f"tvssl ablation: {result} exists, nothing to do")
        return 0
    checkpoint = Path(opts.results) / row.name / "pretrain" / "last.ckpt"
    if not checkpoint.exists():
        raise UserError(f"{checkpoint} is missing; pretrain {row.name} first")
    root = data_root(opts.profile, TASK_ENV[task], Path(opts.smoke_data) / "downstream" / task)
    name = f"{row.name}-{label}"
    run_dir, made = claim_run_dir(Path(opts.runs), name)
    os.environ.pop(RUN_DIR_ENV, None)
    key = "fold" if task == "esc50" else "split"
    args = [
        "--config",
        str(experiments_dir() / "finetune" / f"{task}.yaml"),
        *profile_configs(opts.profile, f"finetune-{TASK_MODALITY[task]}"),
    ]
    args += [
        "--data.init_args.root", root,
        f"--data.init_args.{key}", str(partition),
        "--data.init_args.seed", str(opts.seed),
        "--seed_everything", str(opts.seed),
        "--model.init_args.pretrained", str(checkpoint.resolve()),
        "--model.init_args.results", str(result.resolve()),
        "--run.name", name,
        "--run.group", row.dataset,
        "--run.job_type", f"finetune-{task}",
        "--run.dir", opts.runs,
        "--run.wandb", opts.wandb,
    ]  # fmt: skip
    code = run_fit(args + list(opts.extra), run_dir, made)
    if code == 0 and launched_rank() == 0 and not result.is_file():
        return _failed(f"fine-tuning finished without writing {result}")
    return code


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tvssl ablation",
        description=__doc__.splitlines()[0],
        epilog="Arguments after `--` go to `tvssl fit` unchanged.",
    )
    sub = p.add_subparsers(dest="step", required=True)
    sub.add_parser("rows", help="print the Table 1 row names")
    for step in ("pretrain", "finetune"):
        s = sub.add_parser(step)
        s.add_argument("row", help="Table 1 row, e.g. movie_k16_Mn")
        if step == "finetune":
            s.add_argument("task", choices=sorted(TASK_ENV))
            s.add_argument("--split", type=int, default=1)
            s.add_argument("--fold", type=int, default=1)
            s.add_argument("--seed", type=int, default=0)
        s.add_argument("--profile", default="paper", help="paper (real data from env vars) or smoke")
        s.add_argument("--results", default="results")
        s.add_argument("--runs", default="runs")
        s.add_argument("--smoke-data", default=".tvssl/smoke-data")
        s.add_argument("--wandb", default="offline", choices=["offline", "online", "disabled"])
    return p


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    opts = parser().parse_args(argv[:split])
    opts.extra = argv[split + 1 :]
    if opts.step == "rows":
        print(" ".join(ROWS_BY_NAME))
        return 0
    if opts.row not in ROWS_BY_NAME:
        raise UserError(f"unknown row {opts.row!r}; rows: {' '.join(ROWS_BY_NAME)}")
    step = pretrain if opts.step == "pretrain" else finetune
    return step(ROWS_BY_NAME[opts.row], opts)
