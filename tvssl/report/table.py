"""Table 1 as markdown (to read) and CSV (to compute with), both formatted from the rows of ``stats``.

Nothing is computed here: every number, difference included, comes from ``build_table``; a renderer only
chooses how to write it. A missing value is "—" in markdown and an empty cell in CSV, never 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from tvssl.report.stats import TABLE_TASKS, Comparison, Stat, TableRow
from tvssl.run_names import SEED_TASK

MISSING_MD = "—"
SECTION_TITLES = {"movie": "Movie", "tv": "TV"}
TASK_TITLES = {"hmdb51": "HMDB51", "esc50": "ESC50", "ucf101": "UCF101"}


def _task_columns(task: str) -> tuple[str, ...]:
    """CSV columns of one task: mean, (standard error,) count, the paper's number(s), difference."""
    if task == SEED_TASK:
        return tuple(f"{task}_{c}" for c in ("mean", "stderr", "n", "paper_mean", "paper_stderr", "diff"))
    return (task, f"{task}_n", f"{task}_paper", f"{task}_diff")


CSV_COLUMNS = (
    "row",
    "dataset",
    "k",
    "w",
    *(column for task in TABLE_TASKS for column in _task_columns(task)),
)


def _num(value: float) -> str:
    return f"{value:.2f}"


def _diff_cell(diff: float | None) -> str:
    return MISSING_MD if diff is None else f"{diff:+.2f}"


def _split_cell(stat: Stat | None) -> str:
    if stat is None:
        return MISSING_MD
    return _num(stat.mean) + (f" ({stat.n} splits)" if stat.n > 1 else "")


def _seed_cell(stat: Stat | None, folds: int) -> str:
    if stat is None:
        return MISSING_MD
    text = _num(stat.mean) if stat.stderr is None else f"{_num(stat.mean)} ± {_num(stat.stderr)}"
    runs = f"{stat.n} seed" + ("s" if stat.n > 1 else "")
    if folds > 1:
        runs += f" × {folds} folds"
    return f"{text} ({runs})"


def _paper_cell(c: Comparison) -> str:
    return _num(c.paper_mean) if c.paper_stderr is None else f"{_num(c.paper_mean)} ± {_num(c.paper_stderr)}"


def _markdown_cells(task: str, c: Comparison) -> list[str]:
    ours = _seed_cell(c.ours, c.folds) if task == SEED_TASK else _split_cell(c.ours)
    return [ours, _paper_cell(c), _diff_cell(c.diff)]


def has_result(t: TableRow) -> bool:
    """Whether any fine-tuning result of ours is in this row (otherwise it shows only the paper's numbers)."""
    return any(c.ours is not None for c in t.tasks.values())


def render_markdown(table: Sequence[TableRow], results_only: bool = False) -> str:
    """Table 1, one section per pretraining dataset, every row of the paper (the file a reader keeps).

    ``results_only`` is the console's view of the same table: rows with no result of ours are left out (a
    probe-only sweep such as the demo would otherwise print 21 rows of the paper's numbers beside dashes), and
    a table with no result at all shrinks to one line.
    """
    if results_only and not any(has_result(t) for t in table):
        return (
            "Table 1 (fine-tuning): no row has a fine-tuning result yet; table1.md lists the paper's "
            "numbers for every row\n"
        )
    titles = " | ".join(f"{TASK_TITLES[task]} | paper | Δ" for task in TABLE_TASKS)
    header = f"| k | w | {titles} |\n|" + "---:|" * (2 + 3 * len(TABLE_TASKS))
    lines = [
        "# Table 1: ablation of the sampling policy (k, w)",
        "",
        "Top-1 accuracy (%), video level. Ours beside the paper's number; Δ = ours − paper. "
        "ESC50: mean ± standard error over fine-tuning seeds. "
        f"{MISSING_MD} = not run yet.",
    ]
    left_out = sum(not has_result(t) for t in table) if results_only else 0
    if left_out:
        lines[-1] += (
            f" The {left_out} rows without a result of ours are left out here; table1.md has them all."
        )
    for dataset, title in SECTION_TITLES.items():
        rows = [t for t in table if t.row.dataset == dataset and (has_result(t) or not results_only)]
        lines += [
            "",
            f"## Pretraining dataset: {title}",
            "",
            header if rows else "No fine-tuning result yet.",
        ]
        for t in rows:
            cells = [str(t.row.k), t.row.w_label]
            for task in TABLE_TASKS:
                cells += _markdown_cells(task, t.tasks[task])
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv_num(value: float | None) -> str:
    return "" if value is None else repr(round(value, 4))


def _csv_values(task: str, c: Comparison) -> list[object]:
    """The values of ``_task_columns(task)``, in that order."""
    ours = c.ours
    mean, n = (None, "") if ours is None else (ours.mean, ours.n)
    if task == SEED_TASK:
        stderr = None if ours is None else ours.stderr
        return [
            _csv_num(mean),
            _csv_num(stderr),
            n,
            _csv_num(c.paper_mean),
            _csv_num(c.paper_stderr),
            _csv_num(c.diff),
        ]
    return [_csv_num(mean), n, _csv_num(c.paper_mean), _csv_num(c.diff)]


def render_csv(table: Sequence[TableRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in table:
        record: list[object] = [t.row.name, t.row.dataset, t.row.k, "" if t.row.k == 1 else t.row.w_label]
        for task in TABLE_TASKS:
            record += _csv_values(task, t.tasks[task])
        writer.writerow(record)
    return buffer.getvalue()
