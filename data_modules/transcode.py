"""Transcoding one title for training: scaled to the training short side, a keyframe at every slot boundary.

A random clip of a film costs the pre-roll from the previous keyframe (often 5-10 s of full-size frames) and the
scaling of every needed frame. Transcoding once to the training short side with a keyframe at every slot boundary
makes that cost small and nearly constant, at the price of one pass over the corpus. The copy keeps title time:
title time 0 of the prepared file is title time 0 of the source (both streams are shifted by the source's title
origin, the frame on screen at time 0 is kept and starts at 0, earlier audio is cut at the sample), so slots,
manifests and results computed on either are interchangeable.

The keyframe of slot boundary ``b`` is the frame *on screen* at ``b`` (the last frame with time <= b), chosen by
timestamp, so it holds for any frame rate, NTSC rates and variable frame rate alike: every window starting at a
boundary decodes from its own keyframe. An output is written under a hidden temporary name and renamed when
complete, and carries a tag (its settings, the source's size and mtime) in its metadata: what tvssl prepare made
is told apart from anything else by that tag.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from data_modules.media import title_span

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


def source_facts(src: Path) -> dict[str, int]:
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
    facts = source_facts(src_path)
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


def read_tag(container: av.container.InputContainer) -> dict | None:
    """The tvssl prepare tag of an output, None when the file carries none (not made by tvssl prepare)."""
    try:
        tag = json.loads(container.metadata.get("comment", ""))
    except json.JSONDecodeError:
        return None
    return tag.get(TAG) if isinstance(tag, dict) else None


def made_by_prepare(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a media file that carries the tvssl prepare tag."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return read_tag(container) is not None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return False
