"""Command-line overrides that make a paper config run on the small generated corpora in seconds."""

from __future__ import annotations

from pathlib import Path


def tiny_overrides(root: Path, runs: Path, batch: int) -> list[str]:
    """Command-line overrides that make a paper row run on the small generated corpora in seconds."""
    return [
        f"--data.init_args.root={root}",
        f"--data.init_args.batch_size={batch}",
        "--data.init_args.slot_seconds=0.5",
        "--data.init_args.num_frames=4",
        "--data.init_args.short_side=32",
        "--data.init_args.num_workers=0",
        "--data.init_args.val_titles=1",
        "--model.init_args.video_arch=tiny",
        "--model.init_args.audio_arch=tiny",
        "--model.init_args.head_hidden_dim=32",
        "--model.init_args.crop_size=28",
        "--model.init_args.n_mels=32",
        "--trainer.accelerator=cpu",
        "--trainer.devices=1",
        "--trainer.precision=32-true",
        f"--run.dir={runs}",
        "--run.wandb=disabled",
    ]
