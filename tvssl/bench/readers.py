"""The readers the decode bench compares, all with one signature: ``(path, starts, spec) -> Clips``.

* ``read_per_clip``: what typical loaders do, one open + seek + forward decode + close per clip;
* ``read_grouped``: the suite's ``read_windows``, every clip of a group with one open, in time order;
* ``read_forward`` over consecutive windows: the sequential limit, a span decoded front to back;
* ``torchcodec_reader``: the same clips through torchcodec, when it imports (it needs system FFmpeg libraries).

The per-clip and sequential readers share ``read_forward``, a deliberately plain PyAV decoder: it is the
baseline, so it must not have the grouped reader's tricks. It chooses frames and places audio by the same rules
as ``read_windows`` (tests prove the clips are equal), so the bench compares ways of decoding, not outputs.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np

from data_modules.decoding import AUDIO_PREROLL_SECONDS, Clips, ClipSpec, DecodeStats, read_windows
from data_modules.media import open_media, title_span
from data_modules.video_geometry import display_size

Reader = Callable[[str | os.PathLike, Sequence[Fraction], ClipSpec], Clips]
"""What every reader of the bench is: the windows ``[start, start + slot)`` of one title as ``Clips``."""


def _frames(container: av.container.InputContainer, stream: av.stream.Stream, stats: DecodeStats) -> Iterator:
    """Decoded frames of one stream from the current position (the demuxer's final empty packet flushes)."""
    for packet in container.demux(stream):
        if stream.type == "video":
            stats.video_packets += 1
        yield from packet.decode()


def read_forward(path: str | os.PathLike, starts: Sequence[Fraction], spec: ClipSpec) -> Clips:
    """Windows ``[start, start + slot)`` with ONE open and ONE seek per stream, decoding forward through all.

    This is a second PyAV decoder on purpose: it is the baseline being measured, not a reader for training.
    With one window it is the typical loader's per-clip read (no skipping of unneeded frames, no run planning,
    every frame from the keyframe decoded); with consecutive windows it is a sequential pass over a span.
    Frame choice (the frame on screen at each target time), scaler and audio placement follow the same rules
    as ``read_windows``, so both return the same clips and only the way of decoding differs.
    """
    stats = DecodeStats()
    order = sorted(Fraction(s) for s in starts)
    with open_media(path) as container:
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
    height, width = display_size(stream, spec.short_side)
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
    container.seek(math.floor((first - AUDIO_PREROLL_SECONDS) / tb), stream=stream, backward=True)
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
    """The typical loader (torchvision / pytorchvideo style): every window on its own, open + seek + decode
    forward + convert + close, one decoder thread; the needed frames only are converted, with our scaler."""
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
            with open_media(path) as container:
                origin, _ = title_span(container)
                self.origins[path] = (origin, display_size(container.streams.video[0], self.spec.short_side))
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


def torchcodec_reader(spec: ClipSpec) -> tuple[Reader | None, str]:
    """The torchcodec reader, or None and why not (it is optional and needs system FFmpeg libraries)."""
    try:
        return _TorchcodecReader(spec), ""
    except Exception as exc:  # ImportError, or OSError/RuntimeError when its FFmpeg libraries are missing
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def read_grouped(path: str | os.PathLike, starts: Sequence[Fraction], spec: ClipSpec) -> Clips:
    """The suite's reader, as training uses it: ``read_windows`` on the whole group."""
    return read_windows(path, starts, spec)
