"""A video stream's frame rate and the size its frames are scaled to, from its headers.

The decoder, ``tvssl prepare`` and the index all size and time frames from these, so a prepared copy has the
decoder's sizes and every reader steps through a stream at the same nominal rate.
"""

from __future__ import annotations

from fractions import Fraction

import av

FALLBACK_FRAME_RATE = Fraction(25)
"""Frame rate assumed for a video stream that declares none (raw streams); only sizes look-ahead and gaps."""


def declared_frame_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's frame rate as its headers give it (average, else guessed, else the base rate), or None.

    The average rate is what VFR and NTSC streams really show; the others are FFmpeg's fallbacks for
    containers that do not store it.
    """
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else None


def frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """``declared_frame_rate``, or ``FALLBACK_FRAME_RATE`` for a stream that declares none."""
    return declared_frame_rate(stream) or FALLBACK_FRAME_RATE


def scaled_size(width: int, height: int, sar: Fraction | None, short_side: int) -> tuple[int, int]:
    """(height, width) of a ``width`` x ``height`` picture with pixel aspect ``sar`` scaled to ``short_side``.

    The display aspect is kept (anamorphic DVDs are stored narrow) and both sides are even, as yuv420p
    encoders need; the decoder and ``tvssl prepare`` both use it, so a prepared copy has the decoder's sizes.
    """
    display_w = Fraction(width) * (Fraction(sar) if sar and sar > 0 else 1)
    display_h = Fraction(height)
    short, long = sorted((display_w, display_h))
    long_out = max(2, 2 * round(short_side * long / short / 2))
    return (short_side, long_out) if display_h <= display_w else (long_out, short_side)


def display_size(stream: av.video.stream.VideoStream, short_side: int) -> tuple[int, int]:
    """(height, width) frames of ``stream`` are scaled to (``scaled_size`` of its declared size and SAR).

    The codec's aspect ratio wins over the container's: it is what the decoder applies.
    """
    cc = stream.codec_context
    if not cc.width or not cc.height:
        raise ValueError("the video stream does not declare its frame size")
    sar = cc.sample_aspect_ratio or stream.sample_aspect_ratio
    return scaled_size(cc.width, cc.height, Fraction(sar) if sar else None, short_side)
