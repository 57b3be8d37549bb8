"""One feature per file and encoder: each frozen encoder's output averaged over the file's evenly spaced clips.

The clips go through each encoder's own device preprocessing, as in fine-tuning's evaluation (centre crop,
log-mel), so the probe reads exactly the representation fine-tuning would start from. Several encoders are fed
from one pass over the files: decoding is most of a probe's work on a CPU (HMDB51 of the smoke profile: 9 of
the 14 seconds of features for one encoder), and it is the same for every encoder probed on a split. So is
the device preprocessing of encoders whose settings agree (every pretrained row of a sweep): the eval crop's
resampling was as much CPU as the tiny video encoder itself, so it runs once per batch for each such group.
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
from tvssl.preprocessing import same_evaluation_preprocessing


@dataclass(frozen=True)
class FileFeatures:
    """Features [files, D] of one side of a split, their labels, and how many of the clips had to be replaced."""

    features: torch.Tensor
    labels: torch.Tensor
    substituted: int


def preprocessing_groups(modules: Sequence[nn.Module]) -> list[int]:
    """For each module (in eval mode), the index of the first module whose preprocessing it shares: its own
    index when no module before it has the same."""
    firsts: list[int] = []
    for i, module in enumerate(modules):
        same = (j for j in range(i) if firsts[j] == j and same_evaluation_preprocessing(modules[j], module))  # type: ignore[arg-type]
        firsts.append(next(same, i))
    return firsts


@torch.no_grad()
def file_features(
    modules: Sequence[nn.Module],
    samples: Sequence[Sample],
    spec: ClipSpec,
    modality: str,
    clips_per_file: int = 10,
    batch_size: int = 64,
    num_workers: int = 0,
    on_clips: Callable[[int], None] | None = None,
) -> list[FileFeatures]:
    """Mean feature of each file's ``clips_per_file`` clips, for each of ``modules`` (in their order).

    A module is a ``FinetuneModule`` (pretrained or random) put in eval mode: its ``on_after_batch_transfer``
    preprocesses, its ``encoder`` embeds. Every module sees the same decoded batches, each through its own
    preprocessing, computed once for the modules whose preprocessing is the same (an encoder must not change
    its input in place, as none of ``tvssl.models`` does). ``on_clips`` hears how many clips each batch held.
    """
    for module in modules:
        module.eval()
    shares = preprocessing_groups(modules)
    dataset = EvalClipDataset(samples, spec, modality, clips_per_file)  # type: ignore[arg-type]
    loader = make_loader(
        dataset,
        collate_fn=collate_clips,
        num_workers=num_workers,
        batch_size=batch_size,
        persistent_workers=False,
    )
    sums: list[torch.Tensor | None] = [None] * len(modules)
    counts = torch.zeros(len(samples))
    substituted = 0
    for batch in loader:
        inputs: dict[int, torch.Tensor] = {}
        for i, module in enumerate(modules):
            if shares[i] not in inputs:
                ready = module.on_after_batch_transfer(dict(batch), 0)  # type: ignore[operator]
                inputs[shares[i]] = ready[modality]
            feats = module.encoder(inputs[shares[i]]).double()  # type: ignore[operator]
            if sums[i] is None:
                sums[i] = torch.zeros(len(samples), feats.shape[1], dtype=torch.float64)
            sums[i].index_add_(0, batch["video_index"], feats)  # type: ignore[union-attr]
        counts.index_add_(0, batch["video_index"], torch.ones(len(batch["video_index"])))
        substituted += int(batch["substituted"].sum())
        if on_clips is not None:
            on_clips(len(batch["video_index"]))
    labels = torch.tensor([s.label for s in samples], dtype=torch.long)
    mean_of = counts.clamp_min(1).unsqueeze(1).double()
    features = []
    for total in sums:
        assert total is not None, "no clips were read"
        features.append(FileFeatures(total / mean_of, labels, substituted))
    return features
