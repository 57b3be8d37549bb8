"""How fast clips come out of the data pipeline, measured against the alternatives in one run.

In video self-supervision the accelerator mostly waits for the decoder, and on long titles the cost of a random
clip is the pre-roll (every frame from the previous keyframe is decoded and thrown away) plus opening the
container. ``tvssl.bench.decode`` times the readers of ``tvssl.bench.readers`` interleaved in rounds on the
same clips (chosen in ``tvssl.bench.clips`` by the training sampler); ``tvssl.bench.loader`` times the real
DataLoader of a pretraining config, built by the training command line's own parser, at several worker
counts. Ratios are measured inside one run, never asserted in tests: timings depend on the machine, ratios
much less.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def echo(text: str) -> None:
    """Where the bench's progress and tables go by default: stdout, flushed (runs take minutes)."""
    print(text, flush=True)


def load_average() -> str:
    """The machine's load, printed before and after a run: a busy neighbour explains a slow figure."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def config_layers(config: Path | Sequence[Path]) -> tuple[list[str], str]:
    """The ``--config`` arguments of one YAML or several layered in order (``--config A --config B`` of
    ``tvssl fit``), and how a bench's header names them (``A + B``)."""
    configs = [config] if isinstance(config, (str, Path)) else list(config)
    return [f"--config={c}" for c in configs], " + ".join(map(str, configs))
