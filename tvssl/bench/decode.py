"""The decode bench: readers timed in interleaved rounds on the same clips, and the table of their ratios.

Each round draws fresh groups with the training sampler, then runs per-clip, grouped, sequential (and
torchcodec) on them one after another, so slow drift of the machine's load hits all readers alike; results are
medians over rounds and ratios are medians of per-round ratios. ``run_decode_bench`` is the whole of
``tvssl bench decode`` after argument parsing.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_modules.decoding import ClipSpec, DecodeStats, read_windows
from tvssl.bench import echo, load_average
from tvssl.bench.clips import Group, Title, load_titles, plan_groups, sequential_span
from tvssl.bench.copies import Agreement, agreement, copy_columns, copy_reader
from tvssl.bench.readers import Reader, read_forward, read_grouped, read_per_clip, torchcodec_reader

PER_CLIP = "per-clip"
GROUPED = "grouped"
SEQUENTIAL = "sequential"
TORCHCODEC = "torchcodec"


@dataclass
class Measure:
    """One reader in one round: clips delivered, wall and CPU seconds, and the decoder's work."""

    clips: int
    wall: float
    cpu: float
    stats: DecodeStats

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.wall if self.wall > 0 else math.inf

    @property
    def clips_per_cpu_s(self) -> float:
        return self.clips / self.cpu if self.cpu > 0 else math.inf


@dataclass
class DecodeBench:
    """Every round's measures per reader, and why an optional reader is missing."""

    spec: ClipSpec
    k: int
    w: int | str
    clips: int
    rounds: list[dict[str, Measure]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    copies: list[str] = field(default_factory=list)
    agreement: dict[str, Agreement] = field(default_factory=dict)

    @property
    def readers(self) -> list[str]:
        return list(self.rounds[0]) if self.rounds else []

    def median(self, reader: str, value: Callable[[Measure], float]) -> float:
        return statistics.median(value(r[reader]) for r in self.rounds)

    def ratio(self, top: str, bottom: str) -> float:
        """Median over rounds of the per-round ratio of clips/s: paired, so slow drift of the load cancels."""
        return statistics.median(r[top].clips_per_s / r[bottom].clips_per_s for r in self.rounds)

    def totals(self, reader: str) -> DecodeStats:
        total = DecodeStats()
        for r in self.rounds:
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(r[reader].stats, name))
        return total

    def clips_total(self, reader: str) -> int:
        return sum(r[reader].clips for r in self.rounds)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "k": self.k,
            "w": self.w,
            "clips_per_round": self.clips,
            "rounds": len(self.rounds),
            "spec": {
                "slot_seconds": str(self.spec.slot_seconds),
                "num_frames": self.spec.num_frames,
                "frame_rate": str(self.spec.frame_rate),
                "sample_rate": self.spec.sample_rate,
                "short_side": self.spec.short_side,
            },
            "readers": {},
            "skipped": dict(self.skipped),
        }
        for name in self.readers:
            stats = self.totals(name)
            clips = self.clips_total(name)
            out["readers"][name] = {
                "clips_per_s": self.median(name, lambda m: m.clips_per_s),
                "clips_per_cpu_s": self.median(name, lambda m: m.clips_per_cpu_s),
                "per_round_clips_per_s": [r[name].clips_per_s for r in self.rounds],
                "seeks_per_clip": stats.seeks / clips,
                "frames_decoded_per_clip": stats.frames_decoded / clips,
                "discarded_per_returned": _discarded(stats),
            }
        if PER_CLIP in self.readers:
            out["grouped_over_per_clip"] = self.ratio(GROUPED, PER_CLIP)
            out["grouped_over_sequential"] = self.ratio(GROUPED, SEQUENTIAL)
        for name in self.copies:
            out[f"{name}_over_grouped"] = self.ratio(name, GROUPED)
            out["readers"][name]["agreement"] = vars(self.agreement[name])
        return out


def _discarded(stats: DecodeStats) -> float:
    """Frames decoded and thrown away per frame that left the reader (pre-roll and frames between targets)."""
    if not stats.frames_returned:
        return math.nan
    return (stats.frames_decoded - stats.frames_returned) / stats.frames_returned


def _timed(read: Callable[[], int]) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    clips = read()
    return clips, time.perf_counter() - wall, time.process_time() - cpu


def _run_reader(reader: Reader, titles: Sequence[Title], groups: Sequence[Group], spec: ClipSpec) -> Measure:
    """Every group through ``reader``, timed as one piece (wall and CPU), with the decoder's work summed."""
    stats = DecodeStats()

    def read() -> int:
        count = 0
        for title, slots in groups:
            clips = reader(titles[title].path, [j * spec.slot_seconds for j in slots], spec)
            count += clips.video.shape[0]
            for name in vars(stats):
                setattr(stats, name, getattr(stats, name) + getattr(clips.stats, name))
        return count

    clips, wall, cpu = _timed(read)
    return Measure(clips, wall, cpu, stats)


def bench_decode(
    titles: Sequence[Title],
    spec: ClipSpec,
    k: int,
    w: int | str,
    clips: int = 64,
    rounds: int = 5,
    seed: int = 0,
    torchcodec: bool = True,
    on_round: Callable[[int, dict[str, Measure]], None] | None = None,
    copies: dict[str, dict[str, Path]] | None = None,
) -> DecodeBench:
    """Interleaved rounds: each draws fresh groups, then runs per-clip, grouped, the ``copies``, sequential (and
    torchcodec).

    ``copies`` maps a column name to {source path: path of its copy} (``tvssl prepare``): the same clips read
    from the copy by ``read_windows``, and compared with the source reader's (``Agreement``).
    One extra group is read by every reader before timing starts (page cache, imports, scaler set-up).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    result = DecodeBench(spec=spec, k=k, w=w, clips=clips - clips % k)
    readers: dict[str, Reader] = {PER_CLIP: read_per_clip, GROUPED: read_grouped}
    for name, paths in (copies or {}).items():
        readers[name] = copy_reader(paths)
        result.copies.append(name)
    if torchcodec:
        reader, why = torchcodec_reader(spec)
        if reader is None:
            result.skipped[TORCHCODEC] = why
        else:
            readers[TORCHCODEC] = reader
    warm = plan_groups(titles, k, w, k, seed, rounds)[:1]
    for name, reader in list(readers.items()):
        try:
            _run_reader(reader, titles, warm, spec)
        except Exception as exc:
            if name != TORCHCODEC:
                raise
            del readers[TORCHCODEC]
            result.skipped[TORCHCODEC] = f"failed on the first group ({type(exc).__name__}: {exc})"
    for r in range(rounds):
        groups = plan_groups(titles, k, w, clips, seed, r)
        measures = {
            PER_CLIP: _run_reader(readers[PER_CLIP], titles, groups, spec),
            GROUPED: _run_reader(readers[GROUPED], titles, groups, spec),
            **{name: _run_reader(readers[name], titles, groups, spec) for name in result.copies},
            SEQUENTIAL: _run_reader(
                read_forward, titles, [sequential_span(titles, groups, result.clips, seed, r)], spec
            ),
        }
        if TORCHCODEC in readers:
            measures[TORCHCODEC] = _run_reader(readers[TORCHCODEC], titles, groups, spec)
        result.rounds.append(measures)
        if on_round is not None:
            on_round(r, measures)
    first = plan_groups(titles, k, w, clips, seed, 0)
    for name in result.copies:
        result.agreement[name] = agreement(titles, first, spec, readers[name])
    return result


def augment_cost(
    titles: Sequence[Title], spec: ClipSpec, k: int, w: int | str, clips: int, seed: int, crop: int = 112
) -> tuple[float, float]:
    """CPU seconds per clip in a worker: (decode + scale, what crops, flips, jitter, gain and log-mel would add).

    The second figure is the work the suite moved out of the workers: it runs batched on the device in
    ``on_after_batch_transfer``. Here it runs per clip on the CPU, as a worker-side transform would.
    """
    import torch

    from tvssl.augment import AudioGain, VideoAugment
    from tvssl.models import LogMel

    groups = plan_groups(titles, k, w, clips, seed, 0)
    start = time.process_time()
    decoded = [
        read_windows(titles[t].path, [s * spec.slot_seconds for s in slots], spec) for t, slots in groups
    ]
    n = sum(len(c.video) for c in decoded)
    decode = (time.process_time() - start) / n
    video_aug, gain = VideoAugment(crop).train(), AudioGain().train()
    logmel = LogMel(sample_rate=spec.sample_rate)
    start = time.process_time()
    with torch.no_grad():
        for c in decoded:
            for i in range(len(c.video)):
                video_aug(torch.from_numpy(c.video[i : i + 1]))
                logmel(gain(torch.from_numpy(c.audio[i : i + 1])))
    return decode, (time.process_time() - start) / n


def decode_table(bench: DecodeBench) -> str:
    """The result table: medians over rounds, ratios to the per-clip reader, work per clip."""
    header = (
        f"{'reader':<12}{'clips/s':>9}{'clips/cpu-s':>13}{'vs per-clip':>13}{'seeks/clip':>12}"
        f"{'decoded/clip':>14}{'discarded/returned':>20}"
    )
    lines = [header, "-" * len(header)]
    for name in bench.readers:
        stats = bench.totals(name)
        clips = bench.clips_total(name)
        lines.append(
            f"{name:<12}{bench.median(name, lambda m: m.clips_per_s):>9.2f}"
            f"{bench.median(name, lambda m: m.clips_per_cpu_s):>13.2f}"
            f"{bench.ratio(name, PER_CLIP):>12.2f}x"
            f"{stats.seeks / clips:>12.2f}{stats.frames_decoded / clips:>14.1f}{_discarded(stats):>20.2f}"
        )
    for name, why in bench.skipped.items():
        lines.append(f"{name:<12}  (column skipped: {why})")
    lines.append("")
    lines.append(
        f"grouped / per-clip = {bench.ratio(GROUPED, PER_CLIP):.2f}x   "
        f"grouped / sequential = {bench.ratio(GROUPED, SEQUENTIAL):.2f}x"
    )
    for name in bench.copies:
        a = bench.agreement[name]
        lines.append(
            f"{name} / grouped = {bench.ratio(name, GROUPED):.2f}x; against the source reader on {a.clips} clips: "
            f"frames differ by {a.video_mad:.2f} grey levels on average (at most {a.video_max}), audio by at "
            f"most {a.audio_max:.2g}, {a.audio_off:.2%} of samples by more than one 16-bit step"
        )
    lines.append(
        f"(medians of {len(bench.rounds)} rounds; ratios are medians of per-round ratios; sequential = "
        f"clip-seconds decoded per second / {float(bench.spec.slot_seconds):g} s slot; discarded/returned = "
        "(frames decoded - frames converted) / frames converted)"
    )
    return "\n".join(lines)


def run_decode_bench(
    manifest: str | os.PathLike,
    spec: ClipSpec,
    k: int,
    w: int | str,
    *,
    root: str | os.PathLike | None = None,
    title: str | None = None,
    clips: int = 64,
    rounds: int = 5,
    seed: int = 0,
    torchcodec: bool = True,
    json_path: Path | None = None,
    say: Callable[[str], None] = echo,
    prepared: Sequence[str | os.PathLike] = (),
) -> DecodeBench:
    """``tvssl bench decode``: the titles and clips, each round's clips/s, the table, the worker's CPU per clip.

    The result is also written to ``json_path`` (``DecodeBench.as_dict``) when one is given.
    """
    titles = load_titles(manifest, root, spec.slot_seconds, title)
    per_round = clips - clips % k
    described = ", ".join(
        f"{t.title_id} ({float(t.duration):.1f} s, {t.num_slots} slots)" for t in titles[:3]
    )
    more = f" and {len(titles) - 3} more" if len(titles) > 3 else ""
    say(f"tvssl bench decode: {len(titles)} title(s): {described}{more}")
    say(
        f"clips: k={k} w={w}, {per_round} clips per round ({per_round // max(1, k)} groups), "
        f"{rounds} rounds, seed {seed}; clip = {spec.num_frames} frames at {float(spec.frame_rate):g} fps "
        f"+ {float(spec.slot_seconds):g} s of audio at {spec.sample_rate} Hz, short side {spec.short_side}"
    )
    say(f"before: {load_average()}")

    def progress(r: int, measures: dict[str, Measure]) -> None:
        each = "  ".join(f"{name} {m.clips_per_s:.2f}" for name, m in measures.items())
        say(f"round {r + 1}/{rounds}: clips/s  {each}")

    copies = copy_columns(titles, prepared, spec)
    for name, paths in copies.items():
        say(f"{name}: the same clips from {next(iter(paths.values())).parent}")
    bench = bench_decode(
        titles,
        spec,
        k,
        w,
        clips=clips,
        rounds=rounds,
        seed=seed,
        torchcodec=torchcodec,
        on_round=progress,
        copies=copies,
    )
    say(f"after: {load_average()}")
    say("")
    say(decode_table(bench))
    decode, augment = augment_cost(titles, spec, k, w, clips, seed)
    say(
        f"worker CPU per clip: decode + scale {decode * 1000:.1f} ms; crops, flips, jitter, gain and log-mel "
        f"would add {augment * 1000:.1f} ms per clip in a worker (the suite runs them batched on the device)"
    )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(bench.as_dict(), indent=1))
    return bench
