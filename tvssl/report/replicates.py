"""Probe results of several pretraining runs of the same sweep (other training seeds), pooled into one record.

One pretraining run per row hides the largest noise there is in the smoke table: two runs of the same row in the
same world, differing only in initial weights, batches and validation titles, gave probe numbers 5-10 points
apart, about the size of the effects the verdicts judge. A probe's own standard error counts only the test files.
Pooling ``r`` runs of a row gives

    mean = the mean over runs,
    se   = sqrt(s^2 / r + se_test^2),

where ``s`` is the standard deviation over runs (training noise, which averaging over runs shrinks) and
``se_test^2`` the mean of the runs' squared test-set standard errors (the test files are the same in every run,
so that part does not shrink). ``n`` is then the number of runs. A row or task present in only some trees is
pooled over those; one present in a single tree keeps that run's record (its ``n`` counts test files).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from tvssl.report.probes import ProbeRecord


def pool_replicates(trees: Sequence[Sequence[ProbeRecord]]) -> list[ProbeRecord]:
    """One record per (row, task, metric) over ``trees`` (each tree: one run's records), in first-seen order."""
    grouped: dict[tuple[str, str, str], list[ProbeRecord]] = {}
    for records in trees:
        for record in records:
            grouped.setdefault((record.row, record.task, record.metric), []).append(record)
    return [_pooled(runs) for runs in grouped.values()]


def _pooled(runs: list[ProbeRecord]) -> ProbeRecord:
    first = runs[0]
    if len(runs) == 1:
        return first
    means = [r.mean for r in runs]
    test_se = [r.se for r in runs if r.se is not None]
    test_part = statistics.fmean(se * se for se in test_se) if test_se else 0.0
    se = math.sqrt(statistics.variance(means) / len(runs) + test_part)
    return ProbeRecord(
        first.row, first.k, first.w, first.task, first.metric, statistics.fmean(means), se, len(runs)
    )
