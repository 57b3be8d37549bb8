"""``make gpu-check``: on a CUDA machine, the three things a GPU run needs that CPU tests cannot show.

(a) the step bench at the paper's shapes (experiments/movie_k16_Mn.yaml: R(2+1)D-18, global batch 512 split
over the visible GPUs), (b) a short bf16-mixed fit with DDP over NCCL on every visible GPU, on a corpus
generated into a temporary folder, writing checkpoints, and (c) an exact resume: a run resumed from the fit's
step-30 checkpoint must lose what the uninterrupted fit lost at steps 31 to 50. One summary line per check.

Without CUDA it says so, runs the same three checks at CPU shapes (tiny encoders, a few steps, one process)
so the script itself stays tested, and exits 0. Everything is written under a temporary folder, never into
the repository. Fits run as ``python -m tvssl.cli fit`` subprocesses: DDP relaunches the command line it
was started from, which must be ``fit``, not this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

PAPER_ROW = "movie_k16_Mn.yaml"


def paper_config() -> Path:
    """The paper row's config, found as the sweep finds configs (TVSSL_EXPERIMENTS, else ./experiments)."""
    from tvssl.sweep import Sweep

    return Sweep().experiments_dir() / PAPER_ROW


RESUME_TOLERANCE = {"cuda": 1e-3, "cpu": 1e-5}
"""Largest loss difference per step an exact resume may show: bf16 on GPU rounds more than fp32 on CPU."""


class RecordLosses(pl.Callback):
    """Appends every training step's loss to ``<out>/losses-rank<r>.jsonl``; the resume tests use it too."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        record = {"epoch": trainer.current_epoch, "step": trainer.global_step, "loss": float(loss)}
        with (self.out / f"losses-rank{trainer.global_rank}.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")


def read_losses(out: Path, rank: int = 0) -> dict[int, float]:
    """Step (after the optimizer step) -> loss, as ``RecordLosses`` wrote them."""
    lines = (out / f"losses-rank{rank}.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}


@dataclass(frozen=True)
class Profile:
    """The shapes of one variant of the check: CUDA at paper-like shapes, or CPU small enough for minutes."""

    device: str
    step_overrides: tuple[str, ...]
    fit_overrides: tuple[str, ...]
    steps_per_epoch: int
    epochs: int
    every: int
    resume_at: int
    corpus: dict[str, Any]


def profile(cuda: bool) -> Profile:
    if cuda:
        return Profile(
            device="cuda",
            step_overrides=(),
            fit_overrides=(
                "--trainer.accelerator=gpu",
                "--trainer.devices=-1",
                "--trainer.strategy=ddp",
                "--trainer.precision=bf16-mixed",
                # cuDNN's fastest kernels are not deterministic; an exact resume needs the ones that are.
                "--trainer.deterministic=warn",
                "--data.init_args.num_workers=4",
                "--data.init_args.slot_seconds=1.0",
            ),
            steps_per_epoch=25,
            epochs=2,
            every=10,
            resume_at=30,
            corpus=dict(titles=8, minutes=2.0, width=228, height=128),
        )
    tiny = (
        "--data.init_args.slot_seconds=0.5",
        "--data.init_args.num_frames=4",
        "--data.init_args.short_side=32",
        "--data.init_args.k=4",
        "--model.init_args.video_arch=tiny",
        "--model.init_args.audio_arch=tiny",
        "--model.init_args.head_hidden_dim=32",
        "--model.init_args.crop_size=28",
        "--model.init_args.n_mels=32",
    )
    return Profile(
        device="cpu",
        step_overrides=(*tiny, "--data.init_args.batch_size=16"),
        fit_overrides=(
            *tiny,
            "--trainer.accelerator=cpu",
            "--trainer.devices=1",
            "--trainer.precision=32-true",
            "--data.init_args.num_workers=0",
        ),
        steps_per_epoch=3,
        epochs=2,
        every=2,
        resume_at=4,
        corpus=dict(titles=3, minutes=0.5, width=64, height=48),
    )


def check_step(p: Profile) -> str:
    """(a) The step bench: clips/s per device and peak memory at the profile's shapes."""
    from tvssl.bench.step import run_step_bench

    steps, warmup = (10, 3) if p.device == "cuda" else (3, 1)
    result = run_step_bench(
        paper_config(), list(p.step_overrides), device=p.device, steps=steps, warmup=warmup, say=_indent
    )
    unit = "GPU" if p.device == "cuda" else "CPU process"
    return (
        f"PASS step bench: {result.clips_per_s:.1f} clips/s/{unit}, {result.peak_gib:.2f} GiB peak "
        f"(per-device batch {result.shapes.batch} of {result.shapes.batch * result.shapes.devices})"
    )


def _indent(text: str) -> None:
    print(f"  {text}", flush=True)


def _fit(p: Profile, work: Path, name: str, *extra: str) -> tuple[int, Path]:
    """One ``tvssl fit`` subprocess on the generated corpus; returns its exit status and loss folder."""
    out = work / "losses" / name
    world = _world(p)
    batch = 16 * world if p.device == "cuda" else 8
    args = [
        sys.executable,
        "-m",
        "tvssl.cli",
        "fit",
        f"--config={paper_config()}",
        *p.fit_overrides,
        f"--data.init_args.root={work / 'corpus'}",
        f"--data.init_args.batch_size={batch}",
        f"--data.init_args.clips_per_epoch={batch * p.steps_per_epoch}",
        "--data.init_args.val_titles=1",
        f"--trainer.max_epochs={p.epochs}",
        "--trainer.limit_val_batches=0",
        f"--trainer.callbacks.every_n_train_steps={p.every}",
        "--trainer.callbacks.save_top_k=-1",
        "--trainer.callbacks+=tvssl.gpu_check.RecordLosses",
        f"--trainer.callbacks.out={out}",
        f"--run.dir={work / 'runs'}",
        f"--run.name={name}",
        "--run.wandb=disabled",
        *extra,
    ]
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    log = work / f"{name}.log"
    with log.open("w") as f:
        rc = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=work).returncode
    if rc:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        print(f"  tvssl fit ({name}) exited {rc}; last lines of {log}:\n{tail}", flush=True)
    return rc, out


def _world(p: Profile) -> int:
    if p.device != "cuda":
        return 1
    import torch

    return max(1, torch.cuda.device_count())


def check_fit_and_resume(p: Profile, work: Path) -> list[str]:
    """(b) A short fit with checkpoints and (c) a resume from its mid-run checkpoint that loses the same."""
    from tvssl.synthesis import SynthRequest, synthesize

    workers = max(1, min(8, os.cpu_count() or 1))
    synthesize(SynthRequest(out=work / "corpus", kind="movie", seed=0, workers=workers, **p.corpus))
    steps = p.steps_per_epoch * p.epochs
    how = f"DDP/NCCL on {_world(p)} GPU(s), bf16-mixed" if p.device == "cuda" else "1 CPU process, 32-true"
    rc, full = _fit(p, work, "full")
    checkpoints = sorted((work / "runs" / "full").glob(f"version_*/checkpoints/*step={p.resume_at}.ckpt"))
    losses = read_losses(full) if (full / "losses-rank0.jsonl").is_file() else {}
    if rc or len(losses) != steps or not checkpoints:
        fit = f"FAIL fit: exit {rc}, {len(losses)} of {steps} steps, step-{p.resume_at} checkpoint " + (
            "written" if checkpoints else "missing"
        )
        return [fit, "FAIL resume: no checkpoint to resume from"]
    fit = f"PASS fit: {steps} steps, {how}, loss {losses[1]:.4f} -> {losses[steps]:.4f}, checkpoints written"
    rc, resumed_out = _fit(p, work, "resumed", f"--ckpt_path={checkpoints[-1]}")
    resumed = read_losses(resumed_out) if (resumed_out / "losses-rank0.jsonl").is_file() else {}
    wanted = list(range(p.resume_at + 1, steps + 1))
    if rc or sorted(resumed) != wanted:
        return [fit, f"FAIL resume: exit {rc}, resumed steps {sorted(resumed)} instead of {wanted}"]
    worst = max(abs(resumed[s] - losses[s]) for s in wanted)
    verdict = "PASS" if worst <= RESUME_TOLERANCE[p.device] else "FAIL"
    return [
        fit,
        f"{verdict} resume: steps {wanted[0]}-{wanted[-1]} from the step-{p.resume_at} checkpoint, largest loss "
        f"difference to the uninterrupted run {worst:.2e} (tolerance {RESUME_TOLERANCE[p.device]:.0e})",
    ]


def run_checks(
    cuda: bool,
    work: Path,
    step: Callable[[Profile], str] | None = None,
    fit: Callable[[Profile, Path], list[str]] | None = None,
) -> list[str]:
    """The three checks in order; an exception in one is its FAIL line, and the others still run.

    The checks are looked up when called (not bound as defaults), so a test can replace them in the module.
    """
    step = step or check_step
    fit = fit or check_fit_and_resume
    p = profile(cuda)
    lines: list[str] = []
    for name, call in (("step bench", lambda: [step(p)]), ("fit", lambda: fit(p, work))):
        print(f"gpu-check: {name} ({p.device})", flush=True)
        try:
            lines.extend(call())
        except Exception as exc:  # a summary line per check beats a traceback that hides the others
            lines.append(f"FAIL {name}: {type(exc).__name__}: {exc}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every check passes, on CUDA or, without it, in the CPU variant (which tests the script)."""
    parser = argparse.ArgumentParser(prog="python -m tvssl.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available()
    if not cuda:
        print("gpu-check: CUDA is absent on this machine; running the CPU variant (tiny shapes)", flush=True)
    else:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        print(f"gpu-check: {torch.cuda.device_count()} CUDA device(s): {names}", flush=True)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        lines = run_checks(cuda, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="tvssl-gpu-check-") as tmp:
            lines = run_checks(cuda, Path(tmp))
    print("\ngpu-check summary" + ("" if cuda else " (CPU variant: CUDA is absent)"))
    for line in lines:
        print(line)
    failed = any(not line.startswith("PASS") for line in lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
