"""What the split readers of the downstream sets return, and the error they raise for a broken layout.

UCF101, HMDB51 and ESC-50 each ship official split files in their own format (``data_modules.ucf101``,
``hmdb51``, ``esc50`` read them); all three readers produce the same ``SplitSamples``, so everything after
parsing is shared. A reader collects every problem of a layout before it raises, so that one run lists all the
lines to fix rather than the first one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_LISTED_PROBLEMS = 20
"""Problems spelled out in a ``LayoutError`` message; the rest are counted (a wrong root breaks every line)."""


@dataclass(frozen=True)
class Sample:
    """One file of a split: where it is, its 0-based class and a stable id (used in logs and predictions)."""

    path: Path
    label: int
    video_id: str


@dataclass(frozen=True)
class SplitSamples:
    """The train and test files of one official split/fold, and the class names indexed by label."""

    train: list[Sample]
    test: list[Sample]
    classes: list[str]


class LayoutError(ValueError):
    """The official files of a dataset are missing or malformed; ``problems`` are ``file:line: what`` strings."""

    def __init__(self, dataset: str, root: Path, problems: Sequence[str], hint: str = "") -> None:
        self.dataset = dataset
        self.root = root
        self.problems = list(problems)
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        lines = [f"{dataset} under {root}: {len(self.problems)} problem(s) in the official layout:"]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; official lists mix CRLF and trailing blanks."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if text:
                yield number, text
