"""What one media file holds: its streams, where its title time starts and how long it lasts.

The index and the decoder must agree on what "second t of a title" means, so both get it from here: title time
0 is where both streams have started and the duration runs to where the first of them ends. Headers are not
trusted for either: Ogg Vorbis declares the start of a first packet that decodes to nothing, MP4 declares a
late AAC stream from its encoder priming on, Matroska stores no stream durations, MPEG program streams
estimate theirs, and a file cut short still declares its whole length. So both ends are read from packets: the
first ones (a keyframe for video; for audio, what the decoder keeps of the first packets) and the last ones
(found with one seek near the declared end, or by bisection when the data stops earlier). Times are exact
``Fraction`` seconds.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from data_modules.clip_copy import clip_copy_header
from data_modules.clip_spec import spec_from_key
from data_modules.demuxer_options import demuxer_options
from data_modules.video_geometry import declared_frame_rate

HEAD_PACKETS = 4096
"""Packets read from the start to find each stream's first keyframe or samples (captures start mid-GOP)."""

TAIL_SECONDS = Fraction(2)
"""The last packets are looked for from this long before a declared end; bisection stops this close."""

PRIMING_CODECS = frozenset({"aac", "ac3", "eac3", "mp2", "mp3", "vorbis"})
"""Audio codecs whose first packet decodes to encoder priming (Vorbis: to nothing): audio starts after it."""

TAIL_CHECK_PACKETS = 4
"""Last audio packets decoded to make sure they are whole (a cut file's last packet is often partial)."""

SPAN_CACHE_SIZE = 4096
"""Spans remembered per process, keyed by path, size and mtime: workers read the same titles again."""

_spans: OrderedDict[tuple, tuple[Fraction, Fraction]] = OrderedDict()


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
    clip_spec: str = ""
    """For a clip-exact copy, the ``clip_spec.spec_key`` of the clips it holds; empty for any other file."""


def declared_span(
    stream: av.stream.Stream, container: av.container.InputContainer
) -> tuple[Fraction, Fraction]:
    """(start, end) of one stream as its headers say, falling back to the container's figures when it has none."""
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


def stream_span(
    stream: av.stream.Stream, container: av.container.InputContainer
) -> tuple[Fraction, Fraction]:
    """(start, end) in seconds of the content of one stream of a freshly opened container.

    Reads packets at both ends, so the container's read position is left anywhere: seek before demuxing.
    """
    return _cached(container, ("stream", stream.index), lambda: _measure(container, [stream])[0])


def read_title_span(container: av.container.InputContainer) -> tuple[Fraction, Fraction]:
    """(origin, duration) in seconds of a freshly opened container, read from its own packets.

    For callers that seek before they demux (the decoder, ``probe``): the read position is left anywhere.
    """
    video, audio = _title_streams(container)
    return _cached(container, ("title",), lambda: _overlap(_measure(container, [video, audio])))


def title_span(container: av.container.InputContainer) -> tuple[Fraction, Fraction]:
    """(origin, duration) in seconds: where title time 0 lies in container time, and how long both streams
    overlap.

    The packets are read through a second handle on the same file, so ``container`` stays where it is: callers
    may demux from the start right after this (seeking back cannot restore every demuxer's first packets).
    """
    video, audio = _title_streams(container)

    def measure() -> tuple[Fraction, Fraction]:
        with open_media(container.name) as other:
            pair = [other.streams[video.index], other.streams[audio.index]]
            return _overlap(_measure(other, pair))

    return _cached(container, ("title",), measure)


def open_media(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading; raise ``MediaError`` (empty file, unreadable, not media) when it cannot be.

    The one place media is opened for reading: every reader gets the same options (container metadata that is
    not UTF-8 is skipped, not fatal) and the same error type, which each caller turns into its own.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise MediaError(p, "unreadable", exc.strerror or str(exc)) from exc
    if size == 0:
        raise MediaError(p, "empty file")
    try:
        return av.open(str(p), metadata_errors="ignore", options=demuxer_options(p))
    except av.error.InvalidDataError as exc:
        raise MediaError(p, "not media", str(exc)) from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(p, "unreadable", str(exc)) from exc


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read the headers and end packets of ``path``; ``MediaError`` with a specific reason if it is no title.

    A clip-exact copy (``data_modules.clip_copy``) is described by its header: its title's span and its clips.
    """
    copy = clip_copy_header(path)
    if copy is not None:
        return _clip_copy_info(path, copy.tag)
    container = open_media(path)
    with container:
        origin, duration = read_title_span(container)
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        rate = declared_frame_rate(video)
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


def _clip_copy_info(path: str | os.PathLike, tag: dict) -> MediaInfo:
    try:
        spec = spec_from_key(tag["spec"])
        return MediaInfo(
            start=Fraction(0),
            duration=Fraction(tag["duration"]),
            container="tvssl clips",
            video_codec="h264",
            fps=float(spec.frame_rate),
            width=int(tag["width"]),
            height=int(tag["height"]),
            audio_codec="pcm_s16le",
            sample_rate=spec.sample_rate,
            channels=1,
            clip_spec=tag["spec"],
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise MediaError(path, "unreadable", f"damaged clip-exact copy header ({exc})") from exc


def _title_streams(container: av.container.InputContainer) -> tuple[av.stream.Stream, av.stream.Stream]:
    if not container.streams.video:
        raise MediaError(container.name, "no video stream")
    if not container.streams.audio:
        raise MediaError(container.name, "no audio stream")
    return container.streams.video[0], container.streams.audio[0]


def _overlap(spans: list[tuple[Fraction, Fraction]]) -> tuple[Fraction, Fraction]:
    origin = max(start for start, _ in spans)
    return origin, max(Fraction(0), min(end for _, end in spans) - origin)


def _cached(
    container: av.container.InputContainer, key: tuple, compute: Callable[[], tuple[Fraction, Fraction]]
) -> tuple[Fraction, Fraction]:
    """``compute()``, remembered while the file keeps its size and modification time."""
    try:
        st = os.stat(container.name)
    except (OSError, TypeError, ValueError):
        return compute()
    full = (os.path.abspath(container.name), st.st_size, st.st_mtime_ns, *key)
    if full in _spans:
        _spans.move_to_end(full)
        return _spans[full]
    value = compute()
    _spans[full] = value
    if len(_spans) > SPAN_CACHE_SIZE:
        _spans.popitem(last=False)
    return value


def _measure(
    container: av.container.InputContainer, streams: list[av.stream.Stream]
) -> list[tuple[Fraction, Fraction]]:
    """(start, end) of each stream: first packets from where the container stands, then the last ones."""
    declared = [declared_span(s, container) for s in streams]
    starts = _first_times(container, streams)
    spans = []
    for stream, (d_start, d_end), first in zip(streams, declared, starts):
        start = d_start if first is None else max(d_start, first)
        end = _last_time(container, stream, start, d_end)
        spans.append((start, d_end if end is None else end))
    return spans


def _first_times(
    container: av.container.InputContainer, streams: list[av.stream.Stream]
) -> list[Fraction | None]:
    """Where each stream's decodable content begins, from the first packets (None: not found in the head).

    Video: the first keyframe (nothing before it decodes). Audio: the first packet; for codecs that prime, the
    second. (The headers' start still counts as a floor: it includes the samples a demuxer tells the decoder
    to drop, such as Opus pre-skip in Matroska.)
    """
    found: dict[int, Fraction] = {}
    audio_first: dict[int, Fraction] = {}
    wanted = {s.index: s for s in streams}
    try:
        for count, packet in enumerate(container.demux(*streams)):
            if count >= HEAD_PACKETS or len(found) == len(wanted):
                break
            stream = wanted.get(packet.stream.index)
            if stream is None or packet.pts is None or stream.index in found or not packet.size:
                continue
            t = packet.pts * Fraction(stream.time_base)
            if stream.type == "video":
                if packet.is_keyframe:
                    found[stream.index] = t
            elif stream.index in audio_first:
                found[stream.index] = max(audio_first[stream.index], t)
            else:
                audio_first[stream.index] = t
                if stream.codec_context.name not in PRIMING_CODECS:
                    found[stream.index] = t
    except (av.error.FFmpegError, OSError):
        pass  # a damaged head: whatever was found stands, the rest comes from the headers
    return [found.get(s.index, audio_first.get(s.index)) for s in streams]


def _last_time(
    container: av.container.InputContainer, stream: av.stream.Stream, start: Fraction, declared_end: Fraction
) -> Fraction | None:
    """Where the stream's last whole packet ends; when the data stops before the declared end, bisect for it."""
    target = max(start, declared_end - TAIL_SECONDS)
    ticks, last = _tail(container, stream, target)
    if ticks is None:
        lo, hi = start, target
        while hi - lo > TAIL_SECONDS:
            mid = (lo + hi) / 2
            if _reaches(container, stream, mid):
                lo = mid
            else:
                hi = mid
        ticks, last = _tail(container, stream, lo)
    if ticks is None:
        return None
    tb = Fraction(stream.time_base)
    end = ticks * tb
    if stream.type == "audio":
        whole = _last_whole(container, stream, last)
        if whole is not None:
            end = min(end, (whole.pts + (whole.duration or 0)) * tb)
    return end


def _packets(
    container: av.container.InputContainer, stream: av.stream.Stream, time: Fraction
) -> Iterator[av.Packet]:
    """The stream's intact packets from a seek to ``time`` on, until the data ends or stops being readable."""
    try:
        container.seek(
            math.floor(time / Fraction(stream.time_base)), stream=stream, backward=True, any_frame=True
        )
        for packet in container.demux(stream):
            if packet.pts is not None and packet.size and not packet.is_corrupt:
                yield packet
    except (av.error.FFmpegError, OSError):
        return  # cut short or damaged here: what was read before stands


def _tail(
    container: av.container.InputContainer, stream: av.stream.Stream, time: Fraction
) -> tuple[int | None, list[av.Packet]]:
    """Latest packet end (pts + duration, ticks) from ``time`` to the end of the data, and the last packets."""
    end: int | None = None
    last: deque[av.Packet] = deque(maxlen=TAIL_CHECK_PACKETS)
    for packet in _packets(container, stream, time):
        packet_end = packet.pts + (packet.duration or 0)
        end = packet_end if end is None else max(end, packet_end)
        last.append(packet)
    return end, list(last)


def _reaches(container: av.container.InputContainer, stream: av.stream.Stream, time: Fraction) -> bool:
    """Whether the stream's data goes on to ``time``: a packet at or after it is read after a seek there."""
    tb = Fraction(stream.time_base)
    return any(packet.pts * tb >= time for packet in _packets(container, stream, time))


def _last_whole(
    container: av.container.InputContainer, stream: av.stream.Stream, last: list[av.Packet]
) -> av.Packet | None:
    """The last of ``last`` that a decoder accepts (None: none checked); a cut file's final one may be partial.

    A decoder that has seen the end of the stream keeps state that flushing does not clear (AAC's first samples
    after a seek come out different), so the first read of a file would differ from every later one: the
    packets go to the decoder of a second handle on the file. PCM decoders keep no state between packets and
    use ``container``'s own, which saves the second open (about 10 ms, a third of reading a short clip).
    """
    cc = stream.codec_context
    if cc is None or not last:
        return None
    if cc.name.startswith("pcm_"):
        cc.flush_buffers()
        whole = _accepted(cc, last)
        cc.flush_buffers()
        return whole
    with open_media(container.name) as other:
        fresh = other.streams[stream.index].codec_context
        fresh.thread_count = 1
        return _accepted(fresh, last)


def _accepted(cc: av.CodecContext, packets: list[av.Packet]) -> av.Packet | None:
    """The last of ``packets`` that ``cc`` decodes without an error."""
    whole = None
    for packet in packets:
        try:
            cc.decode(packet)
            whole = packet
        except av.error.FFmpegError:
            continue
    return whole
