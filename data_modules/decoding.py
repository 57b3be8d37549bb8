"""Reading (video clip, audio clip) pairs out of long media files, fast and by timestamp.

Decoding is the bottleneck of long-form training, so one call reads every window of a group with a single
container open, walks the windows in time order, keeps going forward instead of seeking when the next window is
close, and lets the decoder drop non-reference frames that no target needs. Frames are chosen by presentation
time (the frame on screen at each target time), never by index, so frame rate, VFR and container do not matter.
This module plans the runs; the video half lives in ``data_modules.video_reading``, the audio half in
``data_modules.audio_reading``, the types they share in ``data_modules.clip_spec`` (re-exported here).
All times are exact ``Fraction`` seconds; title time 0 is where ``media.read_title_span`` (or, for one
modality, ``media.stream_span``) puts it, the same origin the index uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

from data_modules.audio_reading import (
    AUDIO_PAD_SECONDS,
    AUDIO_PREROLL_SECONDS,
    AudioDecoder,
)
from data_modules.clip_copy import read_clip_copy
from data_modules.clip_spec import ClipDecodeError, Clips, ClipSpec, DecodeStats
from data_modules.exact_time import ExactInput, exact_seconds
from data_modules.media import MediaError, declared_span, open_media, read_title_span, stream_span
from data_modules.video_reading import VideoDecoder

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
    base = exact_seconds(offset, "offset")
    starts = [base + int(j) * spec.slot_seconds for j in slots]
    return read_windows(path, starts, spec, video=video, audio=audio)


def read_windows(
    path: str | os.PathLike,
    starts: Sequence[ExactInput],
    spec: ClipSpec,
    *,
    video: bool = True,
    audio: bool = True,
) -> Clips:
    """Decode the windows ``[start, start + slot)`` (title seconds) of one file with one open.

    Video is ``uint8 [n, num_frames, H, W, 3]`` with the short side scaled to ``spec.short_side``; audio is
    ``float32 [n, audio_samples]`` mono. Any failure raises ``ClipDecodeError`` naming file and title time.
    A clip-exact copy (its tag says so) is read by ``data_modules.clip_copy``, any other file from its packets.
    """
    if not (video or audio):
        raise ValueError("read_windows needs video=True or audio=True")
    windows = [exact_seconds(s, "window start") for s in starts]
    copied = read_clip_copy(path, windows, spec, video=video, audio=audio)
    if copied is not None:
        return copied
    stats = DecodeStats()
    first = float(min(windows)) if windows else 0.0
    try:
        container = open_media(path)
    except MediaError as exc:
        why = f"{exc.reason}: {exc.detail}" if exc.detail else exc.reason
        raise ClipDecodeError(path, first, f"cannot open the file ({why})") from exc
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
            vreader = VideoDecoder(self, vstream, origin)
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
