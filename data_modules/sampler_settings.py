"""The checks of the (k, w) sampler's integer settings, each failing with one line that names the setting.

They are the sampler's guard against silent mistakes (a bool for a count, a rank outside the world, a global
batch that cannot split into whole groups per device); the window ``w`` is checked by the sampler itself, since
its meaning (a slot count or the whole title) is the policy's.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import index as as_index
from typing import Any

import numpy as np


def positive_int(value: Any, name: str, hint: str) -> int:
    """``value`` as an int >= 1, or a ValueError naming the setting; bools are refused, they are never meant."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}; {hint}")
    try:
        number = as_index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}; {hint}") from None
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {number}; {hint}")
    return number


def slot_counts(num_slots: Sequence[int] | np.ndarray) -> np.ndarray:
    """The per-title slot counts ``M_n`` as an int64 array, or a ValueError saying what is wrong with them."""
    counts = np.asarray(num_slots)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(
            f"num_slots must be a non-empty 1-D sequence of per-title slot counts, got shape {counts.shape}; "
            "build it from the manifest's num_slots column"
        )
    if counts.dtype.kind not in "iu":
        raise ValueError(
            f"num_slots must hold integers (slots per title), got dtype {counts.dtype}; "
            "slot counts come from the manifest's num_slots column"
        )
    counts = counts.astype(np.int64)
    if (counts < 0).any():
        bad = int(np.flatnonzero(counts < 0)[0])
        raise ValueError(f"num_slots[{bad}] = {counts[bad]} is negative; a title has 0 or more slots")
    return counts


def check_rank(rank: int, num_replicas: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise ValueError(f"rank must be an int in [0, {num_replicas}), got {rank!r}")
    if not 0 <= rank < num_replicas:
        raise ValueError(
            f"rank={rank} is out of range for num_replicas={num_replicas}; it must be in [0, {num_replicas})"
        )
    return int(rank)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def check_divisible(batch_size: int, k: int, num_replicas: int) -> None:
    if batch_size % num_replicas:
        raise ValueError(
            f"batch_size={batch_size} is the global batch and must split evenly over num_replicas="
            f"{num_replicas} devices; choose a multiple of {num_replicas * k} (k * devices)"
        )
    per_device = batch_size // num_replicas
    if per_device % k:
        raise ValueError(
            f"the per-device batch batch_size / num_replicas = {batch_size} / {num_replicas} = {per_device} is "
            f"not a multiple of k={k}, so groups of k clips cannot stay on one device; choose batch_size as "
            f"a multiple of {num_replicas * k} (k * devices) or change k"
        )
