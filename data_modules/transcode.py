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
complete (``data_modules.encoding``, which also sets up the encoders, as for the synthetic corpus), and carries
a tag (its settings, the source's size and mtime) in its metadata: what tvssl prepare made is told apart from
anything else by that tag. Sizes, frame rates and title spans come from ``data_modules.media``, as the decoder's.
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

from data_modules.clip_copy import clip_copy_header
from data_modules.clip_spec import ClipSpec, spec_key
from data_modules.encoding import add_aac_stream, add_h264_stream, audio_frame, create_media, partial_file
from data_modules.exact_time import exact_seconds
from data_modules.media import MediaError, open_media, title_span
from data_modules.video_geometry import display_size, frame_rate

TAG = "tvssl_prepare"
"""Key of the JSON object in the output's ``comment`` metadata that says how and from what it was made."""

TAG_VERSION = 1
AUDIO_GAP_SECONDS = Fraction(1, 100)
"""Audio timestamps further than this from the running sample count are a real gap (filled with silence)."""

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
    clips: ClipSpec | None = None
    """Set for a clip-exact copy (``data_modules.clip_copy``): only the clips of this spec are kept."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyframe_every", exact_seconds(self.keyframe_every, "keyframe_every"))
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

        if self.clips is not None:
            implied = {
                "short_side": self.clips.short_side,
                "keyframe_every": self.clips.slot_seconds,
                "audio_rate": self.clips.sample_rate,
            }
            wrong = {k: getattr(self, k) for k, v in implied.items() if getattr(self, k) != v}
            if wrong:
                raise ValueError(
                    f"a clip-exact copy takes short side, slot and audio rate from its clip spec {implied}, "
                    f"not {wrong}"
                )

    @classmethod
    def clip_exact(cls, spec: ClipSpec, crf: int = 23, preset: str = "veryfast") -> PrepareSettings:
        """Settings of a clip-exact copy for ``spec``: its short side, slot and audio rate are the spec's."""
        return cls(spec.short_side, spec.slot_seconds, crf, preset, spec.sample_rate, spec)

    def as_tag(self) -> dict[str, object]:
        tag = {**asdict(self), "keyframe_every": str(self.keyframe_every)}
        del tag["clips"]
        if self.clips is not None:
            tag["clips"] = spec_key(self.clips)
        return tag


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
        rate = frame_rate(source)
        self.nominal = 1 / rate
        self.height, self.width = display_size(source, settings.short_side)
        options = {
            "preset": settings.preset,
            "crf": str(settings.crf),
            "forced-idr": "1",
            "x264-params": "scenecut=0",
        }
        self.stream = add_h264_stream(out, rate, self.width, self.height, options, self.tb_out)
        self.stream.time_base = self.tb_out
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
        self.stream = add_aac_stream(out, self.rate, self.layout)
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
        frame = audio_frame(
            planes.astype(np.float32, copy=False), "fltp", self.layout, self.rate, self.written
        )
        self.written += planes.shape[1]
        for packet in self.stream.encode(frame):
            self.out.mux(packet)


def transcode_title(
    src: str | os.PathLike, dst: str | os.PathLike, settings: PrepareSettings
) -> dict[str, object]:
    """Write the training copy of one title at ``dst`` (atomically) and return the tag stored in it.

    The title's span is ``media.title_span``'s, read from the packets at both ends (Matroska stores no stream
    durations, a cut file declares its whole length), so the copy ends where the source's content does.
    """
    src_path = Path(src)
    facts = source_facts(src_path)
    with partial_file(dst) as partial, open_media(src_path) as source:
        origin, duration = title_span(source)
        vin, ain = source.streams.video[0], source.streams.audio[0]
        vin.codec_context.thread_count = 1
        ain.codec_context.thread_count = 1
        tag = {
            "version": TAG_VERSION,
            "settings": settings.as_tag(),
            "source": {**facts, "duration": str(duration), "frame": str(1 / frame_rate(vin))},
        }
        with create_media(partial, "mp4") as out:
            out.metadata["comment"] = json.dumps({TAG: tag}, separators=(",", ":"))
            video = _VideoOut(out, vin, origin, settings, duration)
            audio = _AudioOut(out, ain, origin, settings)
            for packet in source.demux(vin, ain):
                target = video if packet.stream is vin else audio
                for frame in packet.decode():
                    target.push(frame)
            video.finish()
            audio.finish()
    return tag


def read_tag(container: av.container.InputContainer) -> dict | None:
    """The tvssl prepare tag of an output, None when the file carries none (not made by tvssl prepare)."""
    try:
        tag = json.loads(container.metadata.get("comment", ""))
    except json.JSONDecodeError:
        return None
    return tag.get(TAG) if isinstance(tag, dict) else None


def made_by_prepare(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a clip-exact copy or a media file that carries the tvssl prepare tag."""
    if clip_copy_header(path) is not None:
        return True
    try:
        with open_media(path) as container:
            return read_tag(container) is not None
    except (MediaError, av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return False
