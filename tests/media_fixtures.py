"""Generated test media whose pixels and samples say what time they are.

Tests that read clips must prove *which* frames and samples came back, so every video frame draws its own
presentation time as a grid of large black/white cells (24 bits of milliseconds, readable after lossy coding and
after scaling down to a quarter), and the audio is a periodic chirp: a known function of time, so
cross-correlating decoded samples against it measures where in time they lie to well under a millisecond.
Nothing is committed: files are encoded with PyAV on the fly, tiny and short so tests stay fast.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

GRID_ROWS = 4
GRID_COLS = 6
BITS = GRID_ROWS * GRID_COLS

CHIRP_PERIOD = 1.0
CHIRP_LOW_HZ = 300.0
CHIRP_HIGH_HZ = 3300.0  # (low + high) / 2 is an integer, so the phase is continuous at every period wrap
CHIRP_AMPLITUDE = 0.3

_DEFAULT_CODECS = {
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".avi": ("mpeg4", "pcm_s16le"),
    ".wav": (None, "pcm_s16le"),
    ".mpg": ("mpeg1video", "mp2"),
    ".vob": ("mpeg2video", "ac3"),
    ".ts": ("mpeg2video", "mp2"),
    # This PyAV build has no Theora encoder; VP8 is the other video codec FFmpeg's Ogg muxer carries.
    ".ogv": ("libvpx", "vorbis"),
}
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "5.1": 6}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_CODEC_RATES = {
    "mp2": (16000, 22050, 24000, 32000, 44100, 48000),
    "ac3": (32000, 44100, 48000),
    "libopus": _OPUS_RATES,
}


def draw_time(milliseconds: int, width: int, height: int) -> np.ndarray:
    """An RGB frame whose cell grid spells ``milliseconds`` in binary, most significant bit first."""
    if not 0 <= milliseconds < 2**BITS:
        raise ValueError(f"time {milliseconds} ms does not fit in {BITS} bits")
    bits = [(milliseconds >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    cells = np.array(bits, dtype=np.uint8).reshape(GRID_ROWS, GRID_COLS) * 255
    rows = (np.arange(height) * GRID_ROWS) // height
    cols = (np.arange(width) * GRID_COLS) // width
    gray = cells[rows[:, None], cols[None, :]]
    return np.repeat(gray[:, :, None], 3, axis=2)


def frame_time(rgb: np.ndarray) -> float:
    """Seconds drawn in a decoded frame ``[H, W, 3]`` (any scale), read from the centre of every grid cell."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] frame, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    luma = rgb.astype(np.float32).mean(axis=2)
    value = 0
    for r in range(GRID_ROWS):
        y0, y1 = (r * height) // GRID_ROWS, ((r + 1) * height) // GRID_ROWS
        ym0, ym1 = y0 + (y1 - y0) // 4, max(y0 + (y1 - y0) // 4 + 1, y1 - (y1 - y0) // 4)
        for c in range(GRID_COLS):
            x0, x1 = (c * width) // GRID_COLS, ((c + 1) * width) // GRID_COLS
            xm0, xm1 = x0 + (x1 - x0) // 4, max(x0 + (x1 - x0) // 4 + 1, x1 - (x1 - x0) // 4)
            bit = int(luma[ym0:ym1, xm0:xm1].mean() > 127.5)
            value = (value << 1) | bit
    return value / 1000.0


def chirp(times: np.ndarray) -> np.ndarray:
    """The reference audio at ``times`` (stream seconds): a sweep from low to high that repeats every period."""
    tau = np.mod(np.asarray(times, dtype=np.float64), CHIRP_PERIOD) / CHIRP_PERIOD
    sweep = CHIRP_HIGH_HZ - CHIRP_LOW_HZ
    phase = 2 * np.pi * CHIRP_PERIOD * (CHIRP_LOW_HZ * tau + 0.5 * sweep * tau * tau)
    return (CHIRP_AMPLITUDE * np.sin(phase)).astype(np.float32)


def audio_time(samples: np.ndarray, sample_rate: int, guess: float, search: float = 0.25) -> float:
    """Stream time (seconds) at which ``samples[0]`` lies, found by correlating with the chirp near ``guess``.

    Raises ``ValueError`` when nothing resembling the chirp is there (silence, wrong signal).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1 or x.size < sample_rate // 20:
        raise ValueError(f"need >= 50 ms of mono samples, got shape {x.shape}")
    if search >= CHIRP_PERIOD / 2:
        raise ValueError(f"search must be < {CHIRP_PERIOD / 2} s: the chirp repeats every {CHIRP_PERIOD} s")
    lag = int(round(search * sample_rate))
    ref = chirp(guess + (np.arange(x.size + 2 * lag) - lag) / sample_rate).astype(np.float64)
    size = 1 << int(np.ceil(np.log2(ref.size + x.size)))
    corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(x, size)), size)[: 2 * lag + 1]
    best = int(np.argmax(corr))
    window = ref[best : best + x.size]
    score = corr[best] / (np.linalg.norm(window) * np.linalg.norm(x) + 1e-12)
    if score < 0.5:
        raise ValueError(f"no chirp found near {guess:.3f} s (best normalised correlation {score:.2f})")
    return guess + (best - lag) / sample_rate


def _frame_times(seconds: Fraction, fps: Fraction, vfr: bool) -> list[Fraction]:
    """Presentation times: regular at ``fps``, or cycling durations of 1/2, 1 and 3/2 frames (same mean rate)."""
    times: list[Fraction] = []
    t = Fraction(0)
    steps = (Fraction(1, 2), Fraction(1), Fraction(3, 2)) if vfr else (Fraction(1),)
    i = 0
    while t < seconds:
        times.append(t)
        t += steps[i % len(steps)] / fps
        i += 1
    return times


def write_media(
    path: str | os.PathLike,
    *,
    seconds: float,
    fps: float | Fraction = 25,
    width: int = 96,
    height: int = 64,
    vcodec: str | None = None,
    gop: int | None = None,
    vfr: bool = False,
    sample_rate: int = 16000,
    layout: str = "mono",
    acodec: str | None = None,
    video: bool = True,
    audio: bool = True,
    video_start: float = 0.0,
    audio_start: float = 0.0,
    audio_gaps: Sequence[tuple[float, float]] = (),
    audio_jitter: Sequence[tuple[float, float, float]] = (),
    faststart: bool = False,
    grain: int = 0,
    video_bit_rate: int | None = None,
) -> Path:
    """Encode a test file; the container comes from the suffix, codecs default to that container's usual pair.

    Each frame draws its container time in milliseconds (see ``frame_time``); the audio is ``chirp`` of the
    container time, the same signal in every channel. ``gop`` fixes the keyframe interval in frames.
    ``fps`` 23.976 and 29.97 mean the NTSC rates 24000/1001 and 30000/1001; ``vfr`` cycles frame durations of
    1/2, 1 and 3/2 nominal frames. ``video_start`` / ``audio_start`` delay a stream's first timestamp (seconds),
    so a reader that gets the title origin wrong is caught (MP4 then declares the AAC stream as starting at 0,
    with the encoder's priming output before the real start).

    ``audio_gaps`` are ``(start, stop)`` spans (seconds) with no audio at all: the timestamps jump over them, a
    true discontinuity. ``audio_jitter`` entries ``(start, stop, offset)`` shift the timestamps of the audio
    packets that start in ``[start, stop)`` by ``offset`` seconds while their samples stay where they were: what
    PyAV reports for Ogg Vorbis around block-size switches (FFmpeg's Vorbis encoder only writes long blocks, so
    the switch itself cannot be encoded here). ``faststart`` puts the MP4 index first, so that a file cut short
    still opens, as a partly downloaded or copied file does.

    ``grain`` adds film-grain noise of that amplitude (grey levels, fixed per drawn time) so frames are as big as
    real footage's; with a DVD-like ``video_bit_rate`` an MPEG program stream then starts each frame in a pack of
    its own, with its own timestamp, as on real discs (tiny frames share packs, and FFmpeg interpolates the
    timestamps of all but the first, wrongly after a seek).

    MPEG-PS and MPEG-TS muxers shift every stream by the same mux delay, so drawn times and the chirp are the
    writer's times: container time minus (first video timestamp - ``video_start``).
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in _DEFAULT_CODECS:
        raise ValueError(f"unsupported container {suffix!r}; use one of {sorted(_DEFAULT_CODECS)}")
    default_v, default_a = _DEFAULT_CODECS[suffix]
    if suffix == ".wav":
        video = False
    if not (video or audio):
        raise ValueError("write_media needs video=True or audio=True")
    if layout not in _LAYOUT_CHANNELS:
        raise ValueError(f"layout must be one of {sorted(_LAYOUT_CHANNELS)}, got {layout!r}")
    vcodec = vcodec or default_v
    acodec = acodec or default_a
    if audio and sample_rate not in _CODEC_RATES.get(acodec, (sample_rate,)):
        raise ValueError(f"{acodec} cannot encode {sample_rate} Hz; use one of {_CODEC_RATES[acodec]}")
    if audio and acodec == "vorbis" and layout != "stereo":
        raise ValueError("FFmpeg's Vorbis encoder only writes stereo; use layout='stereo' or another acodec")
    if suffix == ".avi" and (vfr or video_start or audio_start):
        raise ValueError("AVI cannot hold variable frame rate video or delayed streams")
    rate = _exact_fps(fps)
    total = Fraction(str(seconds))
    out.parent.mkdir(parents=True, exist_ok=True)

    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(out), mode="w", options=options) as container:
        v0 = Fraction(str(video_start))
        fine_clock = vfr or (v0 * rate).denominator != 1
        vstream = (
            _add_video(container, vcodec, rate, width, height, gop, fine_clock, suffix) if video else None
        )
        if vstream is not None and video_bit_rate is not None:
            vstream.codec_context.bit_rate = video_bit_rate
        astream = _add_audio(container, acodec, sample_rate, layout) if audio else None
        frame_times = [v0 + t for t in _frame_times(total, rate, vfr)] if vstream is not None else []
        a_first = round(Fraction(str(audio_start)) * sample_rate)
        audio_total = a_first + int(total * sample_rate) if astream is not None else 0
        spans = _sample_spans(a_first, audio_total, audio_gaps, sample_rate)
        jitter = [tuple(Fraction(str(x)) for x in entry) for entry in audio_jitter]
        chunk = 1024
        for t in [*frame_times, None]:
            # Interleave: emit audio up to this frame's time before the frame, like a real muxing pipeline.
            limit = audio_total if t is None else min(audio_total, int(t * sample_rate))
            while astream is not None and spans and spans[0][0] < limit:
                first, stop = spans[0]
                n = min(chunk, stop - first)
                _encode_audio(container, astream, first, n, sample_rate, layout, jitter)
                spans[0] = (first + n, stop)
                if first + n >= stop:
                    spans.pop(0)
            if t is None or vstream is None:
                continue
            milliseconds = math.floor(t * 1000 + Fraction(1, 2))
            frame = av.VideoFrame.from_ndarray(
                _grainy(draw_time(milliseconds, width, height), grain, milliseconds), format="rgb24"
            )
            frame = frame.reformat(format=vstream.codec_context.pix_fmt)
            tb = vstream.codec_context.time_base
            frame.pts = math.floor(t / tb + Fraction(1, 2))
            frame.time_base = tb
            container.mux(vstream.encode(frame))
        if vstream is not None:
            container.mux(vstream.encode(None))
        if astream is not None:
            _mux_audio(container, astream.encode(None), jitter)
    return out


def _grainy(rgb: np.ndarray, grain: int, seed: int) -> np.ndarray:
    """``rgb`` with uniform noise of +-``grain`` grey levels, the same in all channels (cells stay readable)."""
    if not grain:
        return rgb
    noise = np.random.default_rng(seed).integers(-grain, grain + 1, rgb.shape[:2] + (1,), dtype=np.int16)
    return np.clip(rgb.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _sample_spans(
    first: int, total: int, gaps: Sequence[tuple[float, float]], sample_rate: int
) -> list[tuple[int, int]]:
    """Sample ranges ``[start, stop)`` that get audio: ``[first, total)`` without the gaps."""
    spans = [(first, total)] if total > first else []
    for start, stop in gaps:
        g0, g1 = round(Fraction(str(start)) * sample_rate), round(Fraction(str(stop)) * sample_rate)
        if not g0 < g1:
            raise ValueError(f"audio gap ({start}, {stop}) is empty")
        spans = [part for a, b in spans for part in ((a, min(b, g0)), (max(a, g1), b)) if part[0] < part[1]]
    return spans


def _exact_fps(fps: float | Fraction) -> Fraction:
    """NTSC rates given as decimals become their exact fractions; anything else is taken as written."""
    ntsc = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "59.94": Fraction(60000, 1001)}
    if isinstance(fps, Fraction):
        return fps
    return ntsc.get(f"{float(fps):g}", Fraction(str(fps)))


def _add_video(
    container: av.container.OutputContainer,
    codec: str,
    rate: Fraction,
    width: int,
    height: int,
    gop: int | None,
    fine_clock: bool,
    suffix: str,
) -> av.VideoStream:
    options: dict[str, str] = {}
    if codec in ("mpeg1video", "mpeg2video"):
        # Two B-frames between references in open GOPs, as on DVDs and broadcast MPEG-2.
        options["bf"] = "2"
    if codec == "libx264":
        # A fixed B-frame pattern (3 B-frames, the middle one a reference) like real encodes, so readers that
        # reorder frames or skip non-reference frames are exercised on every file.
        params = "bframes=3:b-adapt=0:b-pyramid=normal"
        if gop is not None:
            params += f":keyint={gop}:min-keyint={gop}:scenecut=0"
        options.update({"preset": "veryfast", "x264-params": params})
    elif gop is not None:
        options["g"] = str(gop)
        options["keyint_min"] = str(gop)
    if codec.startswith("libvpx"):
        options.update({"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"})
    stream = container.add_stream(codec, rate=rate, options=options)
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.thread_count = 1
    if gop is not None:
        stream.codec_context.gop_size = gop
    if fine_clock:
        tb = Fraction(1, 1000) if suffix in (".mkv", ".webm") else Fraction(1, 90000)
        stream.time_base = tb
    else:
        tb = 1 / rate
    stream.codec_context.time_base = tb
    return stream


def _add_audio(
    container: av.container.OutputContainer, codec: str, sample_rate: int, layout: str
) -> av.AudioStream:
    # FFmpeg's own Vorbis encoder is flagged experimental; it is the only Vorbis encoder here.
    options = {"strict": "experimental"} if codec == "vorbis" else {}
    stream = container.add_stream(codec, rate=sample_rate, layout=layout, options=options)
    stream.codec_context.thread_count = 1
    return stream


def _encode_audio(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    first: int,
    count: int,
    sample_rate: int,
    layout: str,
    jitter: Sequence[tuple[Fraction, ...]],
) -> None:
    signal = chirp((first + np.arange(count)) / sample_rate)
    planes = np.repeat(signal[None, :], _LAYOUT_CHANNELS[layout], axis=0)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes), format="fltp", layout=layout)
    frame.sample_rate = sample_rate
    frame.pts = first
    frame.time_base = Fraction(1, sample_rate)
    _mux_audio(container, stream.encode(frame), jitter)


def _mux_audio(
    container: av.container.OutputContainer, packets: list[av.Packet], jitter: Sequence[tuple[Fraction, ...]]
) -> None:
    """Mux encoded audio, moving the timestamps (not the samples) of packets inside a jitter span."""
    for packet in packets:
        if packet.pts is not None and packet.time_base is not None:
            at = packet.pts * packet.time_base
            for start, stop, offset in jitter:
                if start <= at < stop:
                    shift = round(offset / packet.time_base)
                    packet.pts += shift
                    packet.dts = None if packet.dts is None else packet.dts + shift
        container.mux(packet)
