"""Which demuxer options a media file is opened with: full probing, unless its header already says everything.

By default FFmpeg reads packets after the header to fill in stream parameters. For a 5-second 44.1 kHz PCM WAVE (an
ESC-50 clip) that analysis took 28 ms of the 29 ms an open costs, and the ESC-50 probe opens each file twice per
pass. A PCM WAVE's ``fmt `` chunk states codec, rate, channels and sample size, so the streams, their durations
and every decoded sample are the same without it (tests/test_decoding.py). Other formats keep full probing: an
MP4 opens in about 2 ms and an AVI in under 1 ms anyway, and the headers of MPEG-TS and MPEG-PS recordings do not
describe every stream.
"""

from __future__ import annotations

from pathlib import Path

PCM_WAVE_TAGS = frozenset({1, 3})
"""WAVE format tags (integer and float PCM) whose ``fmt `` chunk alone says everything a decoder needs."""

HEADER_ONLY_OPTIONS = {"probesize": "32"}
"""FFmpeg's smallest probe: the header is parsed and no packet is analysed."""

WAVE_HEAD_BYTES = 46
"""RIFF header (12), ``fmt `` chunk header (8), and a WAVE_FORMAT_EXTENSIBLE body up to its sub-format tag."""


def demuxer_options(path: Path) -> dict[str, str] | None:
    """The options for ``av.open`` of ``path``: header-only for PCM WAVE files, FFmpeg's defaults otherwise."""
    return HEADER_ONLY_OPTIONS if is_pcm_wave(path) else None


def is_pcm_wave(path: Path) -> bool:
    """Whether ``path`` is a RIFF WAVE file whose first chunk declares PCM samples.

    Read from the file's first bytes: the container magic, then the ``fmt `` chunk's format tag (for
    WAVE_FORMAT_EXTENSIBLE, the tag that opens its sub-format). A file that cannot be read, or holds anything
    else, is not.
    """
    try:
        with path.open("rb") as f:
            head = f.read(WAVE_HEAD_BYTES)
    except OSError:
        return False
    if len(head) < 22 or head[0:4] != b"RIFF" or head[8:16] != b"WAVEfmt ":
        return False
    tag = int.from_bytes(head[20:22], "little")
    if tag == 0xFFFE and len(head) >= WAVE_HEAD_BYTES:
        tag = int.from_bytes(head[44:46], "little")
    return tag in PCM_WAVE_TAGS
