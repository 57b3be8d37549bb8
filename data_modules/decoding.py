"""Reading (video clip, audio clip) pairs out of long media files, fast and by timestamp.

Decoding is the bottleneck of long-form training, so one call reads every window of a group with a single
container open, walks the windows in time order, keeps going forward instead of seeking when the next window is
close, and lets the decoder drop non-reference frames that no target needs. Frames are chosen by presentation
time (the frame on screen at each target time), never by index, so frame rate, VFR and container do not matter.
Packets the decoder rejects before the wanted frames (MPEG-PS/TS/VOB after a seek) are skipped and counted;
only a wanted frame that cannot be decoded fails the window. Audio lives in ``data_modules.audio_reading``.
All times are exact ``Fraction`` seconds; title time 0 is where ``media.read_title_span`` (or, for one
modality, ``media.stream_span``) puts it, the same origin the index uses.
"""

from __future__ import annotations

import bisect
import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from data_modules.audio_reading import (
    AUDIO_PAD_SECONDS,
    AUDIO_PREROLL_SECONDS,
    AudioDecoder,
)
from data_modules.media import declared_span, read_title_span, stream_span

__all__ = [
    "AUDIO_PAD_SECONDS",
    "AUDIO_PREROLL_SECONDS",
    "ClipDecodeError",
    "ClipSpec",
    "Clips",
    "DecodeStats",
    "read_clips",
    "read_windows",
]

FORWARD_SECONDS = Fraction(5)
"""Keep decoding forward (no seek) when the next window starts at most this long after the previous one ends."""

LOOKAHEAD_SECONDS = Fraction(1, 2)
"""Demux this far beyond a frame before deciding whether it is needed: longer than any B-frame reordering."""


def _exact(value: Fraction | int | float | str, name: str) -> Fraction:
    """Fractions stay exact; floats go through their shortest decimal repr so 0.1 means 1/10."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        result = value if isinstance(value, Fraction) else Fraction(str(value))
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise ValueError(f"{name} must be a finite number, got {value!r}") from exc
    return result


@dataclass(frozen=True)
class ClipSpec:
    """What one window yields: the whole slot of audio and ``num_frames`` video frames centred in it."""

    slot_seconds: Fraction = Fraction(2)
    num_frames: int = 8
    frame_rate: Fraction = Fraction(16)
    sample_rate: int = 16000
    short_side: int = 128

    def __post_init__(self) -> None:
        slot = _exact(self.slot_seconds, "slot_seconds")
        rate = _exact(self.frame_rate, "frame_rate")
        object.__setattr__(self, "slot_seconds", slot)
        object.__setattr__(self, "frame_rate", rate)
        for name in ("num_frames", "sample_rate", "short_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"ClipSpec.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if slot <= 0:
            raise ValueError(f"ClipSpec.slot_seconds must be > 0, got {slot}")
        if rate <= 0:
            raise ValueError(f"ClipSpec.frame_rate must be > 0, got {rate}")
        if self.short_side % 2:
            raise ValueError(
                f"ClipSpec.short_side must be even (video frames have even sizes), got {self.short_side}"
            )
        if self.clip_seconds > slot:
            raise ValueError(
                f"ClipSpec: {self.num_frames} frames at {rate} fps last {float(self.clip_seconds):g} s, longer than "
                f"the {float(slot):g} s slot; lower num_frames, raise frame_rate or lengthen slot_seconds"
            )
        if (slot * self.sample_rate).denominator != 1:
            raise ValueError(
                f"ClipSpec: a {slot} s slot at {self.sample_rate} Hz is {float(slot * self.sample_rate):g} samples, "
                "not a whole number; choose slot_seconds and sample_rate whose product is an integer"
            )

    @property
    def clip_seconds(self) -> Fraction:
        return self.num_frames / self.frame_rate

    @property
    def audio_samples(self) -> int:
        return int(self.slot_seconds * self.sample_rate)

    def frame_offsets(self) -> list[Fraction]:
        """Target times of the video frames relative to the window start: the clip is centred in the slot."""
        lead = (self.slot_seconds - self.clip_seconds) / 2
        return [lead + Fraction(i) / self.frame_rate for i in range(self.num_frames)]


class ClipDecodeError(RuntimeError):
    """A window could not be read; the caller replaces it (another slot of the title) and counts it."""

    def __init__(self, path: str | os.PathLike, time: float, reason: str) -> None:
        self.path = str(path)
        self.time = float(time)
        self.reason = reason
        super().__init__(f"{self.path}: cannot read the clip at title time {self.time:.3f} s: {reason}")

    def __reduce__(self) -> tuple:
        # Survives pickling between DataLoader workers and the main process with its fields intact.
        return (type(self), (self.path, self.time, self.reason))


@dataclass
class DecodeStats:
    """Work done by one call, so benchmarks can report what was decoded and thrown away per returned frame."""

    seeks: int = 0
    video_packets: int = 0
    frames_decoded: int = 0
    frames_returned: int = 0
    audio_frames_decoded: int = 0
    packets_skipped: int = 0
    """Video and audio packets the decoder rejected and that no returned frame or sample needed."""


@dataclass
class Clips:
    """Decoded windows in the order requested; a modality that was not asked for is ``None``."""

    video: np.ndarray | None
    audio: np.ndarray | None
    stats: DecodeStats | None = field(default=None, compare=False)


def read_clips(
    path: str | os.PathLike,
    slots: Sequence[int],
    spec: ClipSpec,
    offset: Fraction = Fraction(0),
    *,
    video: bool = True,
    audio: bool = True,
) -> Clips:
    """Slot ``j`` covers title time ``[offset + j * slot, offset + (j + 1) * slot)``; see ``read_windows``."""
    base = _exact(offset, "offset")
    starts = [base + int(j) * spec.slot_seconds for j in slots]
    return read_windows(path, starts, spec, video=video, audio=audio)


def read_windows(
    path: str | os.PathLike,
    starts: Sequence[Fraction | int | float | str],
    spec: ClipSpec,
    *,
    video: bool = True,
    audio: bool = True,
) -> Clips:
    """Decode the windows ``[start, start + slot)`` (title seconds) of one file with one open.

    Video is ``uint8 [n, num_frames, H, W, 3]`` with the short side scaled to ``spec.short_side``; audio is
    ``float32 [n, audio_samples]`` mono. Any failure raises ``ClipDecodeError`` naming file and title time.
    """
    if not (video or audio):
        raise ValueError("read_windows needs video=True or audio=True")
    windows = [_exact(s, "window start") for s in starts]
    stats = DecodeStats()
    first = float(min(windows)) if windows else 0.0
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise ClipDecodeError(path, first, f"cannot open the file ({exc})") from exc
    reader = _Reader(path, container, spec, windows, video, audio, stats)
    with container:
        try:
            return reader.run()
        except ClipDecodeError:
            raise
        except Exception as exc:
            # av, numpy and OS errors alike: callers handle one exception type and replace the clip.
            raise ClipDecodeError(
                path, float(reader.current), f"decoding failed ({type(exc).__name__}: {exc})"
            ) from exc


class _Reader:
    """One call's plan: title origin, output arrays, and the windows grouped into forward-decoding runs."""

    def __init__(
        self,
        path: str | os.PathLike,
        container: av.container.InputContainer,
        spec: ClipSpec,
        windows: list[Fraction],
        video: bool,
        audio: bool,
        stats: DecodeStats,
    ) -> None:
        self.path = path
        self.container = container
        self.spec = spec
        self.windows = windows
        self.want_video = video
        self.want_audio = audio
        self.stats = stats
        self.current = min(windows) if windows else Fraction(0)

    def fail(self, time: Fraction, reason: str) -> ClipDecodeError:
        return ClipDecodeError(self.path, float(time), reason)

    def run(self) -> Clips:
        c = self.container
        vstream = self._stream("video") if self.want_video else None
        astream = self._stream("audio") if self.want_audio else None
        if vstream is not None and astream is not None:
            origin, duration = read_title_span(c)
        else:
            start, end = stream_span(vstream if vstream is not None else astream, c)
            origin, duration = start, end - start
        spec = self.spec
        for start in self.windows:
            if start < 0:
                raise self.fail(start, "the window starts before the title (negative start)")
            if duration > 0 and start + spec.slot_seconds > duration:
                raise self.fail(
                    start,
                    f"the window [{float(start):.3f}, {float(start + spec.slot_seconds):.3f}) s lies beyond the end "
                    f"of the title ({float(duration):.3f} s)",
                )
        n = len(self.windows)
        video_out = audio_out = None
        vreader = areader = None
        if vstream is not None:
            vreader = _VideoDecoder(self, vstream, origin)
            height, width = vreader.size
            video_out = np.empty((n, spec.num_frames, height, width, 3), dtype=np.uint8)
        if astream is not None:
            areader = AudioDecoder(self, astream, origin, declared_span(astream, c)[0])
            audio_out = np.zeros((n, spec.audio_samples), dtype=np.float32)
        for run in self._runs():
            self.current = self.windows[run[0]]
            if vreader is not None:
                vreader.read_run(run, video_out)
            if areader is not None:
                areader.read_run(run, audio_out)
        return Clips(video=video_out, audio=audio_out, stats=self.stats)

    def _stream(self, kind: str) -> av.stream.Stream:
        streams = self.container.streams.video if kind == "video" else self.container.streams.audio
        if not streams:
            raise self.fail(self.current, f"no {kind} stream in the file")
        stream = streams[0]
        stream.codec_context.thread_count = 1
        return stream

    def _runs(self) -> list[list[int]]:
        """Window indices in time order, cut into runs wherever the gap to the next window warrants a seek."""
        order = sorted(range(len(self.windows)), key=lambda i: self.windows[i])
        runs: list[list[int]] = []
        end: Fraction | None = None
        for i in order:
            start = self.windows[i]
            if end is None or start > end + FORWARD_SECONDS:
                runs.append([])
            runs[-1].append(i)
            end = start + self.spec.slot_seconds if end is None else max(end, start + self.spec.slot_seconds)
        return runs


def _display_size(stream: av.video.stream.VideoStream, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side at ``short_side``, display aspect kept, both even."""
    cc = stream.codec_context
    width, height = cc.width, cc.height
    if not width or not height:
        raise ValueError("the video stream does not declare its frame size")
    sar = cc.sample_aspect_ratio or stream.sample_aspect_ratio
    display_w = Fraction(width) * (Fraction(sar) if sar and sar > 0 else 1)
    display_h = Fraction(height)
    short, long = sorted((display_w, display_h))
    long_out = max(2, 2 * round(short_side * long / short / 2))
    return (short_side, long_out) if display_h <= display_w else (long_out, short_side)


class _VideoDecoder:
    """Forward decoding of one video stream, choosing frames by timestamp and skipping what nobody needs."""

    def __init__(self, reader: _Reader, stream: av.video.stream.VideoStream, origin: Fraction) -> None:
        self.reader = reader
        self.stream = stream
        self.cc = stream.codec_context
        self.tb = Fraction(stream.time_base)
        self.origin = origin
        self.size = _display_size(stream, reader.spec.short_side)
        start = stream.start_time
        self.first_ticks = start if start is not None else None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        self.nominal_ticks = max(1, math.ceil(1 / (Fraction(rate) * self.tb)))
        self.lookahead = max(1, math.ceil(LOOKAHEAD_SECONDS / self.tb))
        self.offsets = reader.spec.frame_offsets()
        self.reformatter = av.video.reformatter.VideoReformatter()  # keeps its scaler between frames

    def read_run(self, run: list[int], out: np.ndarray) -> None:
        windows = self.reader.windows
        targets = sorted(
            (math.floor((self.origin + windows[w] + off) / self.tb), w, i)
            for w in run
            for i, off in enumerate(self.offsets)
        )
        _VideoRun(self, targets, out).decode()

    def ticks_to_title(self, ticks: int) -> Fraction:
        return ticks * self.tb - self.origin

    def convert(self, frame: av.VideoFrame) -> np.ndarray:
        height, width = self.size
        self.reader.stats.frames_returned += 1
        rgb = self.reformatter.reformat(
            frame, width=width, height=height, format="rgb24", interpolation="AREA"
        )
        return rgb.to_ndarray()


class _VideoRun:
    """One seek, then packets demuxed ahead, fed from the last useful keyframe, frames matched to targets.

    A target (threshold ``th`` in stream ticks) takes the last frame with ``pts <= th``. A packet is needed only
    if some open target falls between its pts and the next known pts; all others are decoded with
    ``skip_frame = NONREF``, so the decoder drops the non-reference ones and still keeps the references right.
    """

    def __init__(self, dec: _VideoDecoder, targets: list[tuple[int, int, int]], out: np.ndarray) -> None:
        self.dec = dec
        self.cc = dec.cc
        self.stats = dec.reader.stats
        self.ths = [t[0] for t in targets]
        self.slots = [(t[1], t[2]) for t in targets]
        self.out = out
        self.ti = 0
        self.cand: av.VideoFrame | None = None
        self.cand_end = 0
        self.converted: tuple[av.VideoFrame | None, np.ndarray | None] = (None, None)
        self.pending: deque[av.Packet] = deque()
        self.seen: list[int] = []
        self.packets: Iterator[av.Packet] = iter(())
        self.eof = False
        self.fed = False
        self.skipping = False

    def decode(self) -> None:
        try:
            self._decode()
        finally:
            self._set_skip(False)

    def window_time(self) -> Fraction:
        """Title start of the window whose frame is being looked for: what errors report."""
        return self.dec.reader.windows[self.slots[min(self.ti, len(self.slots) - 1)][0]]

    def _decode(self) -> None:
        self.cc.skip_frame = "DEFAULT"
        self._seek(self.ths[0])
        drained = False
        while self.ti < len(self.ths):
            th = self.ths[self.ti]
            self._demux_until(th + self.dec.lookahead)
            self._jump_to_keyframe(th)
            current = self.ti
            while self.ti == current:
                if self.pending:
                    packet = self.pending.popleft()
                    if packet.pts is not None:
                        self._demux_until(packet.pts + self.dec.lookahead)
                    needed = self._needed(packet.pts)
                    self._set_skip(not needed)
                    frames = self._decode_packet(packet, needed)
                    self.fed = True
                    self.stats.video_packets += 1
                elif not self.eof:
                    self._demux_one()
                    continue
                elif not drained:
                    self._set_skip(False)
                    frames = self.cc.decode(None)
                    drained = True
                else:
                    self._finish_at_end()
                    return
                for frame in frames:
                    self._take(frame)

    def _decode_packet(self, packet: av.Packet, needed: bool) -> list[av.VideoFrame]:
        """Decode one packet; one the decoder rejects is skipped (pre-roll after a seek) unless a target needs it."""
        try:
            return self.cc.decode(packet)
        except av.error.InvalidDataError:
            if needed:
                at = "" if packet.pts is None else f" at {float(self.dec.ticks_to_title(packet.pts)):.3f} s"
                raise self.dec.reader.fail(
                    self.window_time(), f"the video frame{at} cannot be decoded (damaged data)"
                ) from None
            self.stats.packets_skipped += 1
            return []

    def _seek(self, th: int) -> None:
        """Seek to the keyframe at or before ``th``; demuxers that land on a later keyframe are walked back."""
        ts = th
        first = self.dec.first_ticks
        while True:
            self.dec.reader.container.seek(ts, stream=self.dec.stream, backward=True, any_frame=False)
            self.stats.seeks += 1
            self.cc.flush_buffers()
            self.fed = False
            self.pending.clear()
            self.seen = []
            self.eof = False
            self.packets = iter(self.dec.reader.container.demux(self.dec.stream))
            key = self._first_keyframe()
            at_start = first is None or ts <= first
            if key is None:
                if at_start:
                    raise self.dec.reader.fail(self.window_time(), "no decodable video (no keyframe found)")
            elif key.pts is None or key.pts <= th or at_start:
                return
            anchor = None if key is None else (key.dts if key.dts is not None else key.pts)
            ts = (
                min(ts - self.dec.lookahead, anchor - 1)
                if anchor is not None
                else ts - 2 * self.dec.lookahead
            )

    def _first_keyframe(self) -> av.Packet | None:
        """Drop packets before the first keyframe after a seek: nothing before it can be decoded."""
        while not self.eof:
            self._demux_one()
            while self.pending and not self.pending[0].is_keyframe:
                self.pending.popleft()
            if self.pending:
                return self.pending[0]
        return None

    def _demux_one(self) -> None:
        packet = next(self.packets, None)
        if packet is None or packet.size == 0:
            self.eof = True
            return
        self.pending.append(packet)
        if packet.pts is not None:
            bisect.insort(self.seen, packet.pts)

    def _demux_until(self, ticks: int) -> None:
        while not self.eof and (not self.seen or self.seen[-1] <= ticks):
            self._demux_one()

    def _jump_to_keyframe(self, th: int) -> None:
        """Start decoding at the last keyframe at or before the target: everything earlier is superseded."""
        last = None
        for i, packet in enumerate(self.pending):
            if packet.is_keyframe and packet.pts is not None and packet.pts <= th:
                last = i
        if last is None or (last == 0 and not self.fed):
            return
        for _ in range(last):
            self.pending.popleft()
        if self.fed:
            self.cc.flush_buffers()
            self.fed = False
        self.cand = None

    def _needed(self, pts: int | None) -> bool:
        if pts is None:
            return True
        j = bisect.bisect_left(self.ths, pts, lo=self.ti)
        if j >= len(self.ths):
            return False
        k = bisect.bisect_right(self.seen, pts)
        return k >= len(self.seen) or self.ths[j] < self.seen[k]

    def _set_skip(self, skip: bool) -> None:
        if skip != self.skipping:
            self.cc.skip_frame = "NONREF" if skip else "DEFAULT"
            self.skipping = skip

    def _take(self, frame: av.VideoFrame) -> None:
        """Match one decoded frame (in presentation order) against the open targets."""
        self.stats.frames_decoded += 1
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            raise self.dec.reader.fail(self.window_time(), "decoded video frames carry no timestamps")
        while self.ti < len(self.ths) and pts > self.ths[self.ti]:
            self._assign(self.cand if self.cand is not None else frame)
        if self.ti < len(self.ths):
            self.cand = frame
            duration = getattr(frame, "duration", None) or self.dec.nominal_ticks
            self.cand_end = pts + max(duration, self.dec.nominal_ticks)

    def _assign(self, frame: av.VideoFrame) -> None:
        if self.converted[0] is not frame:
            self.converted = (frame, self.dec.convert(frame))
        w, i = self.slots[self.ti]
        self.out[w, i] = self.converted[1]
        self.ti += 1

    def _finish_at_end(self) -> None:
        """The stream ended: the last frame stays on screen for its duration, later targets are past the end."""
        while self.ti < len(self.ths):
            th = self.ths[self.ti]
            if self.cand is None or th >= self.cand_end:
                end = self.dec.ticks_to_title(self.cand_end) if self.cand is not None else None
                where = (
                    f"the video stream ends at {float(end):.3f} s (past its end, or the file is truncated or corrupt)"
                    if end is not None
                    else "no video frames could be decoded"
                )
                wanted = float(self.dec.ticks_to_title(th))
                raise self.dec.reader.fail(
                    self.window_time(), f"{where}, before the frame wanted at {wanted:.3f} s"
                )
            self._assign(self.cand)
