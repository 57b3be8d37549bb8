"""A training copy of a corpus: scaled to the training short side, a keyframe at every slot boundary.

A random clip of a film costs the pre-roll from the previous keyframe (often 5-10 s of full-size frames) and the
scaling of every needed frame. Transcoding once to the training short side with a keyframe at every slot boundary
makes that cost small and nearly constant, at the price of one pass over the corpus. The copy keeps title time:
title time 0 of the prepared file is title time 0 of the source (both streams are shifted by the source's title
origin, the frame on screen at time 0 is kept and starts at 0, earlier audio is cut at the sample), so slots,
manifests and results computed on either are interchangeable.

The keyframe of slot boundary ``b`` is the frame *on screen* at ``b`` (the last frame with time <= b), chosen by
timestamp, so it holds for any frame rate, NTSC rates and variable frame rate alike: every window starting at a
boundary decodes from its own keyframe. Work is resumable: an output is written under a hidden temporary name and
renamed when complete, carries its settings and the source's size and mtime in its metadata, and is verified
(both streams, duration within a frame of the source, decodable to the end) before a later run skips it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

import av
import numpy as np

from data_modules.index import IndexResult, TitleRecord, build_index, read_manifest
from data_modules.media import MediaError, title_span

TAG = "tvssl_prepare"
"""Key of the JSON object in the output's ``comment`` metadata that says how and from what it was made."""

TAG_VERSION = 1
AUDIO_GAP_SECONDS = Fraction(1, 100)
"""Audio timestamps further than this from the running sample count are a real gap (filled with silence)."""

TAIL_SECONDS = Fraction(10)
"""The last packets of a stream lie within this much of its declared end (for measuring where content ends)."""

AAC_FRAME = 1024
"""Samples per AAC frame."""

MAX_TIMESCALE = 2**31 - 1
"""MP4 time scales are 32-bit: beyond this the exact output time base is replaced by 1/90000 (rounded)."""

PREPARED = "prepared"
SKIPPED = "skipped"
REDONE = "redone"
EXCLUDED = "excluded"
FAILED = "failed"


@dataclass(frozen=True)
class PrepareSettings:
    """How titles are transcoded; any change makes earlier outputs stale (they are redone)."""

    short_side: int = 128
    keyframe_every: Fraction = Fraction(2)
    crf: int = 23
    preset: str = "veryfast"
    audio_rate: int | None = None

    def __post_init__(self) -> None:
        every = Fraction(str(self.keyframe_every)) if not isinstance(self.keyframe_every, Fraction) else None
        if every is not None:
            object.__setattr__(self, "keyframe_every", every)
        if isinstance(self.short_side, bool) or not isinstance(self.short_side, int) or self.short_side < 16:
            raise ValueError(f"short_side must be an integer >= 16, got {self.short_side!r}")
        if self.short_side % 2:
            raise ValueError(
                f"short_side must be even (H.264 4:2:0 frames have even sizes), got {self.short_side}"
            )
        if self.keyframe_every <= 0:
            raise ValueError(
                f"keyframe_every must be > 0 seconds (the slot length), got {self.keyframe_every}"
            )
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51] (x264 quality; 23 is the default), got {self.crf}")
        if self.audio_rate is not None and self.audio_rate < 8000:
            raise ValueError(
                f"audio_rate must be >= 8000 Hz or None (keep the source rate), got {self.audio_rate}"
            )

    def as_tag(self) -> dict[str, object]:
        return {**asdict(self), "keyframe_every": str(self.keyframe_every)}


@dataclass(frozen=True)
class TitleOutcome:
    """What happened to one manifest row."""

    path: str
    output: str
    status: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class PrepareResult:
    outcomes: list[TitleOutcome]
    manifest: Path
    records: IndexResult

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


def manifest_root(manifest: str | os.PathLike) -> Path:
    """Paths of a manifest are relative to the corpus root: its folder, or the corpus of ``ROOT/.tvssl/``."""
    folder = Path(manifest).resolve().parent
    return folder.parent if folder.name == ".tvssl" else folder


def output_name(rel: str) -> str:
    """The prepared copy of ``Show/S01E01.mkv`` is ``Show/S01E01.mp4``."""
    return PurePosixPath(rel).with_suffix(".mp4").as_posix()


def scaled_size(width: int, height: int, sar: Fraction | None, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side at ``short_side``, display aspect kept, both even (as the decoder)."""
    display_w = Fraction(width) * (sar if sar and sar > 0 else 1)
    display_h = Fraction(height)
    short, long = sorted((display_w, display_h))
    long_out = max(2, 2 * round(short_side * long / short / 2))
    return (short_side, long_out) if display_h <= display_w else (long_out, short_side)


def _stream_size(stream: av.video.stream.VideoStream, short_side: int) -> tuple[int, int]:
    cc = stream.codec_context
    if not cc.width or not cc.height:
        raise ValueError("the video stream does not declare its frame size")
    sar = cc.sample_aspect_ratio or stream.sample_aspect_ratio
    return scaled_size(cc.width, cc.height, Fraction(sar) if sar else None, short_side)


def _source_facts(src: Path) -> dict[str, int]:
    st = src.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _output_time_base(tb_in: Fraction, origin: Fraction) -> Fraction:
    """A time base in which every shifted source time ``pts * tb_in - origin`` is a whole number of ticks."""
    scale = math.lcm(tb_in.denominator, origin.denominator)
    return Fraction(1, scale) if scale <= MAX_TIMESCALE else Fraction(1, 90000)


class _VideoOut:
    """Scaled, re-timed video with a forced keyframe on the frame on screen at every slot boundary."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        source: av.video.stream.VideoStream,
        origin: Fraction,
        settings: PrepareSettings,
        duration: Fraction,
    ) -> None:
        self.out = out
        self.tb_in = Fraction(source.time_base)
        self.origin = origin
        self.duration = duration
        self.slot = settings.keyframe_every
        self.tb_out = _output_time_base(self.tb_in, origin)
        rate = source.average_rate or source.guessed_rate or source.base_rate or Fraction(25)
        self.nominal = 1 / Fraction(rate)
        self.height, self.width = _stream_size(source, settings.short_side)
        options = {
            "preset": settings.preset,
            "crf": str(settings.crf),
            "forced-idr": "1",
            "x264-params": "scenecut=0",
        }
        self.stream = out.add_stream("libx264", rate=Fraction(rate), options=options)
        self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
        self.stream.codec_context.time_base = self.tb_out
        self.stream.time_base = self.tb_out
        self.stream.codec_context.thread_count = 1
        self.reformatter = av.video.reformatter.VideoReformatter()
        self.held: tuple[av.VideoFrame, Fraction] | None = None
        self.last_pts: int | None = None

    def push(self, frame: av.VideoFrame) -> None:
        ticks = frame.pts if frame.pts is not None else frame.dts
        if ticks is None:
            raise ValueError("decoded video frames carry no timestamps")
        t = ticks * self.tb_in - self.origin
        if self.held is not None:
            held, held_t = self.held
            if t > held_t and t > 0:
                self._emit(held, held_t, t)
            # else: the held frame is superseded before title time 0, or the source repeats a timestamp
        self.held = (frame, t)

    def finish(self) -> None:
        if self.held is not None:
            frame, t = self.held
            duration = frame.duration * self.tb_in if frame.duration else self.nominal
            self._emit(frame, t, t + duration)
            self.held = None
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def _emit(self, frame: av.VideoFrame, t: Fraction, t_next: Fraction) -> None:
        """Encode ``frame``, on screen over [t, t_next): a keyframe iff a slot boundary of the title falls there."""
        t = max(t, Fraction(0))
        pts = round(t / self.tb_out)
        if self.last_pts is not None and pts <= self.last_pts:
            return
        boundary = math.ceil(t / self.slot) * self.slot
        key = boundary < t_next and boundary < self.duration
        scaled = self.reformatter.reformat(
            frame, width=self.width, height=self.height, format="yuv420p", interpolation="AREA"
        )
        scaled.pts = pts
        scaled.time_base = self.tb_out
        scaled.duration = max(1, round(t_next / self.tb_out) - pts)
        scaled.pict_type = av.video.frame.PictureType.I if key else av.video.frame.PictureType.NONE
        self.last_pts = pts
        for packet in self.stream.encode(scaled):
            self.out.mux(packet)


class _AudioOut:
    """AAC audio re-timed to title time: samples before time 0 cut, gaps filled with silence, overlaps dropped."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        source: av.audio.stream.AudioStream,
        origin: Fraction,
        settings: PrepareSettings,
    ) -> None:
        cc = source.codec_context
        self.out = out
        self.tb_in = Fraction(source.time_base)
        self.origin = origin
        self.rate = settings.audio_rate or cc.sample_rate
        self.layout = cc.layout.name
        self.stream = out.add_stream("aac", rate=self.rate, layout=self.layout)
        self.stream.codec_context.thread_count = 1
        self.resampler: av.AudioResampler | None = None
        self.segment: tuple[Fraction, int, tuple] = (Fraction(0), 1, ())
        self.in_samples = 0
        self.anchor = 0
        self.produced = 0
        self.written = 0

    def push(self, frame: av.AudioFrame) -> None:
        if frame.pts is None:
            raise ValueError("decoded audio frames carry no timestamps")
        t = frame.pts * self.tb_in - self.origin
        key = (frame.sample_rate, frame.layout.name, frame.format.name)
        start, in_rate, seg_key = self.segment
        expected = start + Fraction(self.in_samples, in_rate)
        if self.resampler is None or key != seg_key or abs(t - expected) > AUDIO_GAP_SECONDS:
            self._close_segment()
            self.resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
            self.segment = (t, frame.sample_rate, key)
            self.in_samples = 0
            self.anchor = round(t * self.rate)
            self.produced = 0
        self.in_samples += frame.samples
        for chunk in self.resampler.resample(frame):
            self._place(chunk.to_ndarray())

    def finish(self) -> None:
        self._close_segment()
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def _close_segment(self) -> None:
        if self.resampler is not None:
            for chunk in self.resampler.resample(None):
                self._place(chunk.to_ndarray())
            self.resampler = None

    def _place(self, planes: np.ndarray) -> None:
        """Samples ``[at, at + n)`` of title time, written after what is already written."""
        at = self.anchor + self.produced
        self.produced += planes.shape[1]
        skip = max(0, self.written - at)
        if skip >= planes.shape[1]:
            return
        if at > self.written:
            self._write(np.zeros((planes.shape[0], at - self.written), dtype=np.float32))
        self._write(planes[:, skip:])

    def _write(self, planes: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planes, dtype=np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.rate
        frame.pts = self.written
        frame.time_base = Fraction(1, self.rate)
        self.written += planes.shape[1]
        for packet in self.stream.encode(frame):
            self.out.mux(packet)


def transcode_title(
    src: str | os.PathLike, dst: str | os.PathLike, settings: PrepareSettings
) -> dict[str, object]:
    """Write the training copy of one title at ``dst`` (atomically) and return the tag stored in it."""
    src_path, dst_path = Path(src), Path(dst)
    dst_path.parent.mkdir(parents=True, exist_ok=True)
    partial = dst_path.with_name(f".{dst_path.name}.partial")
    facts = _source_facts(src_path)
    try:
        with av.open(str(src_path), metadata_errors="ignore") as source:
            origin, duration = title_span(source)
            vin, ain = source.streams.video[0], source.streams.audio[0]
            vin.codec_context.thread_count = 1
            ain.codec_context.thread_count = 1
            rate = vin.average_rate or vin.guessed_rate or vin.base_rate or Fraction(25)
            content = content_duration(src_path, origin, duration)
            tag = {
                "version": TAG_VERSION,
                "settings": settings.as_tag(),
                "source": {
                    **facts,
                    "duration": str(content),
                    "declared_duration": str(duration),
                    "frame": str(1 / Fraction(rate)),
                },
            }
            with av.open(str(partial), mode="w", format="mp4") as out:
                out.metadata["comment"] = json.dumps({TAG: tag}, separators=(",", ":"))
                video = _VideoOut(out, vin, origin, settings, content)
                audio = _AudioOut(out, ain, origin, settings)
                for packet in source.demux(vin, ain):
                    target = video if packet.stream is vin else audio
                    for frame in packet.decode():
                        target.push(frame)
                video.finish()
                audio.finish()
        os.replace(partial, dst_path)
    finally:
        partial.unlink(missing_ok=True)
    return tag


def content_duration(path: str | os.PathLike, origin: Fraction, declared: Fraction) -> Fraction:
    """How long both streams really have content after ``origin``, from the packets at the end of each.

    Matroska stores no stream durations, so the declared span of its shorter stream is the container's, too long;
    the last packets tell where each stream really ends.
    """
    ends = []
    with av.open(str(path), metadata_errors="ignore") as container:
        for stream in (container.streams.video[0], container.streams.audio[0]):
            tb = Fraction(stream.time_base)
            start = max(0, math.floor((origin + declared - TAIL_SECONDS) / tb))
            container.seek(start, stream=stream, backward=True)
            end = None
            for packet in container.demux(stream):
                if packet.pts is not None:
                    packet_end = (packet.pts + (packet.duration or 0)) * tb
                    end = packet_end if end is None else max(end, packet_end)
            ends.append(origin + declared if end is None else end)
    return max(Fraction(0), min(min(ends) - origin, declared))


def check_output(dst: str | os.PathLike, src: str | os.PathLike, settings: PrepareSettings) -> str | None:
    """None when ``dst`` is a complete copy of ``src`` made with ``settings``; otherwise why it must be redone."""
    path = Path(dst)
    if not path.is_file():
        return "no output yet"
    if path.stat().st_size == 0:
        return "empty output"
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            tag = _read_tag(container)
            if tag is None:
                return "output has no tvssl prepare tag (not made by tvssl prepare)"
            if tag.get("version") != TAG_VERSION or tag.get("settings") != settings.as_tag():
                return f"output was made with other settings ({tag.get('settings')})"
            source = tag.get("source", {})
            if {k: source.get(k) for k in ("size", "mtime_ns")} != _source_facts(Path(src)):
                return "the source changed since the output was made"
            origin, duration = title_span(container)
            expected = Fraction(source["duration"])
            # One video frame, or one AAC frame: the encoder pads its last frame and MP4 keeps the padding.
            slack = max(
                Fraction(source["frame"]), Fraction(AAC_FRAME, container.streams.audio[0].sample_rate)
            )
            if abs(duration - expected) > slack or abs(origin) > slack:
                return (
                    f"output spans [{float(origin):.3f}, {float(origin + duration):.3f}) s, the source title "
                    f"[0, {float(expected):.3f}) s (incomplete or corrupt)"
                )
            height, width = (
                container.streams.video[0].codec_context.height,
                container.streams.video[0].codec_context.width,
            )
            if min(width, height) != settings.short_side:
                return f"output is {width}x{height}, not short side {settings.short_side}"
            for stream in (container.streams.video[0], container.streams.audio[0]):
                if not _decodes_near(container, stream, origin + duration - min(duration, Fraction(1))):
                    return f"the {stream.type} stream does not decode to the end (truncated or corrupt)"
    except (av.error.FFmpegError, MediaError, OSError, ValueError, KeyError) as exc:
        return f"unreadable output ({type(exc).__name__}: {exc})"
    return None


def _read_tag(container: av.container.InputContainer) -> dict | None:
    try:
        tag = json.loads(container.metadata.get("comment", ""))
    except json.JSONDecodeError:
        return None
    return tag.get(TAG) if isinstance(tag, dict) else None


def _decodes_near(
    container: av.container.InputContainer, stream: av.stream.Stream, seconds: Fraction
) -> bool:
    """Whether a frame decodes from ``seconds`` (container time) onwards: the file's tail is intact."""
    container.seek(max(0, math.floor(seconds / stream.time_base)), stream=stream, backward=True)
    return any(packet.decode() for packet in container.demux(stream))  # the final empty packet flushes


def prepare_one(src: str, dst: str, rel: str, out_rel: str, settings: PrepareSettings) -> TitleOutcome:
    """Skip a verified output, otherwise (re)make it and verify it; errors become a failed outcome."""
    started = time.perf_counter()
    try:
        problem = check_output(dst, src, settings)
        if problem is None:
            return TitleOutcome(rel, out_rel, SKIPPED, "verified output", time.perf_counter() - started)
        status = PREPARED if problem == "no output yet" else REDONE
        transcode_title(src, dst, settings)
        after = check_output(dst, src, settings)
        if after is not None:
            Path(dst).unlink(missing_ok=True)
            return TitleOutcome(rel, out_rel, FAILED, f"fresh output failed verification: {after}")
        detail = "" if status == PREPARED else problem
        return TitleOutcome(rel, out_rel, status, detail, time.perf_counter() - started)
    except Exception as exc:  # one bad title must not stop the corpus: it is reported and the rest go on
        return TitleOutcome(
            rel, out_rel, FAILED, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
        )


def prepare_corpus(
    manifest: str | os.PathLike,
    dst: str | os.PathLike,
    settings: PrepareSettings,
    src_root: str | os.PathLike | None = None,
    workers: int = 1,
    kind: str | None = None,
    on_outcome: Callable[[TitleOutcome], None] | None = None,
) -> PrepareResult:
    """Transcode every usable title of ``manifest`` into ``dst`` and write ``dst/manifest.csv``.

    Titles run in ``workers`` processes; finished, verified outputs are skipped, so an interrupted run is
    resumed by running it again. The new manifest is indexed from the prepared files, with slots of
    ``settings.keyframe_every`` seconds; ``kind`` (movie/tv) defaults to the source's.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    records: list[TitleRecord] = read_manifest(manifest)
    root = Path(src_root) if src_root is not None else manifest_root(manifest)
    out_root = Path(dst)
    if out_root.resolve() == root.resolve():
        raise ValueError(f"the destination {out_root} is the source corpus root; choose another folder")
    out_root.mkdir(parents=True, exist_ok=True)
    kind = kind or ("tv" if any(r.show for r in records) else "movie")

    outcomes: list[TitleOutcome] = []
    tasks: list[tuple[str, str, str, str, PrepareSettings]] = []
    seen: dict[str, str] = {}
    sources = {(root / r.path).resolve() for r in records}

    def report(outcome: TitleOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    for r in records:
        out_rel = output_name(r.path)
        if not r.ok:
            report(TitleOutcome(r.path, "", EXCLUDED, f"excluded in the source manifest: {r.reason}"))
            continue
        if out_rel in seen:
            report(
                TitleOutcome(r.path, "", FAILED, f"{out_rel} is also the copy of {seen[out_rel]}; rename one")
            )
            continue
        if (out_root / out_rel).resolve() in sources:
            report(TitleOutcome(r.path, "", FAILED, f"{out_root / out_rel} would overwrite a source file"))
            continue
        seen[out_rel] = r.path
        tasks.append((str(root / r.path), str(out_root / out_rel), r.path, out_rel, settings))

    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            report(prepare_one(*task))
    else:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)), mp_context=get_context("spawn")
        ) as pool:
            futures = {pool.submit(prepare_one, *task): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    report(future.result())
                except BrokenProcessPool as exc:
                    report(TitleOutcome(task[2], task[3], FAILED, f"worker process died ({exc}); run again"))

    manifest_out = out_root / "manifest.csv"
    indexed = build_index(
        out_root,
        manifest_out,
        kind=kind,
        workers=workers,
        slot_seconds=settings.keyframe_every,
        progress=False,
    )
    order = {r.path: i for i, r in enumerate(records)}
    outcomes.sort(key=lambda o: order.get(o.path, len(order)))
    return PrepareResult(outcomes, manifest_out, indexed)


def summarize_outcomes(outcomes: Sequence[TitleOutcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in (PREPARED, REDONE, SKIPPED, EXCLUDED, FAILED)}
    return ", ".join(f"{n} {s}" for s, n in counts.items())
