"""What a results tree holds: the scan of RESULTS/<row>/..., read while a sweep may still be writing it.

Anything missing is left out (never read as zero) and anything unexpected becomes a warning, not an error: a
report of an unfinished sweep is the normal case. The folder names are ``tvssl.run_names``'s.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tvssl.pretrain_results import read_twin
from tvssl.rows import RANDOM_INIT, ROWS_BY_NAME, Row
from tvssl.run_names import (
    FINETUNE_RESULT,
    LOSS_LOG,
    PRETRAIN,
    SPLIT_TASKS,
    parse_probe_name,
    parse_run_name,
    run_name_patterns,
)

LOSS_COLUMNS = ("train/loss", "train/loss_step")
HELD_OUT_COLUMNS = (
    "val/title_found_v2a",
    "val/title_found_a2v",
    "val/clip_in_title_v2a",
    "val/clip_in_title_a2v",
    "val/clips",
)
"""Pretraining's last validation on its held-out titles (``ContrastiveAVModule.on_validation_epoch_end``)."""


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
    held_out: dict[str, float] = field(default_factory=dict)
    """The last logged value of each of ``HELD_OUT_COLUMNS`` the pretraining log has."""
    same_batches_as: str | None = None
    """The row whose training this row's pretrain folder holds, not trained itself (``tvssl.same_batches``)."""
    splits: dict[str, dict[int, float]] = field(default_factory=lambda: {task: {} for task in SPLIT_TASKS})
    """Per split task (hmdb51, ucf101): top-1 by split."""
    esc50: dict[tuple[int, int], float] = field(default_factory=dict)
    """Top-1 by (fold, seed)."""

    @property
    def twin_note(self) -> str:
        """Said beside the row's name in the report's tables when the row shares another row's training."""
        twin = self.same_batches_as
        return "" if twin is None else f" *(= {twin}: the same batches, trained once)*"

    def is_empty(self) -> bool:
        return self.loss is None and not (any(self.splits.values()) or self.esc50)


@dataclass
class Results:
    rows: dict[str, RowResults]
    warnings: list[str] = field(default_factory=list)


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


def read_last_values(path: Path, columns: Iterable[str]) -> dict[str, float]:
    """The last finite value logged in each of ``columns`` of a CSVLogger file (columns never logged are left
    out, as are cells that are not numbers)."""
    last: dict[str, float] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            for column in columns:
                try:
                    value = float((record.get(column) or "").strip())
                except ValueError:
                    continue
                if math.isfinite(value):
                    last[column] = value
    return last


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
        if entry.name == RANDOM_INIT:
            continue  # the probe's baseline: read by report.probes
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
        run = parse_run_name(entry.name)
        if parse_probe_name(entry.name) is not None:
            continue  # read by report.probes
        if entry.name == PRETRAIN:
            found.same_batches_as = read_twin(entry)
            found.loss = _collect_loss(entry / LOSS_LOG, warnings)
            if found.loss is not None:
                found.held_out = read_last_values(entry / LOSS_LOG, HELD_OUT_COLUMNS)
        elif run is not None:
            metrics = entry / FINETUNE_RESULT
            if not metrics.is_file():
                warnings.append(
                    f"{entry}: no {FINETUNE_RESULT} yet (run unfinished or failed); shown as missing"
                )
                continue
            try:
                top1 = read_top1(metrics, run.task, run.recorded())
            except ValueError as error:
                warnings.append(f"{error}; shown as missing")
                continue
            if run.task in SPLIT_TASKS:
                found.splits[run.task][run.partition] = top1
            else:
                found.esc50[run.partition, run.seed or 0] = top1
        else:
            *names, last = run_name_patterns()
            warnings.append(
                f"{entry}: unknown run directory (expected {', '.join(names)} or {last}); ignored"
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
