"""Figure 1's three orderings of the training loss, checked in words beside the figure.

The paper's supplement reads its Figure 1 as: (a) the loss is higher for larger k (w = Mn), (b) higher for
smaller w (k = 16), (c) highest for w = k, above w = Mn at the same k. Each row's level is the mean loss over
the last ``TAIL_SHARE`` of its logged steps, a rule fixed before any curve was looked at; an ordering holds
when every pair of neighbours among its rows that have run is in the paper's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tvssl.report.results import Results
from tvssl.rows import Row

TAIL_SHARE = 0.1
"""Share of the logged steps, at the end of the run, whose mean loss is the row's level."""

K_ORDER = (1, 4, 8, 16, 32, 64)
W_ORDER: tuple[int | None, ...] = (64, 128, 256, 512, 1024, 2048, None)
ADJACENT_KS = (4, 16, 64)


@dataclass(frozen=True)
class Ordering:
    """One claim of Figure 1: the rows, in the order their loss should fall (first highest)."""

    claim: str
    chains: tuple[tuple[str, ...], ...]
    """Row names from the highest expected loss to the lowest; neighbours among the rows that ran are compared."""


def final_loss(results: Results, row: str) -> float | None:
    """Mean training loss over the last ``TAIL_SHARE`` of the row's logged steps (None if it has not run)."""
    found = results.rows.get(row)
    if found is None or found.loss is None or len(found.loss.losses) == 0:
        return None
    losses = found.loss.losses
    tail = max(1, int(round(TAIL_SHARE * len(losses))))
    return float(np.mean(losses[-tail:]))


def figure1_orderings() -> list[Ordering]:
    """(a), (b) and (c) of the supplement's Figure 1 as chains of movie rows."""
    ks = tuple(Row("movie", k, None).name for k in reversed(K_ORDER))
    ws = tuple(Row("movie", 16, w).name for w in W_ORDER)
    adjacent = tuple((Row("movie", k, k).name, Row("movie", k, None).name) for k in ADJACENT_KS)
    return [
        Ordering("(a) loss rises with k (w = Mn)", (ks,)),
        Ordering("(b) loss falls as w grows (k = 16)", (ws,)),
        Ordering("(c) w = k above w = Mn", adjacent),
    ]


def _level(value: float) -> str:
    return f"{value:.3f}"


def _same_curve(results: Results, a: str, b: str) -> bool:
    """Two rows that logged the very same losses drew the same batches (w at least every title's M_n = Mn)."""
    ca, cb = results.rows[a].loss, results.rows[b].loss
    assert ca is not None and cb is not None
    return np.array_equal(ca.steps, cb.steps) and np.array_equal(ca.losses, cb.losses)


def ordering_lines(results: Results, orderings: Sequence[Ordering] | None = None) -> list[str]:
    """One sentence per ordering that has a pair run: HELD when every pair is in the paper's order, with each
    pair's levels; pairs with identical curves (the same batches) are named and not counted."""
    lines = []
    for ordering in orderings if orderings is not None else figure1_orderings():
        ran, same = [], []
        for chain in ordering.chains:
            levels = [(row, final_loss(results, row)) for row in chain]
            present = [(row, level) for row, level in levels if level is not None]
            for (higher, a), (lower, b) in zip(present, present[1:]):
                if _same_curve(results, higher, lower):
                    same.append(f"{higher} = {lower}")
                else:
                    ran.append(f"{higher} {_level(a)} {'>' if a > b else '<='} {lower} {_level(b)}")
        if not ran and not same:
            continue
        held = sum(" > " in pair for pair in ran)
        verdict = "HELD" if ran and held == len(ran) else "NOT HELD"
        text = (
            f"Figure 1 {ordering.claim}: {verdict} ({held} of {len(ran)} pairs: {'; '.join(ran) or 'none'})"
        )
        if same:
            text += f"; identical curves, the same batches, not counted: {'; '.join(same)}"
        lines.append(text + ".")
    return lines
