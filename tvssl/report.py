"""Rebuild the paper's Table 1 and Figure 1 from a results tree, with the paper's numbers beside ours.

Input layout (see the contract): `RESULTS/<row>/pretrain/metrics.csv` (Lightning CSVLogger) and
`RESULTS/<row>/{ucf101,hmdb51}_split<s>/metrics.json`, `RESULTS/<row>/esc50_fold<f>_seed<n>/metrics.json`.
A sweep is read while it is still running, so anything missing is shown as missing (never as zero) and anything
unexpected becomes a warning rather than an error.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tvssl.errors import UserError
from tvssl.figure1 import ema, figure1_panels, figure1_tv_panels, plot_loss_figure
from tvssl.rows import ROWS, ROWS_BY_NAME, Row, load_reference

__all__ = ["CSV_COLUMNS", "Report", "Results", "collect_results", "ema", "read_loss_curve", "write_report"]

LOSS_COLUMNS = ("train/loss", "train/loss_step")
SPLIT_DATASETS = ("hmdb51", "ucf101")
MISSING_MD = "—"
TABLE_MD = "table1.md"
TABLE_CSV = "table1.csv"
FIGURE = "figure1.png"
FIGURE_TV = "figure1_tv.png"
CSV_COLUMNS = (
    "row",
    "dataset",
    "k",
    "w",
    "hmdb51",
    "hmdb51_n",
    "hmdb51_paper",
    "hmdb51_diff",
    "esc50_mean",
    "esc50_stderr",
    "esc50_n",
    "esc50_paper_mean",
    "esc50_paper_stderr",
    "esc50_diff",
    "ucf101",
    "ucf101_n",
    "ucf101_paper",
    "ucf101_diff",
)
SECTION_TITLES = {"movie": "Movie", "tv": "TV"}

_SPLIT_DIR = re.compile(r"(?P<dataset>hmdb51|ucf101)_split(?P<split>[0-9]+)")
_ESC_DIR = re.compile(r"esc50_fold(?P<fold>[0-9]+)_seed(?P<seed>[0-9]+)")


@dataclass(frozen=True)
class LossCurve:
    """Self-supervised training loss per logged optimizer step, sorted by step."""

    steps: np.ndarray
    losses: np.ndarray


@dataclass
class RowResults:
    """Everything found for one table row; each fine-tune value is video-level top-1 in percent."""

    row: Row
    loss: LossCurve | None = None
    hmdb51: dict[int, float] = field(default_factory=dict)
    ucf101: dict[int, float] = field(default_factory=dict)
    esc50: dict[tuple[int, int], float] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return self.loss is None and not (self.hmdb51 or self.ucf101 or self.esc50)


@dataclass
class Results:
    rows: dict[str, RowResults]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stat:
    """A mean over n runs; stderr (sample std / sqrt(n)) only when there are several runs to spread."""

    mean: float
    n: int
    stderr: float | None = None


@dataclass(frozen=True)
class TableRow:
    row: Row
    paper: dict[str, float]
    hmdb51: Stat | None
    esc50: Stat | None
    esc50_folds: int
    ucf101: Stat | None


@dataclass(frozen=True)
class Report:
    markdown: str
    written: list[Path]
    removed: list[Path]
    warnings: list[str]


def read_loss_curve(path: Path) -> LossCurve:
    """Read the training loss from a CSVLogger file, skipping the rows where Lightning logged other metrics."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        loss_column = next((name for name in LOSS_COLUMNS if name in columns), None)
        if "step" not in columns or loss_column is None:
            raise ValueError(
                f"{path}: needs a 'step' column and one of {list(LOSS_COLUMNS)}; found columns {columns}"
            )
        by_step: dict[int, float] = {}
        for record in reader:
            step_text = (record.get("step") or "").strip()
            loss_text = (record.get(loss_column) or "").strip()
            if not step_text or not loss_text:
                continue
            try:
                step, loss = int(float(step_text)), float(loss_text)
            except ValueError as error:
                raise ValueError(f"{path} line {reader.line_num}: not a number ({error})") from error
            if math.isfinite(loss):
                by_step[step] = loss
    steps = np.array(sorted(by_step), dtype=np.int64)
    return LossCurve(steps, np.array([by_step[int(s)] for s in steps], dtype=np.float64))


def read_top1(path: Path, dataset: str, expected: dict[str, int]) -> float:
    """Video-level top-1 (%) of one fine-tuning run, checked against the directory it was found in."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'video_top1'")
    if data.get("dataset") not in (None, dataset):
        raise ValueError(f"{path}: says dataset {data['dataset']!r} but lies in a {dataset} directory")
    for key, value in expected.items():
        if data.get(key) is not None and data[key] != value:
            raise ValueError(f"{path}: says {key} {data[key]!r} but its directory says {key} {value}")
    top1 = data.get("video_top1")
    if isinstance(top1, bool) or not isinstance(top1, (int, float)) or not math.isfinite(top1):
        raise ValueError(f"{path}: 'video_top1' must be a finite number (percent), got {top1!r}")
    return float(top1)


def collect_results(results_dir: Path, ignore: Iterable[Path] = ()) -> Results:
    """Scan RESULTS for the rows of Table 1; unknown or broken entries become warnings."""
    results_dir = Path(results_dir)
    ignored = {Path(p).resolve() for p in ignore}
    results = Results(rows={})
    for entry in sorted(results_dir.iterdir()):
        if not entry.is_dir() or entry.name.startswith(".") or entry.resolve() in ignored:
            continue
        row = ROWS_BY_NAME.get(entry.name)
        if row is None:
            results.warnings.append(
                f"{entry}: not a Table 1 row directory (names like movie_k1, movie_k16_Mn, tv_k8_w128); ignored"
            )
            continue
        found = _collect_row(row, entry, results.warnings)
        if not found.is_empty():
            results.rows[row.name] = found
    return results


def _collect_row(row: Row, row_dir: Path, warnings: list[str]) -> RowResults:
    found = RowResults(row)
    for entry in sorted(row_dir.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        split_match, esc_match = _SPLIT_DIR.fullmatch(entry.name), _ESC_DIR.fullmatch(entry.name)
        if entry.name == "pretrain":
            found.loss = _collect_loss(entry / "metrics.csv", warnings)
        elif split_match or esc_match:
            metrics = entry / "metrics.json"
            if not metrics.is_file():
                warnings.append(f"{entry}: no metrics.json yet (run unfinished or failed); shown as missing")
                continue
            try:
                if split_match:
                    dataset, split = split_match["dataset"], int(split_match["split"])
                    getattr(found, dataset)[split] = read_top1(metrics, dataset, {"split": split})
                else:
                    fold, seed = int(esc_match["fold"]), int(esc_match["seed"])
                    found.esc50[fold, seed] = read_top1(metrics, "esc50", {"fold": fold, "seed": seed})
            except ValueError as error:
                warnings.append(f"{error}; shown as missing")
        else:
            warnings.append(
                f"{entry}: unknown run directory (expected pretrain, hmdb51_split<s>, ucf101_split<s> "
                "or esc50_fold<f>_seed<n>); ignored"
            )
    return found


def _collect_loss(path: Path, warnings: list[str]) -> LossCurve | None:
    if not path.is_file():
        warnings.append(f"{path}: missing; no training-loss curve for this row")
        return None
    try:
        curve = read_loss_curve(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        warnings.append(f"{error}; no training-loss curve for this row")
        return None
    if len(curve.steps) == 0:
        warnings.append(f"{path}: no training-loss values logged yet")
        return None
    return curve


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
    table = []
    for row in ROWS:
        found = results.rows.get(row.name, RowResults(row))
        esc, folds = esc50_stat(found.esc50, results.warnings, row.name)
        table.append(
            TableRow(row, reference[row.name], split_stat(found.hmdb51), esc, folds, split_stat(found.ucf101))
        )
    return table


def _num(value: float) -> str:
    return f"{value:.2f}"


def _diff(ours: Stat | None, paper: float) -> str:
    return MISSING_MD if ours is None else f"{ours.mean - paper:+.2f}"


def _split_cell(stat: Stat | None) -> str:
    if stat is None:
        return MISSING_MD
    return _num(stat.mean) + (f" ({stat.n} splits)" if stat.n > 1 else "")


def _esc_cell(stat: Stat | None, folds: int) -> str:
    if stat is None:
        return MISSING_MD
    text = _num(stat.mean) if stat.stderr is None else f"{_num(stat.mean)} ± {_num(stat.stderr)}"
    runs = f"{stat.n} seed" + ("s" if stat.n > 1 else "")
    if folds > 1:
        runs += f" × {folds} folds"
    return f"{text} ({runs})"


def render_markdown(table: Sequence[TableRow]) -> str:
    header = (
        "| k | w | HMDB51 | paper | Δ | ESC50 | paper | Δ | UCF101 | paper | Δ |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        "# Table 1: ablation of the sampling policy (k, w)",
        "",
        "Top-1 accuracy (%), video level. Ours beside the paper's number; Δ = ours − paper. "
        "ESC50: mean ± standard error over fine-tuning seeds. "
        f"{MISSING_MD} = not run yet.",
    ]
    for dataset, title in SECTION_TITLES.items():
        lines += ["", f"## Pretraining dataset: {title}", "", header]
        for t in (t for t in table if t.row.dataset == dataset):
            paper = t.paper
            cells = [
                str(t.row.k),
                t.row.w_label,
                _split_cell(t.hmdb51),
                _num(paper["hmdb51"]),
                _diff(t.hmdb51, paper["hmdb51"]),
                _esc_cell(t.esc50, t.esc50_folds),
                f"{_num(paper['esc50_mean'])} ± {_num(paper['esc50_stderr'])}",
                _diff(t.esc50, paper["esc50_mean"]),
                _split_cell(t.ucf101),
                _num(paper["ucf101"]),
                _diff(t.ucf101, paper["ucf101"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv_num(value: float | None) -> str:
    return "" if value is None else repr(round(value, 4))


def render_csv(table: Sequence[TableRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for t in table:
        paper = t.paper
        record = {
            "row": t.row.name,
            "dataset": t.row.dataset,
            "k": t.row.k,
            "w": "" if t.row.k == 1 else t.row.w_label,
            "esc50_paper_mean": _csv_num(paper["esc50_mean"]),
            "esc50_paper_stderr": _csv_num(paper["esc50_stderr"]),
        }
        for dataset in SPLIT_DATASETS:
            stat: Stat | None = getattr(t, dataset)
            record[f"{dataset}_paper"] = _csv_num(paper[dataset])
            if stat is not None:
                record[dataset] = _csv_num(stat.mean)
                record[f"{dataset}_n"] = stat.n
                record[f"{dataset}_diff"] = _csv_num(stat.mean - paper[dataset])
        esc = t.esc50
        if esc is not None:
            record["esc50_mean"] = _csv_num(esc.mean)
            record["esc50_stderr"] = _csv_num(esc.stderr)
            record["esc50_n"] = esc.n
            record["esc50_diff"] = _csv_num(esc.mean - paper["esc50_mean"])
        writer.writerow(record)
    return buffer.getvalue()


def write_report(results_dir: Path, out_dir: Path, smooth: float = 0.9) -> Report:
    """Write table1.md, table1.csv and figure1.png (plus figure1_tv.png when TV curves exist) into out_dir.

    Only these derived files are touched; anything else in out_dir is left alone. A results tree with no result
    of any row is refused (UserError) and nothing is written: an all-missing table says nothing but "wrong folder".
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smoothing factor must be in [0, 1), got {smooth}")
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results directory {results_dir} does not exist or is not a directory")
    results = collect_results(results_dir, ignore=[out_dir])
    if not results.rows:
        raise UserError(
            f"no results found under {results_dir} (expected <row>/pretrain/metrics.csv or "
            "<row>/<task>/metrics.json, e.g. movie_k16_Mn/ucf101_split1/metrics.json); nothing written"
        )
    table = build_table(results, load_reference())
    markdown = render_markdown(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, removed = [out_dir / TABLE_MD, out_dir / TABLE_CSV, out_dir / FIGURE], []
    written[0].write_text(markdown, encoding="utf-8")
    written[1].write_text(render_csv(table), encoding="utf-8")
    plot_loss_figure(results, figure1_panels(), written[2], smooth, "Self-supervised training loss, Movie")
    tv_curves = any(r.row.dataset == "tv" and r.loss is not None for r in results.rows.values())
    tv_figure = out_dir / FIGURE_TV
    if tv_curves:
        plot_loss_figure(results, figure1_tv_panels(), tv_figure, smooth, "Self-supervised training loss, TV")
        written.append(tv_figure)
    elif tv_figure.is_file():
        tv_figure.unlink()
        removed.append(tv_figure)
    return Report(markdown, written, removed, results.warnings)
