"""Two-process CPU DDP pretraining (gloo): ranks share out each global batch, training completes, resume is exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_modules.longform import MovieDataModule
from data_modules.stack_dumps import STACKS_SIGNAL
from tests.recording import read_records

REPO = Path(__file__).resolve().parents[1]
HANG_S = 240
SETTINGS = {"k": 4, "w": 8, "batch_size": 16, "clips_per_epoch": 48, "slot_seconds": 0.5, "num_frames": 4}


def _session(sid: int) -> list[int]:
    """The processes of session ``sid`` (the fit, its other ranks, their loader workers), from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[3]) == sid:  # after the name: state, ppid, pgrp, session
            pids.append(int(entry.name))
    return sorted(pids)


def _command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def ddp_fit(corpus: Path, runs: Path, record: Path, *extra: str) -> None:
    args = [
        "fit",
        "--config",
        str(REPO / "experiments" / "movie_k4_w4.yaml"),
        f"--data.init_args.root={corpus}",
        *(f"--data.init_args.{k}={v}" for k, v in SETTINGS.items()),
        "--data.init_args.w=8",
        "--data.init_args.short_side=32",
        "--data.init_args.num_workers=1",
        "--data.init_args.val_titles=1",
        "--data.init_args.val_batch_size=4",
        "--model.init_args.video_arch=tiny",
        "--model.init_args.audio_arch=tiny",
        "--model.init_args.crop_size=28",
        "--model.init_args.n_mels=32",
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        "--trainer.precision=32-true",
        "--trainer.max_epochs=2",
        "--trainer.callbacks.every_n_train_steps=2",
        "--trainer.callbacks.save_top_k=-1",
        "--trainer.callbacks+=tests.recording.RecordBatches",
        f"--trainer.callbacks.out={record}",
        f"--run.dir={runs}",
        "--run.wandb=disabled",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if k != "TVSSL_RUN_DIR"}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    fit = subprocess.Popen(
        [sys.executable, "-m", "tvssl.cli", *args], env=env, cwd=REPO, start_new_session=True
    )
    try:
        code = fit.wait(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        for pid in _session(fit.pid):  # one at a time, so that their stacks do not interleave on stderr
            os.write(2, f"\n--- stacks of {pid}: {_command(pid)}\n".encode())
            os.kill(pid, STACKS_SIGNAL)
            time.sleep(1)
        os.killpg(fit.pid, signal.SIGKILL)
        fit.wait()
        pytest.fail(
            f"the DDP fit hung for {HANG_S} s (a fit takes ~10 s); the stacks of its processes are above"
        )
    assert code == 0, f"the DDP fit exited with {code}"


@pytest.mark.ddp
@pytest.mark.slow
def test_ddp_ranks_split_each_global_batch_and_resume_exactly(movie_corpus: Path, tmp_path: Path) -> None:
    ddp_fit(movie_corpus, tmp_path / "runs", tmp_path / "full", "--run.name=full")
    ranks = [read_records(tmp_path / "full", r) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 6  # 2 epochs x 48 clips / 16 per global batch

    single = MovieDataModule(root=str(movie_corpus), num_workers=0, val_titles=1, **SETTINGS)
    single.setup("fit")
    for step, (r0, r1) in enumerate(zip(*ranks)):
        pairs = [set(zip(r["titles"], r["slots"])) for r in (r0, r1)]
        assert len(r0["titles"]) == len(r1["titles"]) == 8 and not pairs[0] & pairs[1]
        plan = single.train_sampler.plan_batch(step // 3, step % 3)
        assert r0["titles"] + r1["titles"] == plan[:, 0].tolist()
        assert r0["slots"] + r1["slots"] == plan[:, 1].tolist()

    checkpoint = tmp_path / "runs" / "full" / "version_0" / "checkpoints" / "epoch=0-step=2.ckpt"
    assert checkpoint.is_file()
    ddp_fit(
        movie_corpus,
        tmp_path / "runs",
        tmp_path / "resumed",
        "--run.name=resumed",
        f"--ckpt_path={checkpoint}",
    )
    for rank in (0, 1):
        assert read_records(tmp_path / "resumed", rank) == ranks[rank][2:]
