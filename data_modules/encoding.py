"""Writing media files: the one way the suite opens an output, and its H.264 / AAC encoder set-up.

Two writers make MP4 titles: the synthetic corpus (``data_modules.synthetic.writer``) and the training copy of
``tvssl prepare`` (``data_modules.transcode``); the clip-exact copy (``data_modules.clip_copy_writer``) keeps raw
H.264 packets. All must give files the readers take the same way, so all get their encoders from here:
single-threaded and without libx264's macroblock tree (so the same pixels give the same bytes in every run, see
``X264_DETERMINISTIC``), yuv420p H.264 and AAC with the caller's rate, options and time base. Every file is written
under a hidden temporary name beside its final one and renamed only when complete, so an interrupted run never
leaves a half file for the indexer (which skips hidden names) or a resumed ``tvssl prepare`` to trip over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AAC_FRAME = 1024
"""Samples per AAC frame: writers feed the encoder whole frames; an encoder pads its last one to this."""


X264_DETERMINISTIC = "mbtree=0"
"""libx264 parameters every H.264 encoder here gets. libx264's macroblock tree uses memory it never wrote
(memcheck: four uses of uninitialised values inside libx264 while copying one 6-second title), so even one thread
gave different bitstreams for the same pixels now and then: the same 20 frames encoded 150 times in one process,
other allocations in between, gave 7, 4 and 3 bitstreams at 48x32, 64x48 and 176x128. With the tree off memcheck
finds none, and one bitstream came out at every size tried (48x32 to 228x128, the clip-exact and the training
copy's settings). The tree only moves bits between the frames of a GOP; ultrafast (the synthetic corpus) has it
off anyway. ``tests/test_encoding.py`` runs every writer under memcheck."""


def _with_x264_determinism(options: dict[str, str]) -> dict[str, str]:
    params = options.get("x264-params", "")
    return {**options, "x264-params": f"{params}:{X264_DETERMINISTIC}" if params else X264_DETERMINISTIC}


@contextmanager
def partial_file(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside ``path`` for an encoder to write to, renamed to ``path`` only on success.

    Encoders need a real file name, so ``atomic_write.write_atomic`` (which takes the content) does not fit; the
    hidden ``.<name>.partial`` is removed if writing fails.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.partial")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def create_media(path: str | os.PathLike, format: str) -> av.container.OutputContainer:
    """Open ``path`` for writing as ``format`` (``mp4``, ``avi``, ``wav``); the only ``av.open`` for output."""
    return av.open(str(path), mode="w", format=format)


@contextmanager
def writing_media(path: str | os.PathLike, format: str) -> Iterator[av.container.OutputContainer]:
    """An output container that becomes ``path`` once closed without error (``partial_file`` + ``create_media``)."""
    with partial_file(path) as tmp, create_media(tmp, format) as container:
        yield container


def add_h264_stream(
    out: av.container.OutputContainer,
    rate: int | Fraction,
    width: int,
    height: int,
    options: dict[str, str],
    time_base: Fraction,
) -> av.video.stream.VideoStream:
    """A deterministic libx264 yuv420p stream of ``width`` x ``height``; ``options`` set preset, GOP, quality.

    Frames handed to it must carry timestamps in ``time_base`` (the codec's time base is set to it).
    """
    stream = out.add_stream("libx264", rate=rate, options=_with_x264_determinism(options))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.thread_count = 1
    stream.codec_context.time_base = time_base
    return stream


def h264_encoder(
    rate: int | Fraction, width: int, height: int, options: dict[str, str]
) -> av.video.codeccontext.VideoCodecContext:
    """A deterministic libx264 yuv420p encoder outside any container (the clip-exact copy keeps its packets).

    Frames handed to it count in frames: their ``pts`` is the frame number.
    """
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = 1 / Fraction(rate)
    encoder.framerate = Fraction(rate)
    encoder.thread_count = 1
    encoder.options = _with_x264_determinism(options)
    return encoder


def add_aac_stream(out: av.container.OutputContainer, rate: int, layout: str) -> av.audio.stream.AudioStream:
    """A single-threaded AAC stream at ``rate`` Hz with channel ``layout`` (``mono``, ``stereo``, ...)."""
    stream = out.add_stream("aac", rate=rate, layout=layout)
    stream.codec_context.thread_count = 1
    return stream


def audio_frame(planes: np.ndarray, format: str, layout: str, sample_rate: int, pts: int) -> av.AudioFrame:
    """A frame of ``planes`` (channels x samples, in ``format``'s dtype) starting at sample ``pts``.

    Its time base is one sample, so ``pts`` is the running sample count: encoders then place audio exactly.
    """
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes), format=format, layout=layout)
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame
