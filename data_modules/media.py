"""What one media file holds: its streams, where its title time starts and how long it lasts.

The index and the decoder must agree on what "second t of a title" means, so both get it from here:
title time 0 is the later of the first video and first audio timestamps, and the duration is the span
in which both streams have content. Times are exact ``Fraction`` seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av


class MediaError(Exception):
    """A file cannot serve as a title; ``reason`` is a short, stable label for manifests and summaries."""

    def __init__(self, path: str | os.PathLike, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class MediaInfo:
    """Stream facts of one title, as the index records them."""

    start: Fraction
    duration: Fraction
    container: str
    video_codec: str
    fps: float
    width: int
    height: int
    audio_codec: str
    sample_rate: int
    channels: int


def stream_span(
    stream: av.stream.Stream, container: av.container.InputContainer
) -> tuple[Fraction, Fraction]:
    """(start, end) of one stream in seconds, falling back to the container's figures when the stream has none."""
    tb = stream.time_base
    if stream.start_time is not None and tb is not None:
        start = Fraction(stream.start_time) * tb
    elif container.start_time is not None:
        start = Fraction(container.start_time, av.time_base)
    else:
        start = Fraction(0)
    if stream.duration is not None and tb is not None:
        return start, start + Fraction(stream.duration) * tb
    if container.duration is not None:
        container_start = Fraction(container.start_time or 0, av.time_base)
        return start, container_start + Fraction(container.duration, av.time_base)
    return start, start


def title_span(container: av.container.InputContainer) -> tuple[Fraction, Fraction]:
    """(origin, duration) in seconds: where title time 0 lies in container time, and how long both streams overlap."""
    if not container.streams.video:
        raise MediaError(container.name, "no video stream")
    if not container.streams.audio:
        raise MediaError(container.name, "no audio stream")
    v_start, v_end = stream_span(container.streams.video[0], container)
    a_start, a_end = stream_span(container.streams.audio[0], container)
    origin = max(v_start, a_start)
    return origin, max(Fraction(0), min(v_end, a_end) - origin)


def open_media(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading; raise ``MediaError`` (empty file, unreadable, not media) when it cannot be."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise MediaError(p, "unreadable", exc.strerror or str(exc)) from exc
    if size == 0:
        raise MediaError(p, "empty file")
    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise MediaError(p, "not media", str(exc)) from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(p, "unreadable", str(exc)) from exc


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read the headers of ``path``; raise ``MediaError`` with a specific reason when it cannot be a title."""
    container = open_media(path)
    with container:
        origin, duration = title_span(container)
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        rate = video.average_rate or video.guessed_rate or video.base_rate
        return MediaInfo(
            start=origin,
            duration=duration,
            container=container.format.name,
            video_codec=video.codec_context.name,
            fps=float(rate) if rate else 0.0,
            width=video.codec_context.width,
            height=video.codec_context.height,
            audio_codec=audio.codec_context.name,
            sample_rate=audio.codec_context.sample_rate,
            channels=audio.codec_context.channels,
        )
