"""Evaluation arithmetic shared by the pretraining and fine-tuning modules (no Lightning state here)."""

from __future__ import annotations

import torch


def first_occurrences(ids: torch.Tensor) -> torch.Tensor:
    """Indices of the first row of each distinct id, in id order.

    Distributed evaluation pads every rank to the same number of items by repeating some; gathered
    results are deduplicated with this before any metric is computed.
    """
    order = torch.argsort(ids, stable=True)
    sorted_ids = ids[order]
    keep = torch.ones_like(sorted_ids, dtype=torch.bool)
    keep[1:] = sorted_ids[1:] != sorted_ids[:-1]
    return order[keep]


def recall_at_k(queries: torch.Tensor, keys: torch.Tensor, ks: tuple[int, ...]) -> dict[int, float]:
    """Share of queries whose own key (same row) ranks within the top k by dot product (ties count against)."""
    sims = queries @ keys.T
    own = sims.diagonal().unsqueeze(1)
    rank = (sims > own).sum(dim=1)
    return {k: (rank < k).float().mean().item() for k in ks}


def video_level_predictions(
    probs: torch.Tensor, video_index: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average clip softmax per video: (mean probabilities [V, C], label [V]) over the videos present."""
    videos, inverse = torch.unique(video_index, return_inverse=True)
    sums = torch.zeros(len(videos), probs.shape[1], dtype=probs.dtype, device=probs.device)
    sums.index_add_(0, inverse, probs)
    counts = torch.bincount(inverse, minlength=len(videos)).unsqueeze(1).to(probs.dtype)
    video_labels = torch.zeros(len(videos), dtype=labels.dtype, device=labels.device)
    video_labels[inverse] = labels
    return sums / counts, video_labels
