"""How far a sweep step has got: its child process reports, the step's console line shows it as a bar.

The child (a `tvssl fit` or `tvssl probe` started by ``step_process.run_step``) finds a file named in ``TVSSL_PROGRESS``
and rewrites it, atomically, with "done total unit"; the parent polls that file and redraws its one console line.
A file rather than the child's own output, because that output goes to the step's log: the console stays one
line per step whatever the child prints. The bar is redrawn in place only on a terminal and only when no other
step can be writing to the same terminal (``make -j1``); otherwise each step prints one line when it starts and
one, with the final bar, when it ends.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from data_modules.atomic_write import write_atomic

PROGRESS_ENV = "TVSSL_PROGRESS"
BAR_WIDTH = 24
REPORT_EVERY_S = 0.5


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[#######.......]``: the share ``done / total`` as a bar of ``width`` cells (empty when total is 0)."""
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def read_progress(path: Path) -> tuple[int, int, str] | None:
    """The last report in ``path``, or None before the first (or if the file is not a report)."""
    try:
        done, total, unit = path.read_text().split()
        return int(done), int(total), unit
    except (OSError, ValueError):
        return None


class Reporter:
    """Writes this process's progress to the file the parent named; a no-op when there is none.

    Reports are throttled to one per ``REPORT_EVERY_S`` except the last (done == total), which always goes out.
    """

    def __init__(self, unit: str, path: str | None = None) -> None:
        where = path if path is not None else os.environ.get(PROGRESS_ENV)
        self.path = Path(where) if where else None
        self.unit = unit
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if done < total and now - self._last < REPORT_EVERY_S:
            return
        self._last = now
        write_atomic(self.path, f"{done} {total} {self.unit}\n")


def parallel_make() -> bool:
    """True under ``make -jN`` with N > 1 (GNU make then hands its children a jobserver)."""
    return "jobserver" in os.environ.get("MAKEFLAGS", "")


def live_console() -> bool:
    """Redraw the step's line in place: only on a terminal that this step has to itself."""
    return sys.stdout.isatty() and not parallel_make()


def status_line(what: str, progress: tuple[int, int, str] | None, seconds: float) -> str:
    """``tvssl ablation: pretrain movie_k1 [######......] 120/300 steps 41 s``."""
    if progress is None:
        return f"tvssl ablation: {what} {bar(0, 0)} {seconds:.0f} s"
    done, total, unit = progress
    return f"tvssl ablation: {what} {bar(done, total)} {done}/{total} {unit} {seconds:.0f} s"
