"""``tvssl ablation synth <section>``: one section of the smoke profile's synthetic data, as a sweep step.

The synthesis is the first stage of ``make demo`` and of the smoke table, and the longest before any training.
Run as the other steps are (``tvssl.step_process.run_step``), it is one console line with a bar of titles (or
downstream sets) like theirs, and what `tvssl synth` says for a user running it by hand (its timings, the command
to run next) goes to ``SMOKE_DATA/synth_<section>.console.log``. The work is that command, unchanged: make keeps
the world's settings and passes them after ``--``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tvssl.errors import UserError
from tvssl.step_process import CONSOLE_LOG, run_step

SECTIONS = ("movie", "tv", "downstream")
"""The folders of a smoke data folder that `tvssl synth` writes: the two Table 1 sections and the three
downstream sets (one folder holding UCF101, HMDB51 and ESC-50)."""


def synth_command(out: Path, synth_args: Sequence[str]) -> list[str]:
    """`tvssl synth OUT ARGS` in a child process, as a user would run it."""
    return [sys.executable, "-m", "tvssl.cli", "synth", str(out), *synth_args]


def synth_section(profile: str, smoke_data: Path, section: str, synth_args: Sequence[str]) -> int:
    """Write ``smoke_data/section`` with `tvssl synth` (``synth_args``: everything but the folder)."""
    if profile != "smoke":
        raise UserError(
            "tvssl ablation synth writes the smoke profile's data; PROFILE=paper reads your datasets "
            "(MOVIE_ROOT, TV_ROOT, UCF101_ROOT, HMDB51_ROOT, ESC50_ROOT)"
        )
    log = smoke_data / f"synth_{section}.{CONSOLE_LOG}"
    return run_step(f"synth {section}", synth_command(smoke_data / section, synth_args), log)
