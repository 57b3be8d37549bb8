"""Long-form corpora: many titles planned and encoded, optionally in parallel processes.

Each title's plan depends only on its own key, so the output does not depend on how many workers encode it
or in which order they finish; workers are spawned (not forked) so the encoders start from a clean state.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from data_modules.synthetic.plans import plan_corpus
from data_modules.synthetic.world import TitlePlan
from data_modules.synthetic.writer import check_frame_size, write_title


def _write_task(args: tuple[Path, TitlePlan, dict[str, Any]]) -> str:
    """One title in a worker process (a module-level function, so it pickles under spawn)."""
    path, plan, kwargs = args
    return str(write_title(path, plan, **kwargs))


def synthesize_corpus(
    out: str | os.PathLike,
    kind: str = "movie",
    titles: int = 4,
    minutes: float = 1.0,
    seed: int = 0,
    width: int = 160,
    height: int = 96,
    fps: int = 16,
    sample_rate: int = 16000,
    episodes_per_show: int = 3,
    gop_seconds: float = 2.0,
    workers: int = 1,
    productions: bool = False,
    on_written: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write a long-form corpus: movies ``out/movie_000.mp4`` or TV ``out/Show01/S01E01.mp4``.

    TV writes ``titles`` shows of ``episodes_per_show`` episodes, each ``minutes`` long; the episodes of a
    show share characters and scene styles (and, with ``productions``, a production: ``plans.plan_corpus``).
    ``workers`` > 1 encodes titles in parallel processes; the output does not depend on it. Returns the paths
    in plan order.
    """
    check_frame_size(width, height)
    if fps < 1 or sample_rate < 8000:
        raise ValueError(
            f"fps must be >= 1 and sample_rate >= 8000, got fps={fps}, sample_rate={sample_rate}"
        )
    if not gop_seconds > 0:
        raise ValueError(f"gop_seconds must be > 0, got {gop_seconds}")
    root = Path(out)
    plans = plan_corpus(kind, titles, minutes, seed, episodes_per_show, productions)
    kwargs = {
        "width": width,
        "height": height,
        "fps": fps,
        "sample_rate": sample_rate,
        "gop_seconds": gop_seconds,
    }
    tasks = [(root / f"{plan.name}.mp4", plan, kwargs) for plan in plans]
    paths: list[Path] = []
    if workers <= 1 or len(tasks) == 1:
        for task in tasks:
            paths.append(Path(_write_task(task)))
            if on_written:
                on_written(paths[-1])
        return paths
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
        for written in pool.map(_write_task, tasks):
            paths.append(Path(written))
            if on_written:
                on_written(paths[-1])
    return paths
