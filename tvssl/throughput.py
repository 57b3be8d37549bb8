"""How fast clips come out of the data pipeline, measured against the alternatives in one run.

In video self-supervision the accelerator mostly waits for the decoder, and on long titles the cost of a random
clip is the pre-roll (every frame from the previous keyframe is decoded and thrown away) plus opening the
container. ``bench_decode`` measures, interleaved in rounds on the same clips:

* ``per-clip``: what torchvision/pytorchvideo-style loaders do, one open + seek + forward decode + close per
  clip (honest: the needed frames only are converted, with the same scaler, one decoder thread);
* ``grouped``: the suite's ``read_windows``, every clip of a (k, w) group with one open, in time order;
* ``sequential``: the limit, a contiguous span decoded front to back with the same converter, reported as
  clip-seconds per second (clips/s if nothing were wasted: every slot of the span becomes a clip);
* ``torchcodec``: the same clips through torchcodec, only when it imports (it needs system FFmpeg libraries).

``bench_loader`` times the real DataLoader of a pretraining config at several worker counts. Ratios are
measured inside one run, never asserted in tests: timings depend on the machine, ratios much less.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from data_modules.decoding import Clips, ClipSpec, DecodeStats, read_windows
from data_modules.index import TitleRecord, read_manifest
from data_modules.media import title_span
from data_modules.prepare import manifest_root, scaled_size
from data_modules.sampling import LongFormBatchSampler

AUDIO_PREROLL = Fraction(1, 5)
"""Audio decoders need a few packets before a seek target to settle (AAC overlap): same margin as the suite."""

PER_CLIP = "per-clip"
GROUPED = "grouped"
SEQUENTIAL = "sequential"
TORCHCODEC = "torchcodec"


# ----------------------------------------------------------------------------------------------- clip choice


@dataclass(frozen=True)
class Title:
    """One manifest row ready to read: absolute path and slot count at the bench's slot length."""

    path: Path
    title_id: str
    duration: Fraction
    num_slots: int


def load_titles(
    manifest: str | os.PathLike,
    root: str | os.PathLike | None,
    slot_seconds: Fraction,
    title: str | None = None,
) -> list[Title]:
    """Usable titles of a manifest (or the one named by ``title``: its title_id or path), with their slots."""
    manifest_path = Path(manifest)
    if not manifest_path.is_file():
        raise ValueError(
            f"manifest {manifest_path} does not exist; make one with `tvssl index ROOT --out MANIFEST`"
        )
    base = Path(root) if root is not None else manifest_root(manifest_path)
    records: list[TitleRecord] = read_manifest(manifest_path)
    if title is not None:
        records = [r for r in records if title in (r.title_id, r.path)]
        if not records:
            raise ValueError(f"no row of {manifest_path} has title_id or path {title!r}")
    titles = [
        Title(base / r.path, r.title_id, r.duration, int(r.duration // slot_seconds)) for r in records if r.ok
    ]
    titles = [t for t in titles if t.num_slots > 0]
    if not titles:
        raise ValueError(
            f"{manifest_path} lists no usable title at least {float(slot_seconds):g} s long (status 'ok')"
        )
    missing = [t.path for t in titles if not t.path.is_file()]
    if missing:
        raise ValueError(
            f"{missing[0]} (from {manifest_path}) does not exist: pass --root, the folder the manifest's paths "
            "are relative to"
        )
    return titles


def parse_window(text: str | int) -> int | str:
    """``w`` as the sampler takes it: a slot count or ``Mn`` (the whole title)."""
    if isinstance(text, int) or str(text).strip().lower() != "mn":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"w must be a whole number of slots or Mn, got {text!r}") from None
    return "Mn"


def plan_groups(
    titles: Sequence[Title], k: int, w: int | str, clips: int, seed: int, round_index: int
) -> list[tuple[int, list[int]]]:
    """``clips // k`` groups of (title index, ascending slots), drawn by the real (k, w) sampler.

    A sampler whose global batch is one group (batch_size = k) yields exactly one group per batch: titles in
    proportion to their slots, window and slots as in training. Round ``r`` is epoch ``r`` of that sampler.
    """
    if clips < k:
        raise ValueError(
            f"--clips {clips} is fewer than one group of k={k} clips; raise --clips or lower --k"
        )
    sampler = LongFormBatchSampler(
        [t.num_slots for t in titles], k=k, w=w, batch_size=k, seed=seed, clips_per_epoch=clips
    )
    if sampler.excluded.size == len(titles):
        raise ValueError(sampler.exclusion_note)
    groups = []
    for i in range(clips // k):
        plan = sampler.plan_batch(round_index, i)
        groups.append((int(plan[0, 0]), sorted(int(s) for s in plan[:, 1])))
    return groups


# ----------------------------------------------------------------------------------------------- readers


def _stream_size(stream: av.video.stream.VideoStream, short_side: int) -> tuple[int, int]:
    cc = stream.codec_context
    sar = cc.sample_aspect_ratio or stream.sample_aspect_ratio
    return scaled_size(cc.width, cc.height, Fraction(sar) if sar else None, short_side)


def _frames(container: av.container.InputContainer, stream: av.stream.Stream, stats: DecodeStats) -> Iterator:
    """Decoded frames of one stream from the current position (the demuxer's final empty packet flushes)."""
    for packet in container.demux(stream):
        if stream.type == "video":
            stats.video_packets += 1
        yield from packet.decode()


def read_forward(path: str | os.PathLike, starts: Sequence[Fraction], spec: ClipSpec) -> Clips:
    """Windows ``[start, start + slot)`` with ONE open and ONE seek per stream, decoding forward through all.

    With one window this is the typical loader's per-clip read; with consecutive windows it is a sequential
    pass over a span. Frame choice (the frame on screen at each target time), scaler and audio placement follow
    the same rules as ``read_windows``, so both return the same clips.
    """
    stats = DecodeStats()
    order = sorted(Fraction(s) for s in starts)
    with av.open(str(path), metadata_errors="ignore") as container:
        vstream = container.streams.video[0]
        astream = container.streams.audio[0]
        vstream.codec_context.thread_count = 1
        astream.codec_context.thread_count = 1
        origin, _ = title_span(container)
        video = _forward_video(container, vstream, origin, starts, spec, stats)
        audio = _forward_audio(container, astream, origin, starts, order, spec, stats)
    return Clips(video=video, audio=audio, stats=stats)


def _forward_video(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    origin: Fraction,
    starts: Sequence[Fraction],
    spec: ClipSpec,
    stats: DecodeStats,
) -> np.ndarray:
    tb = Fraction(stream.time_base)
    offsets = spec.frame_offsets()
    targets = sorted(
        (math.floor((origin + Fraction(s) + off) / tb), w, i)
        for w, s in enumerate(starts)
        for i, off in enumerate(offsets)
    )
    height, width = _stream_size(stream, spec.short_side)
    out = np.empty((len(starts), spec.num_frames, height, width, 3), dtype=np.uint8)
    reformatter = av.video.reformatter.VideoReformatter()
    converted: list[Any] = [None, None]

    def assign(frame: av.VideoFrame, ti: int) -> None:
        if converted[0] is not frame:
            stats.frames_returned += 1
            rgb = reformatter.reformat(
                frame, width=width, height=height, format="rgb24", interpolation="AREA"
            )
            converted[:] = [frame, rgb.to_ndarray()]
        _, w, i = targets[ti]
        out[w, i] = converted[1]

    container.seek(targets[0][0], stream=stream, backward=True, any_frame=False)
    stats.seeks += 1
    ti = 0
    candidate = None
    for frame in _frames(container, stream, stats):
        stats.frames_decoded += 1
        pts = frame.pts if frame.pts is not None else frame.dts
        while ti < len(targets) and pts > targets[ti][0]:
            assign(candidate if candidate is not None else frame, ti)
            ti += 1
        if ti == len(targets):
            break
        candidate = frame
    while ti < len(targets):
        if candidate is None:
            raise ValueError(f"{container.name}: no video frame decoded after the seek")
        assign(candidate, ti)
        ti += 1
    return out


def _forward_audio(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    origin: Fraction,
    starts: Sequence[Fraction],
    order: Sequence[Fraction],
    spec: ClipSpec,
    stats: DecodeStats,
) -> np.ndarray:
    tb = Fraction(stream.time_base)
    rate = spec.sample_rate
    first = origin + order[0]
    total = math.ceil((order[-1] - order[0] + spec.slot_seconds) * rate)
    span = np.zeros(total, dtype=np.float32)
    container.seek(math.floor((first - AUDIO_PREROLL) / tb), stream=stream, backward=True)
    stats.seeks += 1
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    anchor: int | None = None
    placed = 0
    for frame in _frames(container, stream, stats):
        stats.audio_frames_decoded += 1
        if anchor is None:
            anchor = round((frame.pts * tb - first) * rate)
        for chunk in resampler.resample(frame):
            samples = chunk.to_ndarray().reshape(-1)
            lo = anchor + placed
            placed += samples.size
            a, b = max(lo, 0), min(lo + samples.size, total)
            if a < b:
                span[a:b] = samples[a - lo : b - lo]
        if anchor + placed >= total:
            break
    out = np.empty((len(starts), spec.audio_samples), dtype=np.float32)
    for w, s in enumerate(starts):
        at = round((Fraction(s) - order[0]) * rate)
        out[w] = span[at : at + spec.audio_samples]
    return out


def read_per_clip(path: str | os.PathLike, starts: Sequence[Fraction], spec: ClipSpec) -> Clips:
    """The typical loader: every window on its own (open, seek, decode forward, convert, close)."""
    stats = DecodeStats()
    videos, audios = [], []
    for start in starts:
        clip = read_forward(path, [start], spec)
        videos.append(clip.video[0])
        audios.append(clip.audio[0])
        for name in ("seeks", "video_packets", "frames_decoded", "frames_returned", "audio_frames_decoded"):
            setattr(stats, name, getattr(stats, name) + getattr(clip.stats, name))
    return Clips(video=np.stack(videos), audio=np.stack(audios), stats=stats)


class _TorchcodecReader:
    """torchcodec's decoders, one video and one audio decoder per group (its natural use).

    Frames come out full size and are scaled to the same size as ours with torch (antialiased bilinear).
    """

    def __init__(self, spec: ClipSpec) -> None:
        self.spec = spec
        self.decoders = importlib.import_module("torchcodec.decoders")
        self.origins: dict[str, tuple[Fraction, tuple[int, int]]] = {}

    def _title(self, path: str) -> tuple[Fraction, tuple[int, int]]:
        """Title origin and output size, found once per file outside the timed part."""
        if path not in self.origins:
            with av.open(path, metadata_errors="ignore") as container:
                origin, _ = title_span(container)
                self.origins[path] = (origin, _stream_size(container.streams.video[0], self.spec.short_side))
        return self.origins[path]

    def __call__(self, path: str | os.PathLike, starts: Sequence[Fraction], spec: ClipSpec) -> Clips:
        import torch

        origin, (height, width) = self._title(str(path))
        times = [float(origin + Fraction(s) + off) for s in starts for off in spec.frame_offsets()]
        video = self.decoders.VideoDecoder(
            str(path), dimension_order="NCHW", num_ffmpeg_threads=1, seek_mode="approximate"
        )
        frames = video.get_frames_played_at(seconds=times).data
        frames = torch.nn.functional.interpolate(
            frames.float(), size=(height, width), mode="bilinear", antialias=True, align_corners=False
        )
        frames = frames.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        audio_decoder = self.decoders.AudioDecoder(str(path), sample_rate=spec.sample_rate, num_channels=1)
        audio = np.zeros((len(starts), spec.audio_samples), dtype=np.float32)
        for w, s in enumerate(starts):
            begin = float(origin + Fraction(s))
            got = audio_decoder.get_samples_played_in_range(begin, begin + float(spec.slot_seconds))
            samples = got.data[0].numpy()[: spec.audio_samples]
            audio[w, : samples.size] = samples
        shape = (len(starts), spec.num_frames, height, width, 3)
        stats = DecodeStats(frames_returned=len(times))
        return Clips(video=frames.numpy().reshape(shape), audio=audio, stats=stats)


def torchcodec_reader(spec: ClipSpec) -> tuple[Callable[..., Clips] | None, str]:
    """The torchcodec reader, or None and why not (it is optional and needs system FFmpeg libraries)."""
    try:
        return _TorchcodecReader(spec), ""
    except Exception as exc:  # ImportError, or OSError/RuntimeError when its FFmpeg libraries are missing
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


# ----------------------------------------------------------------------------------------------- decode bench


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


def _run_reader(
    reader: Callable[..., Clips],
    titles: Sequence[Title],
    groups: Sequence[tuple[int, list[int]]],
    spec: ClipSpec,
) -> Measure:
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


def _sequential_span(
    titles: Sequence[Title], groups: Sequence[tuple[int, list[int]]], clips: int, seed: int, round_index: int
) -> tuple[int, list[int]]:
    """A contiguous run of as many slots as the round has clips, in the title of the round's first group."""
    title = groups[0][0]
    count = min(clips, titles[title].num_slots)
    rng = np.random.default_rng([seed, round_index, 7])
    first = int(rng.integers(0, titles[title].num_slots - count + 1))
    return title, list(range(first, first + count))


def _read_grouped(path: str | os.PathLike, starts: Sequence[Fraction], spec: ClipSpec) -> Clips:
    return read_windows(path, starts, spec)


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
) -> DecodeBench:
    """Interleaved rounds: each draws fresh groups, then runs per-clip, grouped, sequential (and torchcodec).

    One extra group is read by every reader before timing starts (page cache, imports, scaler set-up).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    result = DecodeBench(spec=spec, k=k, w=w, clips=clips - clips % k)
    readers: dict[str, Callable[..., Clips]] = {PER_CLIP: read_per_clip, GROUPED: _read_grouped}
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
            SEQUENTIAL: _run_reader(
                read_forward, titles, [_sequential_span(titles, groups, result.clips, seed, r)], spec
            ),
        }
        if TORCHCODEC in readers:
            measures[TORCHCODEC] = _run_reader(readers[TORCHCODEC], titles, groups, spec)
        result.rounds.append(measures)
        if on_round is not None:
            on_round(r, measures)
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
    lines.append(
        f"(medians of {len(bench.rounds)} rounds; ratios are medians of per-round ratios; sequential = "
        f"clip-seconds decoded per second / {float(bench.spec.slot_seconds):g} s slot; discarded/returned = "
        "(frames decoded - frames converted) / frames converted)"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- loader bench


@dataclass
class LoaderRun:
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


def set_path(settings: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings; ``data.X`` means ``data.init_args.X`` unless X is class_path/init_args."""
    keys = dotted.split(".")
    if len(keys) >= 2 and keys[0] == "data" and keys[1] not in ("class_path", "init_args"):
        keys.insert(1, "init_args")
    node = settings
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def datamodule_from_settings(settings: dict[str, Any], **overrides: Any) -> Any:
    """Instantiate the config's ``data:`` section (class_path + init_args), as LightningCLI would."""
    data = settings.get("data")
    if not isinstance(data, dict) or "class_path" not in data:
        raise ValueError("the config has no `data:` section with a class_path (is it a pretraining config?)")
    module_name, _, class_name = str(data["class_path"]).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"data.class_path {data['class_path']!r} cannot be imported ({exc})") from exc
    init_args = {**dict(data.get("init_args") or {}), **overrides}
    return cls(**init_args)


def time_loader(settings: dict[str, Any], workers: int, batches: int, warmup: int) -> LoaderRun:
    """Clips/s of the training DataLoader after ``warmup`` batches (worker start-up is not timed)."""
    batch_size = int(settings["data"].get("init_args", {}).get("batch_size", 512))
    dm = datamodule_from_settings(
        settings,
        num_workers=workers,
        persistent_workers=False,
        clips_per_epoch=batch_size * (warmup + batches),
    )
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
    settings: dict[str, Any],
    workers: Sequence[int],
    batches: int = 20,
    warmup: int = 3,
    rounds: int = 1,
    calibrate_seconds: float = 1.0,
    on_run: Callable[[LoaderRun], None] | None = None,
) -> dict[int, list[LoaderRun]]:
    """Every worker count once per round, interleaved; the epoch is sized to warm-up + timed batches.

    Each run is preceded by ``machine_scaling`` for its worker count (skipped when ``calibrate_seconds`` is 0).
    """
    if batches < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"need batches >= 1, warmup >= 0, rounds >= 1; got {batches}, {warmup}, {rounds}")
    runs: dict[int, list[LoaderRun]] = {n: [] for n in workers}
    for _ in range(rounds):
        for n in workers:
            machine = machine_scaling(max(1, n), calibrate_seconds) if calibrate_seconds > 0 else math.nan
            run = time_loader(settings, n, batches, warmup)
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
