"""The steps of the Table 1 sweep: pretrain one row, fine-tune it on one task, publish each result when done.

make owns the dependency graph (what is finished, what runs in parallel, ``experiments/ablation.mk``); each
step here runs one ``tvssl fit`` as a child process, exactly as a user would, so a step behaves like the
command it prints, and publishes its result under RESULTS only when it finished (the names are
``tvssl.run_names``'s):

    RESULTS/<row>/pretrain/last.ckpt      final pretraining checkpoint (link into the run directory)
    RESULTS/<row>/pretrain/metrics.csv    the loss curve, merged over resumed attempts
    RESULTS/<row>/<task>/metrics.json     fine-tuning result, e.g. ucf101_split1, esc50_fold1_seed2
    RESULTS/<row>/probe_<task>/probe.json frozen-feature probe (also for the row random_init: no pretraining)

A pretraining that was interrupted resumes from the newest ``last.ckpt`` of its earlier attempts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_modules.atomic_write import write_atomic
from data_modules.destination import MANIFEST
from data_modules.roots import RootError, resolve_root
from tvssl.errors import UserError
from tvssl.pretrain_results import changed_source, link_checkpoint, merge_loss_logs, publish_twin, read_twin
from tvssl.rows import RANDOM_INIT, Row
from tvssl.run_dirs import RUN_DIR_ENV, claim_run_dir, discard_if_unused
from tvssl.run_names import (
    CHECKPOINT,
    FINETUNE_RESULT,
    LOSS_LOG,
    PRETRAIN,
    PROBE_RESULT,
    finetune_run_name,
    partition_key,
    probe_run_name,
    runs_dir_name,
)
from tvssl.same_batches import same_batches, twin_row
from tvssl.step_process import CONSOLE_LOG, run_step

EXPERIMENTS_ENV = "TVSSL_EXPERIMENTS"
SECTION_ENV = {"movie": "MOVIE_ROOT", "tv": "TV_ROOT"}
TASK_ENV = {"ucf101": "UCF101_ROOT", "hmdb51": "HMDB51_ROOT", "esc50": "ESC50_ROOT"}
TASK_MODALITY = {"ucf101": "video", "hmdb51": "video", "esc50": "audio"}
ROOT_ARG, MANIFEST_ARG = "--data.init_args.root", "--data.init_args.manifest"
CLIP_COPY_SUFFIX = "-clips"
"""``SMOKE_DATA/movie-clips``: the clip-exact copy of ``SMOKE_DATA/movie`` (``make ablation PREPARED=yes``)."""


@dataclass(frozen=True)
class Sweep:
    """Where a sweep reads its configs and data and writes its runs and results; the same for all its steps.

    ``experiments`` None means ``$TVSSL_EXPERIMENTS``, else ``./experiments``: the sweep runs from a checkout
    (as make does), and an installed package has no experiments folder of its own to fall back on.
    """

    experiments: str | None = None
    profile: str = "paper"
    results: Path = Path("results")
    runs: Path = Path("runs")
    smoke_data: Path = Path(".tvssl/smoke-data")
    wandb: str = "offline"
    fit_args: tuple[str, ...] = ()
    """Passed to every ``tvssl fit`` after the step's own arguments (e.g. devices under SLURM)."""
    train_seed: int | None = None
    """A replicate's seed (``make replicates``): pretraining's ``seed_everything`` and data seed (initial weights,
    batches, validation titles) and the random-init baseline's weights; None keeps the configs' seeds."""
    prepared: bool = False
    """Smoke profile: each section's rows train from the clip-exact copy of its titles (``tvssl.smoke_copy``)."""

    def smoke_titles(self, section: str, copy: bool | None = None) -> Path:
        """A smoke section's titles, or (``copy``; default: ``prepared``) the folder of their clip-exact copy."""
        use_copy = self.prepared if copy is None else copy
        return self.smoke_data / (section + CLIP_COPY_SUFFIX if use_copy else section)

    def seed_args(self, data: bool = True) -> list[str]:
        """The fit arguments that apply ``train_seed`` (``data``: the datamodule's seed too)."""
        if self.train_seed is None:
            return []
        seed = str(self.train_seed)
        return ["--seed_everything", seed, *(["--data.init_args.seed", seed] if data else [])]

    def experiments_dir(self) -> Path:
        """The experiments folder, checked when a step first needs a config (so a missing root is said first)."""
        given = self.experiments or os.environ.get(EXPERIMENTS_ENV) or "experiments"
        path = Path(given).resolve()
        if not path.is_dir():
            raise UserError(
                f"experiments folder {path} not found (it holds the row configs): run from a clone of the "
                f"repository, or pass --experiments DIR or set {EXPERIMENTS_ENV}"
            )
        return path

    def profile_configs(self, stage: str) -> list[str]:
        """The profile's ``--config`` for a stage: none for the paper, ``experiments/<profile>/<stage>.yaml`` else."""
        if self.profile == "paper":
            return []
        path = self.experiments_dir() / self.profile / f"{stage}.yaml"
        if not path.is_file():
            raise UserError(f"unknown profile {self.profile!r} (no {path})")
        return ["--config", str(path)]

    def data_root(self, env: str, smoke_path: Path, what: str) -> str:
        """The dataset root of a step: the synthetic set for the smoke profile, else the variable ``env``."""
        if self.profile == "smoke":
            if not smoke_path.is_dir():
                raise UserError(f"smoke data {smoke_path} is missing; `make ablation` synthesises it")
            return str(smoke_path)
        try:
            return str(resolve_root(None, env, what=what, holding="the dataset"))
        except RootError as exc:
            raise UserError(str(exc)) from exc


def latest_checkpoint(runs: Path, name: str) -> Path | None:
    """The newest last.ckpt of earlier attempts at this row, to resume from."""
    found = sorted((runs / name).glob(f"*/checkpoints/{CHECKPOINT}"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def launched_rank() -> int:
    """Rank of this process when a launcher (srun, torchrun) started one copy of the step per device."""
    return int(os.environ.get("SLURM_PROCID") or os.environ.get("RANK") or 0)


def _failed(message: str, code: int = 1) -> int:
    """A step that ran and failed (not a user mistake: the fit's own output says why)."""
    print(f"tvssl ablation: {message}", file=sys.stderr, flush=True)
    return code


def run_fit(args: list[str], run_dir: Path, made: Path | None, what: str = "tvssl fit") -> int:
    """Exit code of `tvssl fit` in ``run_dir``; a failed fit's directory goes if it holds nothing (see run_dirs)."""
    env = {**os.environ, RUN_DIR_ENV: str(run_dir)}
    command = [sys.executable, "-m", "tvssl.cli", "fit", *args]
    log = run_dir.parent / f"{run_dir.name}.{CONSOLE_LOG}"
    code = run_step(what, command, log, env)
    if code != 0:
        kept = made is None or not discard_if_unused(run_dir, made)
        where = f"; its run directory: {run_dir}" if kept else ""
        return _failed(f"`tvssl fit` failed ({code}){where}; its output: {log}", code)
    return 0


def _claim(runs: Path, name: str) -> tuple[Path, Path | None]:
    """A new run directory for the child fit; the variable is the child's, not this process's."""
    run_dir, made = claim_run_dir(runs, name)
    os.environ.pop(RUN_DIR_ENV, None)
    return run_dir, made


def pretrain_args(sweep: Sweep, row: Row) -> list[str]:
    """The `tvssl fit` arguments of ``row``'s pretraining, short of a checkpoint to resume from."""
    what = f"tvssl ablation pretrain {row.name} (PROFILE=paper)"
    titles = sweep.smoke_titles(row.dataset)
    root = sweep.data_root(SECTION_ENV[row.dataset], titles, what)
    copy = sweep.prepared and sweep.profile == "smoke"
    return [
        "--config", str(sweep.experiments_dir() / f"{row.name}.yaml"),
        *sweep.profile_configs("pretrain"),
        ROOT_ARG, root,
        *([MANIFEST_ARG, str(titles / MANIFEST)] if copy else []),
        "--run.dir", str(sweep.runs),
        "--run.wandb", sweep.wandb,
        *sweep.seed_args(),
    ]  # fmt: skip


def _fit_source(args: Sequence[str]) -> tuple[str | None, str | None] | None:
    """The data root and manifest a `tvssl fit` of ``args`` reads, as its own parser resolves them: every
    ``--config`` (file, bases or inline YAML) and override in order, in either spelling, the last one winning.
    None when the arguments do not parse (the fit itself then says why)."""
    from tvssl.lightning_cli import unrun_or_none  # torch and lightning: only when a row resumes

    cli = unrun_or_none(args)
    if cli is None:
        return None
    data = cli.config.data.init_args
    return data.get("root"), data.get("manifest")


def _shared_training(sweep: Sweep, row: Row, args: list[str]) -> tuple[str, str] | None:
    """The row already trained whose training ``row``'s (``args``) would repeat (``tvssl.same_batches``), and why."""
    twin = twin_row(row)
    if twin is None or not (sweep.experiments_dir() / f"{twin.name}.yaml").is_file():
        return None
    twin_out = sweep.results / twin.name / PRETRAIN
    if not ((twin_out / CHECKPOINT).is_file() and (twin_out / LOSS_LOG).is_file()):
        return None
    if read_twin(twin_out) is not None:
        return None  # the twin holds a third row's training: compare with that row itself
    extra = list(sweep.fit_args)
    reason = same_batches(args + extra, pretrain_args(sweep, twin) + extra)
    return None if reason is None else (twin.name, reason)


def pretrain(sweep: Sweep, row: Row) -> int:
    """Pretrain ``row`` (resuming an earlier attempt), then publish its checkpoint and merged loss curve.

    A row whose training would repeat another's step for step (``tvssl.same_batches``) is not trained: the
    other's checkpoint and loss curve are published under its name, with a record saying so."""
    out = sweep.results / row.name / PRETRAIN
    runs = sweep.runs
    args = pretrain_args(sweep, row)
    resume = latest_checkpoint(runs, row.name)
    # Every rank of a launched step decides alike (the same files), so none starts a fit the others skip.
    shared = None if resume is not None else _shared_training(sweep, row, args)
    if shared is not None:
        twin, reason = shared
        if launched_rank() == 0:
            publish_twin(out, twin, sweep.results / twin / PRETRAIN, reason)
            print(
                f"tvssl ablation: pretrain {row.name}: not trained, it would repeat {twin} ({reason})",
                flush=True,
            )
        return 0
    run_dir, made = _claim(runs, row.name)
    if resume is not None:
        print(f"tvssl ablation: resuming {row.name} from {resume}", flush=True)
        source = _fit_source(args + list(sweep.fit_args))
        changed = None if source is None else changed_source(resume.parent.parent, *source)
        if changed is not None and launched_rank() == 0:
            print(
                f"tvssl ablation: {row.name} resumes on other data ({changed}): its curve mixes the two; to train "
                "it on one, resume with the PREPARED it began with, or start it in new RUNS and RESULTS folders",
                file=sys.stderr,
                flush=True,
            )
        args += ["--ckpt_path", str(resume)]
    code = run_fit(args + list(sweep.fit_args), run_dir, made, f"pretrain {row.name}")
    if code != 0 or launched_rank() != 0:
        return code
    final = run_dir / "checkpoints" / CHECKPOINT
    if not final.is_file() and resume is not None and not (run_dir / LOSS_LOG).is_file():
        final = resume  # that attempt had trained to the end (the step stopped before publishing it)
    if not final.is_file():
        return _failed(f"{row.name} finished without {final}")
    attempts = sorted(
        (p.parent for p in (runs / row.name).glob(f"*/{LOSS_LOG}")), key=lambda p: p.stat().st_mtime
    )
    merge_loss_logs(attempts, out / LOSS_LOG)
    link_checkpoint(out, final)
    return 0


def _twin_result(sweep: Sweep, checkpoint: Path, label: str) -> Path | None:
    """The fine-tuning result ``label`` of the row whose training ``checkpoint`` is (``publish_twin``), if done."""
    twin = read_twin(checkpoint.parent)
    if twin is None:
        return None
    result = sweep.results / twin / label / FINETUNE_RESULT
    same = (sweep.results / twin / PRETRAIN / CHECKPOINT).resolve() == checkpoint.resolve()
    return result if same and result.is_file() else None


def finetune(sweep: Sweep, row: Row, task: str, partition: int, seed: int) -> int:
    """Fine-tune the pretrained ``row`` on ``task`` (split or fold ``partition``); nothing to do when done.

    A row that shares its twin's training (``tvssl.same_batches``) takes the twin's result for the same split
    and seed when it exists: the same checkpoint, configs and seed would fine-tune to the same run again."""
    label = finetune_run_name(task, partition, seed)
    result = sweep.results / row.name / label / FINETUNE_RESULT
    if result.exists():
        print(f"tvssl ablation: {result} exists, nothing to do")
        return 0
    checkpoint = sweep.results / row.name / PRETRAIN / CHECKPOINT
    if not checkpoint.exists():
        raise UserError(f"{checkpoint} is missing; pretrain {row.name} first")
    twin_result = _twin_result(sweep, checkpoint, label)
    if twin_result is not None:
        if launched_rank() == 0:
            write_atomic(result, twin_result.read_bytes())
            print(f"tvssl ablation: {result}: a copy of {twin_result} (the same checkpoint)", flush=True)
        return 0
    what = f"tvssl ablation finetune {row.name} {task} (PROFILE=paper)"
    root = sweep.data_root(TASK_ENV[task], sweep.smoke_data / "downstream" / task, what)
    args = [
        "--config",
        str(sweep.experiments_dir() / "finetune" / f"{task}.yaml"),
        *sweep.profile_configs(f"finetune-{TASK_MODALITY[task]}"),
    ]
    name = runs_dir_name(row.name, label)
    run_dir, made = _claim(sweep.runs, name)
    args += [
        "--data.init_args.root", root,
        f"--data.init_args.{partition_key(task)}", str(partition),
        "--data.init_args.seed", str(seed),
        "--seed_everything", str(seed),
        "--model.init_args.pretrained", str(checkpoint.resolve()),
        "--model.init_args.results", str(result.resolve()),
        "--run.name", name,
        "--run.group", row.dataset,
        "--run.job_type", f"finetune-{task}",
        "--run.dir", str(sweep.runs),
        "--run.wandb", sweep.wandb,
    ]  # fmt: skip
    code = run_fit(args + list(sweep.fit_args), run_dir, made, f"finetune {row.name} {label}")
    if code == 0 and launched_rank() == 0 and not result.is_file():
        return _failed(f"fine-tuning finished without writing {result}")
    return code


def probe(sweep: Sweep, rows: Sequence[str], task: str, partition: int) -> int:
    """Probe the frozen encoders of ``rows`` (``random_init``: a random one) on ``task``, in one pass.

    The model and data of each come from the task's fine-tuning configs, so the probe sees the clips
    fine-tuning would; random init takes its architecture from the profile's ``random-init.yaml`` when there
    is one (the smoke profile's tiny encoders), else the paper's defaults. Rows already probed are skipped;
    the others share one `tvssl probe` (its files are decoded once), whose output goes to
    ``RESULTS/probe_<task>.console.log``. Rows whose checkpoint is one file (``tvssl.same_batches``) are probed
    once and the result copied. A probe of one encoder logs beside its result instead
    (``RESULTS/<row>/probe_<task>.console.log``), so that a probe of one row run by hand beside the sweep's
    probe of that task never writes the same log.
    """
    what = f"tvssl ablation probe {' '.join(rows)} {task} (PROFILE=paper)"
    root = sweep.data_root(TASK_ENV[task], sweep.smoke_data / "downstream" / task, what)
    data_args = [
        "--config",
        str(sweep.experiments_dir() / "finetune" / f"{task}.yaml"),
        *sweep.profile_configs(f"finetune-{TASK_MODALITY[task]}"),
    ]
    command = [sys.executable, "-m", "tvssl.cli", "probe"]
    todo = []
    # checkpoint file -> the result that probes it: rows that share a training (same_batches) share its probe
    probed: dict[Path, Path] = {}
    copies: list[tuple[Path, Path]] = []
    for row in rows:
        result = sweep.results / row / probe_run_name(task) / PROBE_RESULT
        checkpoint = sweep.results / row / PRETRAIN / CHECKPOINT
        key = checkpoint.resolve() if row != RANDOM_INIT and checkpoint.exists() else None
        if result.exists():
            print(f"tvssl ablation: {result} exists, nothing to do")
            if key is not None:
                probed.setdefault(key, result)
            continue
        if key is not None and key in probed:
            copies.append((probed[key], result))
            continue
        if key is not None:
            probed[key] = result
        args = list(data_args)
        if row == RANDOM_INIT:
            random_init = sweep.experiments_dir() / sweep.profile / "random-init.yaml"
            args += (
                ["--config", str(random_init)] if sweep.profile != "paper" and random_init.is_file() else []
            )
            args += sweep.seed_args(data=False)
        else:
            if not checkpoint.exists():
                raise UserError(f"{checkpoint} is missing; pretrain {row} first")
            args += ["--model.init_args.pretrained", str(checkpoint.resolve())]
        args += ["--data.init_args.root", root, f"--data.init_args.{partition_key(task)}", str(partition)]
        command += [*(["--and"] if todo else []), "--out", str(result), *args]
        todo.append(result)
    if todo:
        for result in todo:
            result.parent.mkdir(parents=True, exist_ok=True)
        folder = sweep.results if len(todo) > 1 else todo[0].parent.parent
        log = folder / f"{probe_run_name(task)}.{CONSOLE_LOG}"
        count = f"{len(todo)} encoder" + ("s" if len(todo) > 1 else "")
        code = run_step(f"probe {task} ({count})", command, log)
        if code != 0:
            return _failed(f"`tvssl probe` failed ({code}); its output: {log}", code)
    for source, result in copies:
        write_atomic(result, source.read_bytes())
        print(f"tvssl ablation: {result}: a copy of {source} (the same checkpoint)", flush=True)
    return 0
