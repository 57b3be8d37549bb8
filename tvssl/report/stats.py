"""The numbers of Table 1: every run of a row reduced to one statistic per task, beside the paper's.

Each table row is built here once, numbers only (means, counts, standard errors, differences); the markdown
and CSV renderers only format what this gives them, so the two tables cannot disagree.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from tvssl.report.results import Results, RowResults
from tvssl.rows import ROWS, Row
from tvssl.run_names import SEED_TASK

TABLE_TASKS = ("hmdb51", SEED_TASK, "ucf101")
"""The task columns of Table 1, in the paper's order."""


@dataclass(frozen=True)
class Stat:
    """A mean over n runs; stderr (sample std / sqrt(n)) only when there are several runs to spread."""

    mean: float
    n: int
    stderr: float | None = None


@dataclass(frozen=True)
class Comparison:
    """Ours beside the paper for one task of one row; ``ours`` None means not run yet (never zero)."""

    ours: Stat | None
    paper_mean: float
    paper_stderr: float | None = None
    folds: int = 0
    """ESC-50: the number of test folds behind each seed's value."""

    @property
    def diff(self) -> float | None:
        """Ours minus the paper's mean."""
        return None if self.ours is None else self.ours.mean - self.paper_mean


@dataclass(frozen=True)
class TableRow:
    row: Row
    tasks: dict[str, Comparison]
    """Keyed by task, in ``TABLE_TASKS`` order."""


def split_stat(values: dict[int, float]) -> Stat | None:
    """HMDB51/UCF101: the paper reports split 1; with more splits we average them and say how many."""
    if not values:
        return None
    return Stat(statistics.fmean(values.values()), len(values))


def esc50_stat(runs: dict[tuple[int, int], float], warnings: list[str], name: str) -> tuple[Stat | None, int]:
    """Mean ± standard error over fine-tuning seeds (each seed first averaged over its folds).

    Returns the statistic and the number of folds behind each seed.
    """
    if not runs:
        return None, 0
    per_seed: dict[int, dict[int, float]] = {}
    for (fold, seed), value in runs.items():
        per_seed.setdefault(seed, {})[fold] = value
    fold_sets = {tuple(sorted(folds)) for folds in per_seed.values()}
    if len(fold_sets) > 1:
        warnings.append(
            f"{name}: ESC-50 seeds were run on different folds {sorted(fold_sets)}; averaged anyway"
        )
    seed_means = [statistics.fmean(folds.values()) for folds in per_seed.values()]
    n = len(seed_means)
    stderr = statistics.stdev(seed_means) / math.sqrt(n) if n > 1 else None
    return Stat(statistics.fmean(seed_means), n, stderr), max(len(f) for f in fold_sets)


def build_table(results: Results, reference: dict[str, dict[str, float]]) -> list[TableRow]:
    """One row per Table 1 row, in the paper's order, each task compared with ``reference`` (the paper)."""
    table = []
    for row in ROWS:
        found = results.rows.get(row.name, RowResults(row))
        paper = reference[row.name]
        tasks = {}
        for task in TABLE_TASKS:
            if task == SEED_TASK:
                esc, folds = esc50_stat(found.esc50, results.warnings, row.name)
                tasks[task] = Comparison(esc, paper[f"{task}_mean"], paper[f"{task}_stderr"], folds)
            else:
                tasks[task] = Comparison(split_stat(found.splits[task]), paper[task])
        table.append(TableRow(row, tasks))
    return table
