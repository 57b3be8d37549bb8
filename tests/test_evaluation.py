"""Retrieval arithmetic of pretraining's validation (``tvssl.evaluation``), on hand-built similarities."""

from __future__ import annotations

import torch

from tvssl.evaluation import recall_at_k, title_retrieval


def test_title_retrieval_splits_what_other_titles_and_the_own_title_teach() -> None:
    """Two titles of two clips each. A title-only encoder (every clip of a title maps to one point) finds the
    title every time and its own clip by chance at best (a tie counts against); a perfect one finds both."""
    titles = torch.tensor([0, 0, 1, 1])
    by_title = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert title_retrieval(by_title, by_title, titles) == (1.0, 0.0)
    assert recall_at_k(by_title, by_title, (1,))[1] == 1.0  # ties do not count against here, only beaten keys
    exact = torch.eye(4)
    assert title_retrieval(exact, exact, titles) == (1.0, 1.0)


def test_title_retrieval_counts_each_query_on_its_own() -> None:
    titles = torch.tensor([0, 0, 1, 1])
    similarity = torch.tensor(  # row i: query i against keys 0..3 (keys 0, 1 of title 0; 2, 3 of title 1)
        [
            [0.4, 0.6, 0.0, 0.0],  # best is key 1: its title, but not its clip
            [0.0, 0.5, 0.9, 0.0],  # best is key 2, of the other title; within its title its own key wins
            [0.0, 0.0, 0.2, 0.3],  # best is key 3: its title, but not its clip
            [0.0, 0.0, 0.0, 1.0],  # its own key is best
        ]
    )
    found, within = title_retrieval(torch.eye(4), similarity.T, titles)
    assert found == 0.75
    assert within == 0.5
