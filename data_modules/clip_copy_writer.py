"""Making and verifying the clip-exact copy (layout: ``data_modules.clip_copy``) of one title.

The copy is made by the source reader itself: the title's slots are read with ``decoding.read_clips`` in runs of
consecutive slots (one pass forward through the file) and what it returns, the training clips, is encoded. So
the copy holds, up to the codec's error, the clips training would have read from the source, with the same
frame choice, scaler and audio placement: there is no second definition of a clip to drift from the first.
Written under a temporary name and renamed when complete (``encoding.partial_file``).
"""

from __future__ import annotations

import math
import os
import struct
from collections import deque
from pathlib import Path

import av
import numpy as np

from data_modules.clip_copy import (
    AUDIO_FULL_SCALE,
    CLIP_COPY_VERSION,
    LENGTH,
    clip_copy_header,
    encode_header,
    read_clip_copy,
)
from data_modules.clip_spec import ClipDecodeError, ClipSpec, spec_key
from data_modules.decoding import read_clips
from data_modules.encoding import h264_encoder, partial_file
from data_modules.media import open_media, title_span
from data_modules.transcode import PrepareSettings, source_facts

READ_RUN = 32
"""Consecutive slots read from the source per call: one forward pass, bounded memory (32 clips of frames)."""


def write_clip_copy(
    src: str | os.PathLike, dst: str | os.PathLike, settings: PrepareSettings
) -> dict[str, object]:
    """Write the clip-exact copy of ``src`` for ``settings.clips`` at ``dst`` (atomically); return its header."""
    spec = settings.clips
    if spec is None:
        raise ValueError("write_clip_copy needs settings made by PrepareSettings.clip_exact")
    src_path = Path(src)
    facts = source_facts(src_path)
    with open_media(src_path) as source:
        _, duration = title_span(source)
    num_slots = math.floor(duration / spec.slot_seconds)
    if num_slots < 1:
        raise ValueError(f"the title lasts {float(duration):.3f} s, less than one {spec.slot_seconds} s slot")
    runs = (range(a, min(num_slots, a + READ_RUN)) for a in range(0, num_slots, READ_RUN))
    first = next(runs)
    clips = read_clips(src_path, first, spec)
    height, width = clips.video.shape[2:4]
    tag: dict[str, object] = {
        "settings": settings.as_tag(),
        "spec": spec_key(spec),
        "num_slots": num_slots,
        "duration": str(duration),
        "source": facts,
        "width": int(width),
        "height": int(height),
        "video": "h264 annexb, no B-frames, one closed GOP per clip",
        "audio": f"s16le mono, full scale {AUDIO_FULL_SCALE}",
    }
    with partial_file(dst) as partial, open(partial, "wb") as out:
        out.write(encode_header(tag))
        index_at = out.tell()
        out.write(bytes(8 * (num_slots + 1)))
        encoder = _ClipEncoder(spec, settings, width, height)
        offsets = [0]

        def write(records: list[bytes]) -> None:
            for record in records:
                out.write(record)
                offsets.append(offsets[-1] + len(record))

        for run in (first, *runs):
            if run is not first:
                clips = read_clips(src_path, run, spec)
            for i in range(len(run)):
                write(encoder.add(clips.video[i], clips.audio[i]))
        write(encoder.finish())
        if len(offsets) != num_slots + 1:
            raise ValueError(f"{len(offsets) - 1} records written for {num_slots} slots")
        out.seek(index_at)
        out.write(np.asarray(offsets, dtype="<i8").tobytes())
    return tag


class _ClipEncoder:
    """Records in slot order: a slot's audio block, then its clip as a closed group of H.264 packets.

    One encoder for the title: without B-frames every frame gives one packet, in order, so the packets of a
    slot are the next ``num_frames`` ones out, however long the encoder's look-ahead holds them.
    """

    def __init__(self, spec: ClipSpec, settings: PrepareSettings, width: int, height: int) -> None:
        self.spec = spec
        options = {
            "preset": settings.preset,
            "crf": str(settings.crf),
            "tune": "fastdecode",
            "forced-idr": "1",
            # No B-frames: a frame leaves the decoder as its packet enters it. Parameter sets before every IDR:
            # each clip decodes alone, with a fresh decoder.
            "x264-params": f"bframes=0:keyint={spec.num_frames}:scenecut=0:repeat-headers=1:annexb=1",
        }
        self.encoder = h264_encoder(spec.frame_rate, width, height, options)
        self.reformatter = av.video.reformatter.VideoReformatter()
        self.audio: deque[bytes] = deque()
        self.packets: deque[bytes] = deque()
        self.frames = 0

    def add(self, frames: np.ndarray, samples: np.ndarray) -> list[bytes]:
        """Queue the next slot; return the records whose packets are all out."""
        scaled = np.clip(np.round(samples * (32768 / AUDIO_FULL_SCALE)), -32768, 32767).astype("<i2")
        self.audio.append(scaled.tobytes())
        for i, rgb in enumerate(frames):
            frame = self.reformatter.reformat(
                av.VideoFrame.from_ndarray(rgb, format="rgb24"), format="yuv420p"
            )
            frame.pts = self.frames
            self.frames += 1
            frame.pict_type = av.video.frame.PictureType.I if i == 0 else av.video.frame.PictureType.NONE
            self.packets.extend(bytes(p) for p in self.encoder.encode(frame))
        return self._ready()

    def finish(self) -> list[bytes]:
        self.packets.extend(bytes(p) for p in self.encoder.encode(None))
        records = self._ready()
        if self.audio or self.packets:
            raise ValueError(
                f"the encoder gave {self.frames - len(self.packets)} packets for {self.frames} frames"
            )
        return records

    def _ready(self) -> list[bytes]:
        records = []
        n = self.spec.num_frames
        while self.audio and len(self.packets) >= n:
            clip = [self.packets.popleft() for _ in range(n)]
            records.append(self.audio.popleft() + b"".join(LENGTH.pack(len(p)) + p for p in clip))
        return records


def check_clip_copy(dst: str | os.PathLike, src: str | os.PathLike, settings: PrepareSettings) -> str | None:
    """None when ``dst`` is a complete clip-exact copy of ``src`` made with ``settings``; else why to redo it."""
    path = Path(dst)
    if not path.is_file():
        return "no output yet"
    if path.stat().st_size == 0:
        return "empty output"
    spec = settings.clips
    assert spec is not None
    header = clip_copy_header(path)
    if header is None:
        return "output is not a clip-exact copy (not made by tvssl prepare --clip-exact)"
    tag = header.tag
    if tag.get("layout_version") != CLIP_COPY_VERSION or tag.get("settings") != settings.as_tag():
        return f"output was made with other settings ({tag.get('settings')})"
    if tag.get("source") != source_facts(Path(src)):
        return "the source changed since the output was made"
    try:
        with open(path, "rb") as fh:
            fh.seek(header.index_start + 8 * header.num_slots)
            (end,) = struct.unpack("<q", fh.read(8))
        if path.stat().st_size != header.data_start + end:
            return "the copy is cut short or has trailing bytes (incomplete or corrupt)"
        ends = sorted({0, header.num_slots - 1})
        read_clip_copy(path, [j * spec.slot_seconds for j in ends], spec)
    except ClipDecodeError as exc:
        return f"the copy does not read to its last slot (corrupt: {exc.reason})"
    except (OSError, struct.error, ValueError, KeyError) as exc:
        return f"unreadable output ({type(exc).__name__}: {exc})"
    return None
