"""Resume is exact in its losses, not only in its batches: every random draw of a step is a function of the step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.overrides import tiny_overrides
from tests.recording import read_losses, read_records
from tvssl.augment import AudioGain, VideoAugment, batch_generator
from tvssl.cli import main

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_augmentation_is_a_function_of_the_generator_not_of_global_state() -> None:
    video = torch.randint(0, 256, (4, 3, 32, 40, 3), dtype=torch.uint8)
    audio = torch.randn(4, 800)
    augment, gain = VideoAugment(size=24).train(), AudioGain(6.0).train()
    ids = torch.arange(8)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        g = batch_generator(torch.device("cpu"), epoch=1, step=7, rank=0, ids=ids, seed=0)
        return augment(video, g), gain(audio, g)

    first = draw()
    torch.rand(1000)  # global state moves on; the draws must not
    second = draw()
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    other = batch_generator(torch.device("cpu"), epoch=1, step=8, rank=0, ids=ids, seed=0)
    assert not torch.equal(augment(video, other), first[0])
    other_rank = batch_generator(torch.device("cpu"), epoch=1, step=7, rank=1, ids=ids, seed=0)
    assert not torch.equal(gain(audio, other_rank), first[1])


def _recorded_fits(movie_corpus: Path, tmp_path: Path, *checkpointing: str) -> Callable[..., Path]:
    """``run(name, *extra)``: one tiny fit of 2 epochs of 3 steps that records its batches and losses to tmp/name."""
    base = [
        "fit",
        "--config",
        str(EXPERIMENTS / "movie_k4_w4.yaml"),
        *tiny_overrides(movie_corpus, tmp_path / "runs", 8),
        "--data.init_args.clips_per_epoch=24",
        "--trainer.max_epochs=2",
        "--trainer.limit_val_batches=0",
        *checkpointing,
    ]

    def run(name: str, *extra: str) -> Path:
        out = tmp_path / name
        record = [
            "--trainer.callbacks+=tests.recording.RecordBatches",
            f"--trainer.callbacks.out={out}",
            "--trainer.callbacks+=tests.recording.RecordLosses",
            f"--trainer.callbacks.out={out}",
        ]
        main([*base, f"--run.name={name}", *record, *extra])
        return out

    return run


@pytest.mark.slow
def test_resumed_run_has_the_losses_of_the_uninterrupted_run(movie_corpus: Path, tmp_path: Path) -> None:
    """2 epochs of 3 steps; stop after step 4, resume from the step-4 checkpoint: steps 5..6 lose the same."""
    run = _recorded_fits(
        movie_corpus,
        tmp_path,
        "--trainer.callbacks.every_n_train_steps=2",
        "--trainer.callbacks.save_top_k=-1",
    )

    full = run("full")
    cut = run("cut", "--trainer.callbacks+=tests.recording.StopAfter", "--trainer.callbacks.steps=4")
    checkpoint = tmp_path / "runs" / "cut" / "version_0" / "checkpoints" / "epoch=1-step=4.ckpt"
    resumed = run("resumed", f"--ckpt_path={checkpoint}")
    assert read_records(resumed) == read_records(full)[4:]
    expected = [r["loss"] for r in read_losses(full)]
    assert [r["loss"] for r in read_losses(cut)] == pytest.approx(expected[:4], abs=1e-5)
    assert len(expected) == 6
    assert [r["loss"] for r in read_losses(resumed)] == pytest.approx(expected[4:], abs=1e-5)


@pytest.mark.slow
def test_a_crash_leaves_the_last_completed_step_and_resuming_from_it_is_exact(
    movie_corpus: Path, tmp_path: Path
) -> None:
    """Periodic checkpoints every 100 steps never come; the exception hook writes last.ckpt at step 4."""
    run = _recorded_fits(movie_corpus, tmp_path, "--trainer.callbacks.every_n_train_steps=100")

    full = run("full")
    with pytest.raises(RuntimeError, match="injected failure at step 4"):
        run("crash", "--trainer.callbacks+=tests.recording.FailAt", "--trainer.callbacks.step=4")
    last = tmp_path / "runs" / "crash" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert saved["global_step"] == 4
    assert (
        saved["MovieDataModule"]["sampler"]["epoch"],
        saved["MovieDataModule"]["sampler"]["next_batch"],
    ) == (1, 1)
    resumed = run("resumed", f"--ckpt_path={last}")
    assert read_records(resumed) == read_records(full)[4:]
    expected = [r["loss"] for r in read_losses(full)]
    assert [r["loss"] for r in read_losses(resumed)] == pytest.approx(expected[4:], abs=1e-5)
