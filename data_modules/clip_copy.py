"""A clip-exact copy: per slot, exactly the clip training reads, so a clip costs its own frames and nothing else.

Every training clip is a fixed function of its slot (``ClipSpec``: ``num_frames`` at ``frame_rate`` centred in
the slot, the whole slot of audio), so ``tvssl prepare --clip-exact`` (``data_modules.clip_copy_writer``) keeps
just that, in one file per title (``.clips``):

    prefix   magic ``TVSSLCLP``, layout version (uint32), header length (uint32)
    header   JSON: the tvssl prepare tag (settings, clip spec, slots, title duration, source, frame size)
    index    int64 x (num_slots + 1): where each slot's record starts, relative to the first record
    records  per slot: the slot's audio (int16 x audio_samples, mono at the training rate, full scale
             ``AUDIO_FULL_SCALE``), then the clip's frames at the training short side as ``num_frames``
             H.264 packets (uint32 length + Annex B bytes): one closed group of pictures, no B-frames, an IDR
             with its parameter sets first, so each clip decodes alone.

Reading a clip is four ``pread`` calls (prefix, header, index entry, record), a fresh decoder (microseconds),
``num_frames`` small decodes and one block of samples: no container to open, no index to parse, and the same
cost for a 2-hour title as for a 10-minute one. Decoding stays with FFmpeg through PyAV; only the packets' home is ours.

The copy holds nothing else, so it serves only the spec it was made for: its header and its manifest rows
(``clip_spec``) name that spec; a datamodule with another spec refuses the manifest at set-up
(``require_clip_spec``), and a read with another spec fails naming both.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from data_modules.clip_spec import (
    ClipDecodeError,
    Clips,
    ClipSpec,
    DecodeStats,
    spec_from_key,
    spec_key,
    spec_text,
)

MAGIC = b"TVSSLCLP"
CLIP_COPY_VERSION = 1
"""Version of this layout; copies of another version are made again by tvssl prepare."""

CLIP_COPY_SUFFIX = ".clips"
PREFIX = struct.Struct("<8sII")
LENGTH = struct.Struct("<I")

AUDIO_FULL_SCALE = 2
"""Audio value of 16-bit full scale: AAC and other lossy decoders give samples beyond +-1, kept up to +-2."""

AUDIO_STEP = AUDIO_FULL_SCALE / 32768
"""One 16-bit step in audio units; the copy's audio is within half of it of what the source reader gave."""

_REFORMATTER = av.video.reformatter.VideoReformatter()
"""One per process: it keeps its FFmpeg scaler context between calls while the frame size stays the same."""


class ClipSpecMismatch(ValueError):
    """A manifest of clip-exact copies is used with a clip spec other than the one they were made for."""


@dataclass(frozen=True)
class ClipCopyHeader:
    """The prefix, header and where the index and records start, read from an open copy."""

    tag: dict
    index_start: int
    data_start: int

    @property
    def num_slots(self) -> int:
        return int(self.tag["num_slots"])


def index_start(header_bytes: int) -> int:
    return PREFIX.size + header_bytes


def encode_header(tag: dict) -> bytes:
    """Prefix and header of a copy with ``tag``; the index follows."""
    text = json.dumps(tag, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return PREFIX.pack(MAGIC, CLIP_COPY_VERSION, len(text)) + text


def _read_header(fd: int) -> ClipCopyHeader | None:
    prefix = os.pread(fd, PREFIX.size, 0)
    if len(prefix) < PREFIX.size or not prefix.startswith(MAGIC):
        return None
    _, version, size = PREFIX.unpack(prefix)
    text = os.pread(fd, size, PREFIX.size)
    try:
        tag = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        tag = {}
    tag = tag if isinstance(tag, dict) else {}
    tag["layout_version"] = version
    start = index_start(size)
    return ClipCopyHeader(tag, start, start + 8 * (int(tag.get("num_slots", 0)) + 1))


def clip_copy_header(path: str | os.PathLike) -> ClipCopyHeader | None:
    """The header of a clip-exact copy, None for any other file (or no readable file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_header(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def mismatch_reason(made_for: str, wanted: ClipSpec) -> str:
    """Why a copy made for ``made_for`` (a ``spec_key``) cannot serve ``wanted``, naming both specs."""
    try:
        made = spec_text(spec_from_key(made_for))
    except ValueError:
        made = made_for
    return f"it is a clip-exact copy made for clips of {made}; this run reads clips of {spec_text(wanted)}"


def require_clip_spec(
    manifest: str | os.PathLike,
    rows: Iterable[tuple[str, str]],
    spec: ClipSpec,
    head: Fraction = Fraction(0),
) -> None:
    """Refuse, before any worker starts, a manifest of clip-exact copies that cannot serve ``spec``.

    ``rows`` are (path, clip_spec) of the manifest's usable rows; a source file has an empty clip_spec.
    """
    wanted = spec_key(spec)
    for path, made_for in rows:
        if not made_for:
            continue
        if made_for != wanted:
            raise ClipSpecMismatch(
                f"{manifest}: {path}: {mismatch_reason(made_for, spec)}; set the datamodule's clip settings "
                "(slot_seconds, num_frames, frame_rate, sample_rate, short_side) to the copy's, or prepare the "
                "copy again with `tvssl prepare SRC_MANIFEST DST --clip-exact` and this run's values"
            )
        if (head / spec.slot_seconds).denominator != 1:
            raise ClipSpecMismatch(
                f"{manifest}: skip_head_seconds={float(head):g} is not a whole number of {spec.slot_seconds} s "
                "slots, and a clip-exact copy holds the clips of its slots from title time 0 only; set "
                "skip_head_seconds to a multiple of slot_seconds"
            )


def read_clip_copy(
    path: str | os.PathLike,
    windows: Sequence[Fraction],
    spec: ClipSpec,
    *,
    video: bool = True,
    audio: bool = True,
) -> Clips | None:
    """The windows ``[start, start + slot)`` of a clip-exact copy as ``decoding.read_windows`` gives them; None
    when ``path`` is no clip-exact copy (the caller reads it as media).

    Every window must start on one of the copy's slots; ``ClipDecodeError`` otherwise, when the copy was made
    for another spec (naming both) and when a record is cut short or does not decode.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            header = _read_header(fd)
        except OSError:
            header = None  # a folder, a device: not a copy; the media reader says what it is
        if header is None:
            return None
        return _read(fd, path, header, windows, spec, video, audio)
    except OSError as exc:
        raise ClipDecodeError(path, float(min(windows, default=0)), f"cannot read the copy ({exc})") from exc
    finally:
        os.close(fd)


def _read(
    fd: int,
    path: str | os.PathLike,
    header: ClipCopyHeader,
    windows: Sequence[Fraction],
    spec: ClipSpec,
    want_video: bool,
    want_audio: bool,
) -> Clips:
    tag = header.tag
    first = float(min(windows, default=0))
    if tag.get("layout_version") != CLIP_COPY_VERSION or "spec" not in tag:
        raise ClipDecodeError(
            path,
            first,
            f"clip-exact copy of layout version {tag.get('layout_version')}, unreadable header or "
            f"not version {CLIP_COPY_VERSION}; prepare it again",
        )
    if tag["spec"] != spec_key(spec):
        raise ClipDecodeError(path, first, mismatch_reason(str(tag["spec"]), spec))
    slots = [_slot_of(path, start, spec, header.num_slots) for start in windows]
    stats = DecodeStats()
    height, width = int(tag["height"]), int(tag["width"])
    video = np.empty((len(slots), spec.num_frames, height, width, 3), np.uint8) if want_video else None
    audio = np.empty((len(slots), spec.audio_samples), np.float32) if want_audio else None
    audio_bytes = 2 * spec.audio_samples
    for i in sorted(range(len(slots)), key=slots.__getitem__):
        record = _record(fd, path, header, slots[i], spec)
        if len(record) < audio_bytes:
            raise ClipDecodeError(path, float(slots[i] * spec.slot_seconds), "the record is cut short")
        if audio is not None:
            samples = np.frombuffer(record, np.int16, spec.audio_samples)
            np.multiply(samples, np.float32(AUDIO_STEP), out=audio[i], casting="unsafe")
            stats.audio_frames_decoded += 1
        if video is not None:
            _decode_clip(record, audio_bytes, video[i], stats, path, slots[i] * spec.slot_seconds)
    return Clips(video=video, audio=audio, stats=stats)


def _slot_of(path: str | os.PathLike, start: Fraction, spec: ClipSpec, num_slots: int) -> int:
    slot = start / spec.slot_seconds
    if slot.denominator != 1 or not 0 <= slot < num_slots:
        raise ClipDecodeError(
            path,
            float(start),
            f"a clip-exact copy holds the clips of slots 0..{num_slots - 1} ({spec.slot_seconds} s each, from "
            f"title time 0); {float(start):g} s is not the start of one",
        )
    return int(slot)


def _record(fd: int, path: str | os.PathLike, header: ClipCopyHeader, slot: int, spec: ClipSpec) -> bytes:
    bounds = os.pread(fd, 16, header.index_start + 8 * slot)
    if len(bounds) < 16:
        raise ClipDecodeError(path, float(slot * spec.slot_seconds), "the index is cut short")
    begin, end = struct.unpack("<qq", bounds)
    if not 0 <= begin <= end:
        raise ClipDecodeError(path, float(slot * spec.slot_seconds), "the index is damaged")
    record = os.pread(fd, end - begin, header.data_start + begin)
    if len(record) < end - begin:
        raise ClipDecodeError(
            path, float(slot * spec.slot_seconds), "the record is cut short (truncated copy)"
        )
    return record


def _decode_clip(
    record: bytes, at: int, out: np.ndarray, stats: DecodeStats, path: str | os.PathLike, time: Fraction
) -> None:
    """The clip's packets through a fresh decoder: frames leave as their packets enter (no B-frames)."""
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1
    got = 0
    try:
        packets = []
        while at < len(record):
            (size,) = LENGTH.unpack_from(record, at)
            packets.append(av.Packet(record[at + LENGTH.size : at + LENGTH.size + size]))
            at += LENGTH.size + size
        for packet in [*packets, None]:
            for frame in decoder.decode(packet):
                stats.frames_decoded += 1
                if got < len(out):
                    out[got] = _REFORMATTER.reformat(frame, format="rgb24").to_ndarray()
                got += 1
            if got >= len(out):
                break
        stats.video_packets += len(packets)
    except (av.error.FFmpegError, struct.error, ValueError) as exc:
        raise ClipDecodeError(
            path, float(time), f"the clip does not decode ({type(exc).__name__}: {exc})"
        ) from exc
    if got < len(out):
        raise ClipDecodeError(
            path, float(time), f"the clip has {got} of its {len(out)} frames (damaged copy)"
        )
    stats.frames_returned += len(out)
