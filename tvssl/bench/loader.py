"""The loader bench: clips/s of the training DataLoader of a pretraining config at several worker counts.

The datamodule is built by the training command line's own parser (``tvssl.lightning_cli.TVSSLCLI``: config
bases, ``--data.KEY VALUE`` and every other LightningCLI override, types, defaults and checks), so the bench
measures exactly the loader ``tvssl fit`` would run; only the worker count, non-persistent workers and an epoch
just long enough for the timed batches are set on top. The model and the trainer are not built (the loader
needs neither), so no run directory is made. Each run is preceded by a measurement of how much parallelism
the machine gives right now, the ceiling its speed-up is judged against.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.cli import LightningArgumentParser

from tvssl.bench import config_layers, echo, load_average
from tvssl.lightning_cli import TVSSLCLI, unrun

DEFAULT_BATCHES = 20
DEFAULT_WARMUP = 3


class _DataOnlyCLI(TVSSLCLI):
    """``tvssl fit``'s command line, parsed in full, of which only the datamodule is instantiated.

    The model section may be left out (a config for the loader alone is enough); when it is there it is
    parsed and checked like any other, but not built: constructing a network is not part of loading data.
    """

    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.add_lightning_class_args(self._model_class, "model", subclass_mode=True, required=False)
        parser.add_lightning_class_args(self._datamodule_class, "data", subclass_mode=True)

    def instantiate_classes(self) -> None:
        config = self.config.clone()
        config.model = None
        self.config_init = self.parser.instantiate_classes(config)
        self.datamodule = self._get(self.config_init, "data")
        self.model = None


@dataclass(frozen=True)
class LoaderSetup:
    """A datamodule as ``tvssl fit`` would build it from the same arguments, and the resolved sections."""

    datamodule: pl.LightningDataModule
    data: dict[str, Any]
    """``class_path`` and ``init_args`` (every argument, defaults included) of the datamodule."""
    trainer: dict[str, Any]
    """The trainer's settings, parsed but not used: the loader runs without a trainer."""

    @property
    def init_args(self) -> dict[str, Any]:
        return dict(self.data.get("init_args") or {})


def loader_setup(args: Sequence[str]) -> LoaderSetup:
    """Parse training arguments (``--config FILE`` with bases, overrides) as ``tvssl fit`` does; build the data.

    Raises ``UserError`` for what the datamodule refuses, as ``tvssl fit`` would (``TVSSLCLI``).
    """
    cli = unrun(args, _DataOnlyCLI)
    config = cli.config.as_dict()
    return LoaderSetup(cli.datamodule, dict(config.get("data") or {}), dict(config.get("trainer") or {}))


@dataclass
class LoaderRun:
    """One timed run of the loader at one worker count."""

    workers: int
    clips: int
    wall: float
    cpu: float = math.nan
    """CPU seconds of the main process and the workers during the timed batches."""
    machine: float = math.nan
    """What this many busy processes got done relative to one, measured just before (1.0 = no parallelism)."""

    @property
    def clips_per_cpu_s(self) -> float:
        return self.clips / self.cpu if self.cpu > 0 else math.nan

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.wall


def time_loader(args: Sequence[str], workers: int, batches: int, warmup: int, batch_size: int) -> LoaderRun:
    """Clips/s of the training DataLoader after ``warmup`` batches (worker start-up is not timed).

    ``args`` are the training arguments; the worker count, non-persistent workers and an epoch of exactly
    ``warmup + batches`` batches of ``batch_size`` are appended, so they win over the config.
    """
    setup = loader_setup(
        [
            *args,
            f"--data.num_workers={workers}",
            "--data.persistent_workers=false",
            f"--data.clips_per_epoch={batch_size * (warmup + batches)}",
        ]
    )
    dm = setup.datamodule
    dm.prepare_data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    iterator = iter(loader)
    try:
        for _ in range(warmup):
            next(iterator)
        # The worker processes of torch's multi-process iterator (a private attribute: NaN if it moves).
        pids = [p.pid for p in getattr(iterator, "_workers", [])]
        cpu = _cpu_seconds(pids) if len(pids) == workers else math.nan
        start = time.perf_counter()
        clips = sum(int(next(iterator)["video"].shape[0]) for _ in range(batches))
        wall = time.perf_counter() - start
        cpu = _cpu_seconds(pids) - cpu
    finally:
        del iterator
    return LoaderRun(workers, clips, wall, cpu=cpu)


def _cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds used so far by this process and the given worker processes (Linux /proc; NaN elsewhere)."""
    total = time.process_time()
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _spin(seconds: float) -> int:
    end = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < end:
        count += 1
    return count


def machine_scaling(processes: int, seconds: float = 1.0) -> float:
    """Work ``processes`` busy processes get done at once relative to one process, right now.

    On a shared machine this is the ceiling for the speed-up of that many workers, so the loader's scaling can be
    judged against what the CPUs allowed during the run rather than against the number of cores.
    """
    if processes <= 1:
        return 1.0
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        alone = pool.map(_spin, [seconds])[0]
        together = sum(pool.map(_spin, [seconds] * processes, chunksize=1))
    return together / alone if alone else math.nan


def bench_loader(
    args: Sequence[str],
    workers: Sequence[int],
    batches: int = DEFAULT_BATCHES,
    warmup: int = DEFAULT_WARMUP,
    rounds: int = 1,
    calibrate_seconds: float = 1.0,
    on_run: Callable[[LoaderRun], None] | None = None,
) -> dict[int, list[LoaderRun]]:
    """Every worker count once per round, interleaved; the epoch is sized to warm-up + timed batches.

    ``args`` are training arguments (``--config FILE`` and overrides, as for ``tvssl fit``). Each run is
    preceded by ``machine_scaling`` for its worker count (skipped when ``calibrate_seconds`` is 0).
    """
    if batches < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"need batches >= 1, warmup >= 0, rounds >= 1; got {batches}, {warmup}, {rounds}")
    if any(n < 0 for n in workers):
        raise ValueError(f"worker counts must be >= 0, got {list(workers)}")
    batch_size = int(loader_setup(args).init_args["batch_size"])
    runs: dict[int, list[LoaderRun]] = {n: [] for n in workers}
    for _ in range(rounds):
        for n in workers:
            machine = machine_scaling(max(1, n), calibrate_seconds) if calibrate_seconds > 0 else math.nan
            run = time_loader(args, n, batches, warmup, batch_size)
            run.machine = machine
            runs[n].append(run)
            if on_run is not None:
                on_run(run)
    return runs


def loader_table(runs: dict[int, list[LoaderRun]]) -> str:
    """Clips/s per worker count, the speed-up over the first count, and the machine's own ceiling."""
    base_workers = next(iter(runs))
    base = statistics.median(r.clips_per_s for r in runs[base_workers])
    base_machine = statistics.median(r.machine for r in runs[base_workers])
    header = (
        f"{'workers':>8}{'clips/s':>10}{f'vs {base_workers} worker(s)':>18}{'machine ceiling':>17}"
        f"{'of ceiling':>12}{'clips/cpu-s':>13}   runs (clips/s)"
    )
    lines = [header, "-" * (len(header) + 12)]
    for n, rs in runs.items():
        median = statistics.median(r.clips_per_s for r in rs)
        ceiling = statistics.median(r.machine for r in rs) / base_machine
        per_cpu = statistics.median(r.clips_per_cpu_s for r in rs)
        each = " ".join(f"{r.clips_per_s:.1f}" for r in rs)
        lines.append(
            f"{n:>8}{median:>10.2f}{median / base:>17.2f}x{ceiling:>16.2f}x{median / base / ceiling:>11.0%}"
            f"{per_cpu:>13.2f}   {each}"
        )
    lines.append("")
    lines.append(
        "(machine ceiling: work that many busy processes got done at once relative to the first row's count, "
        "measured just before each run; on a shared machine it bounds the speed-up. clips/cpu-s: clips per CPU "
        "second of the main process and its workers in the timed batches; equal across rows means the workers "
        "do not get in each other's way)"
    )
    return "\n".join(lines)


def run_loader_bench(
    config: Path | Sequence[Path],
    overrides: Sequence[str],
    workers: Sequence[int],
    *,
    batches: int = DEFAULT_BATCHES,
    warmup: int = DEFAULT_WARMUP,
    rounds: int = 1,
    calibrate_seconds: float = 1.0,
    say: Callable[[str], None] = echo,
) -> dict[int, list[LoaderRun]]:
    """``tvssl bench loader``: what the config resolves to, each run's clips/s, then the table.

    ``config`` is one YAML or several layered in order (``--config A --config B`` of ``tvssl fit``);
    ``overrides`` are LightningCLI arguments applied after them (``--data.root /x``,
    ``--data.init_args.batch_size=16``), exactly as ``tvssl fit --config CONFIG OVERRIDES`` takes them.
    """
    config_args, configs = config_layers(config)
    args = [*config_args, *overrides]
    setup = loader_setup(args)
    init = setup.init_args
    say(
        f"tvssl bench loader: {configs} -> {setup.data.get('class_path')}, "
        f"batch_size={init.get('batch_size')}, k={init.get('k')}, w={init.get('w')}, "
        f"short_side={init.get('short_side')}; {warmup} warm-up + {batches} timed batches per run, "
        f"{rounds} round(s); epoch sized to those batches"
    )
    say(f"before: {load_average()}")
    runs = bench_loader(
        args,
        workers,
        batches=batches,
        warmup=warmup,
        rounds=rounds,
        calibrate_seconds=calibrate_seconds,
        on_run=lambda run: say(
            f"  {run.workers} worker(s): {run.clips_per_s:.2f} clips/s "
            f"(machine: {run.machine:.2f}x the work of one busy process)"
        ),
    )
    say(f"after: {load_average()}")
    say("")
    say(loader_table(runs))
    return runs
