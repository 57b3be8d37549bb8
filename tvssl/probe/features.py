"""One feature per file: the frozen encoder's output averaged over the file's evenly spaced clips.

The clips go through the same device preprocessing as fine-tuning's evaluation (centre crop, log-mel), so the
probe reads exactly the representation fine-tuning would start from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from data_modules.batching import make_loader
from data_modules.clip_datasets import EvalClipDataset, collate_clips
from data_modules.decoding import ClipSpec
from data_modules.splits import Sample


@dataclass(frozen=True)
class FileFeatures:
    """Features [files, D] of one side of a split, their labels, and how many of the clips had to be replaced."""

    features: torch.Tensor
    labels: torch.Tensor
    substituted: int


@torch.no_grad()
def file_features(
    module: nn.Module,
    samples: Sequence[Sample],
    spec: ClipSpec,
    modality: str,
    clips_per_file: int = 10,
    batch_size: int = 64,
    num_workers: int = 0,
    on_clips: Callable[[int], None] | None = None,
) -> FileFeatures:
    """Mean encoder feature of each file's ``clips_per_file`` clips.

    ``module`` is a ``FinetuneModule`` (pretrained or random) in eval mode: its ``on_after_batch_transfer``
    preprocesses, its ``encoder`` embeds. ``on_clips`` hears how many clips each batch held (progress).
    """
    module.eval()
    dataset = EvalClipDataset(samples, spec, modality, clips_per_file)  # type: ignore[arg-type]
    loader = make_loader(
        dataset,
        collate_fn=collate_clips,
        num_workers=num_workers,
        batch_size=batch_size,
        persistent_workers=False,
    )
    sums: torch.Tensor | None = None
    counts = torch.zeros(len(samples))
    substituted = 0
    for batch in loader:
        batch = module.on_after_batch_transfer(batch, 0)  # type: ignore[operator]
        feats = module.encoder(batch[modality]).double()  # type: ignore[operator]
        if sums is None:
            sums = torch.zeros(len(samples), feats.shape[1], dtype=torch.float64)
        sums.index_add_(0, batch["video_index"], feats)
        counts.index_add_(0, batch["video_index"], torch.ones(len(feats)))
        substituted += int(batch["substituted"].sum())
        if on_clips is not None:
            on_clips(len(feats))
    assert sums is not None, "no clips were read"
    labels = torch.tensor([s.label for s in samples], dtype=torch.long)
    return FileFeatures(sums / counts.clamp_min(1).unsqueeze(1).double(), labels, substituted)
