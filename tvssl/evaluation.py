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


def title_retrieval(queries: torch.Tensor, keys: torch.Tensor, titles: torch.Tensor) -> tuple[float, float]:
    """What an encoder pair tells apart in a set of clips from a few titles (row i of keys belongs to query i).

    Returns (title found, clip found in its title): the share of queries whose best key of all is from their own
    title, and the share whose own key beats every other key of their title (ties count against). Negatives from
    other titles train the first, negatives from the same title the second: a model trained only against other
    titles' clips (k = 1, or the masked control) has no reason to score on the second beyond what carries over.
    """
    sims = queries @ keys.T
    same = titles.unsqueeze(1) == titles.unsqueeze(0)
    rows = torch.arange(sims.shape[0], device=sims.device)
    title_found = same[rows, sims.argmax(dim=1)].float().mean().item()
    beaten = ((sims >= sims.diagonal().unsqueeze(1)) & same).sum(dim=1) - 1
    return title_found, (beaten == 0).float().mean().item()


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
