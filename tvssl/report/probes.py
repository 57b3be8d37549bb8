"""The frozen-feature probe's results: one record per (row, task, metric), as probe.csv, a table and verdicts.

Every row's ``probe_<task>/probe.json`` (and the random-initialisation baseline's) becomes records
``row,k,w,task,metric,mean,se,n``: metrics ``probe_top1`` and ``knn_top1`` from the probe, and ``video_top1``
from fine-tuning where a row has it. The verdicts test the paper's claims on ``probe_top1`` with the rule fixed
in advance: a difference counts when it exceeds 2 standard errors of the difference, sqrt(se_a^2 + se_b^2).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tvssl.report.orderings import ADJACENT_KS
from tvssl.report.stats import TABLE_TASKS, TableRow
from tvssl.rows import RANDOM_INIT, ROWS_BY_NAME, Row, display_order
from tvssl.run_names import PROBE_RESULT, parse_probe_name

PROBE_CSV = "probe.csv"
PROBE_COLUMNS = ("row", "k", "w", "task", "metric", "mean", "se", "n")
TASK_TITLES = {"hmdb51": "HMDB51", "esc50": "ESC-50", "ucf101": "UCF101"}
BASELINE, SINGLE, HARD, CONTROL = RANDOM_INIT, "movie_k1", "movie_k16_Mn", "movie_k16_Mn_masked"


@dataclass(frozen=True)
class ProbeRecord:
    """One number of probe.csv: a metric of one row on one task, its standard error and its count."""

    row: str
    k: str
    w: str
    task: str
    metric: str
    mean: float
    se: float | None
    n: int


def _columns(row: str) -> tuple[str, str]:
    known = ROWS_BY_NAME.get(row)
    return ("", "") if known is None else (str(known.k), known.w_label)


def collect_probes(results_dir: Path) -> tuple[list[ProbeRecord], list[str]]:
    """Records of every probe.json under RESULTS, with warnings."""
    records: list[ProbeRecord] = []
    warnings: list[str] = []
    for row_dir in sorted(p for p in Path(results_dir).iterdir() if p.is_dir()):
        if row_dir.name != RANDOM_INIT and row_dir.name not in ROWS_BY_NAME:
            continue
        k, w = _columns(row_dir.name)
        for run_dir in sorted(p for p in row_dir.iterdir() if p.is_dir()):
            task = parse_probe_name(run_dir.name)
            if task is None:
                continue
            path = run_dir / PROBE_RESULT
            try:
                scores = json.loads(path.read_text())
                for metric in ("probe", "knn"):
                    records.append(
                        ProbeRecord(
                            row_dir.name, k, w, task, f"{metric}_top1",
                            float(scores[f"{metric}_top1"]), float(scores[f"{metric}_se"]), int(scores["n"]),
                        )
                    )  # fmt: skip
            except (OSError, ValueError, KeyError, TypeError) as error:
                warnings.append(f"{path}: unreadable probe result ({error}); shown as missing")
    return records, warnings


def finetune_records(table: Sequence[TableRow]) -> list[ProbeRecord]:
    """Fine-tuning's ``video_top1`` of every row of Table 1 that has it, from the rows ``stats.build_table`` made."""
    out = []
    for table_row in table:
        for task, comparison in table_row.tasks.items():
            if comparison.ours is not None:
                stat = comparison.ours
                k, w = _columns(table_row.row.name)
                out.append(
                    ProbeRecord(table_row.row.name, k, w, task, "video_top1", stat.mean, stat.stderr, stat.n)
                )
    return out


def render_probe_csv(records: list[ProbeRecord]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(PROBE_COLUMNS)
    for r in records:
        se = "" if r.se is None else f"{r.se:.4f}"
        writer.writerow([r.row, r.k, r.w, r.task, r.metric, f"{r.mean:.4f}", se, r.n])
    return text.getvalue()


def _lookup(records: list[ProbeRecord], metric: str = "probe_top1") -> dict[tuple[str, str], ProbeRecord]:
    return {(r.row, r.task): r for r in records if r.metric == metric}


def _paper_value(reference: dict[str, dict[str, float]], row: str, task: str) -> str:
    """The paper's Table 1 number of ``row`` on ``task`` (fine-tuned top-1), or a dash for extra rows."""
    paper = reference.get(row, {})
    value = paper.get(f"{task}_mean", paper.get(task))
    return "—" if value is None else f"{value:.2f}"


def render_probe_markdown(
    records: list[ProbeRecord],
    reference: dict[str, dict[str, float]] | None = None,
    runs: int = 1,
    notes: Mapping[str, str] | None = None,
) -> str:
    """Probe top-1 ± s.e. (k-NN beside it) per row and task, each beside the paper's fine-tuned number of the
    row; the baseline first, then rows in table order. ``runs`` > 1: the records pool that many pretraining
    runs (``tvssl.report.replicates``), and the heading says so. ``notes``: said beside a row's name (a row
    that shares another's training, ``RowResults.twin_note``)."""
    linear, knn = _lookup(records), _lookup(records, "knn_top1")
    reference = reference or {}
    rows = sorted({r.row for r in records if r.metric != "video_top1"}, key=display_order)
    if not rows:
        return ""
    head = (
        "| row | k | w | " + " | ".join(f"{TASK_TITLES[t]} probe (k-NN) | paper" for t in TABLE_TASKS) + " |"
    )
    lines = [
        "## Frozen-feature probe (top-1 % ± s.e. "
        + (
            f"over {runs} pretraining runs and the test files, mean of the runs"
            if runs > 1
            else "over test files"
        )
        + "; k-NN in brackets; paper: fine-tuned top-1)",
        "",
        head,
        "|" + "---|" * (3 + 2 * len(TABLE_TASKS)),
    ]
    for row in rows:
        k, w = _columns(row)
        cells = []
        for task in TABLE_TASKS:
            a, b = linear.get((row, task)), knn.get((row, task))
            cells.append(
                "—" if a is None else f"{a.mean:.1f} ± {a.se:.1f}" + ("" if b is None else f" ({b.mean:.1f})")
            )
            cells.append(_paper_value(reference, row, task))
        label = row + (" *(control)*" if row == CONTROL else " *(no pretraining)*" if row == BASELINE else "")
        label += (notes or {}).get(row, "")
        lines.append(f"| {label} | {k or '—'} | {w or '—'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _beats(a: ProbeRecord | None, b: ProbeRecord | None) -> bool | None:
    """a above b by more than 2 standard errors of the difference; None when either is missing."""
    if a is None or b is None or a.se is None or b.se is None:
        return None
    return a.mean - b.mean > 2 * math.hypot(a.se, b.se)


def verdicts(records: list[ProbeRecord]) -> list[str]:
    """One sentence per claim of the paper, held or not, on probe top-1 (2-s.e. rule, fixed in advance)."""
    probe = _lookup(records)
    out = []
    pretrained = sorted({r for r, _ in probe if r != BASELINE}, key=display_order)
    if any((BASELINE, t) in probe for t in TABLE_TASKS):
        held = [
            (row, task)
            for row in pretrained
            for task in TABLE_TASKS
            if _beats(probe.get((row, task)), probe.get((BASELINE, task)))
        ]
        total = sum(
            1 for row in pretrained for t in TABLE_TASKS if (row, t) in probe and (BASELINE, t) in probe
        )
        out.append(
            f"Pretraining helps (every pretrained row above random init on every task): "
            f"{'HELD' if total and len(held) == total else 'NOT HELD'} ({len(held)} of {total} row-task pairs)."
        )
    gains = {t: _beats(probe.get((HARD, t)), probe.get((SINGLE, t))) for t in TABLE_TASKS}
    if any(v is not None for v in gains.values()):
        won = [TASK_TITLES[t] for t, v in gains.items() if v]
        out.append(
            f"k = 16 / Mn beats k = 1 (on at least two of three tasks): {'HELD' if len(won) >= 2 else 'NOT HELD'} "
            f"({', '.join(won) or 'no task'})."
        )
    lost = []
    checked = 0
    for task in TABLE_TASKS:
        hard, single, control = (probe.get((r, task)) for r in (HARD, SINGLE, CONTROL))
        if None in (hard, single, control) or not gains.get(task):
            continue
        checked += 1
        if control.mean - single.mean <= 0.5 * (hard.mean - single.mean):  # type: ignore[union-attr]
            lost.append(TASK_TITLES[task])
    if checked:
        out.append(
            f"The control (same-title negatives masked) loses at least half of k = 16's gain where k = 16 won: "
            f"{'HELD' if len(lost) == checked else 'NOT HELD'} ({len(lost)} of {checked} tasks)."
        )
    elif any((CONTROL, t) in probe for t in TABLE_TASKS):
        out.append("The control cannot be judged: k = 16 / Mn did not beat k = 1 on any task.")
    adjacent = _adjacent_verdict(probe)
    if adjacent:
        out.append(adjacent)
    return out


def _adjacent_verdict(probe: dict[tuple[str, str], ProbeRecord]) -> str | None:
    """The paper's w = k finding (16 / 16 and 64 / 64 below their w = Mn rows on HMDB51 and UCF101): each w = k
    row that ran is below its w = Mn row on at least two of three tasks; None when no such pair ran."""
    judged, held = [], []
    for k in ADJACENT_KS:
        narrow, whole = Row("movie", k, k).name, Row("movie", k, None).name
        tasks = [t for t in TABLE_TASKS if (narrow, t) in probe and (whole, t) in probe]
        if not tasks:
            continue
        judged.append(k)
        below = [TASK_TITLES[t] for t in tasks if _beats(probe[whole, t], probe[narrow, t])]
        if len(below) >= 2:
            held.append(f"k = {k}: {', '.join(below)}")
    if not judged:
        return None
    return (
        f"w = k generalises worst (each w = k row below its w = Mn row on at least two of three tasks): "
        f"{'HELD' if len(held) == len(judged) else 'NOT HELD'} ({len(held)} of {len(judged)} pairs"
        + (f"; {'; '.join(held)})." if held else ").")
    )
