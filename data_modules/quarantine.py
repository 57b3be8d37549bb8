"""Titles that keep failing to decode, set aside for the rest of a run instead of ending it.

Real catalogues hold files that index fine and then fail at training time: cut short, damaged in the middle,
deleted or moved after indexing. Each DataLoader worker keeps its own record (workers share nothing); the
entries travel to the main process inside every batch, where a callback names each title once, counts them
and lists them in the run directory. Whether a title is quarantined never changes which clip replaces a
failed one: replacements are drawn from (seed, title, slot) alone, so runs stay reproducible.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

QUARANTINE_AFTER = 3
"""Failed reads of one title before it can be quarantined (it also needs at least as many failures as reads)."""


class QuarantineEntry(NamedTuple):
    """One quarantined title: what the sampler calls it, the file that failed, and the decoder's reason.

    A named tuple, not a dataclass: it rides inside batches, and Lightning's batch transfer rebuilds tuples
    but refuses frozen dataclasses.
    """

    title: str
    path: str
    reason: str
    failures: int


class Quarantine:
    """The per-process record of failures and quarantined titles, keyed by the dataset's unit index."""

    def __init__(self, after: int = QUARANTINE_AFTER) -> None:
        if after < 1:
            raise ValueError(f"Quarantine: after must be >= 1, got {after}")
        self.after = after
        self.failures: Counter[int] = Counter()
        self.reads: Counter[int] = Counter()
        self.quarantined: dict[int, QuarantineEntry] = {}

    def __contains__(self, unit: int) -> bool:
        return unit in self.quarantined

    def succeeded(self, unit: int) -> None:
        self.reads[unit] += 1

    def failed(self, unit: int, title: str, path: str, reason: str) -> bool:
        """Count one failed read; True when this failure puts the title in quarantine."""
        self.reads[unit] += 1
        self.failures[unit] += 1
        failures = self.failures[unit]
        if unit in self.quarantined or failures < self.after or 2 * failures < self.reads[unit]:
            return False
        self.quarantined[unit] = QuarantineEntry(title, path, reason, failures)
        return True

    def entries(self) -> tuple[QuarantineEntry, ...]:
        return tuple(self.quarantined[u] for u in sorted(self.quarantined))
