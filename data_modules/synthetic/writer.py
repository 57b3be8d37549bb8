"""Encoding: plans become media files (H.264/AAC mp4 titles, MPEG-4 avi clips, PCM wav clips).

Every encoder runs single-threaded with fixed settings, which makes a seed's files byte-identical across
runs and machines with the same libraries. Titles use libx264 ultrafast with 3 B-frames (as films have) and a
fixed keyframe interval (default 2 s, so slot seeks are cheap). Outputs, encoders and the temporary name a file
is written under come from ``data_modules.encoding``, shared with ``tvssl prepare``.
"""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from data_modules.encoding import AAC_FRAME, add_aac_stream, add_h264_stream, audio_frame, writing_media
from data_modules.synthetic.audio import render_audio
from data_modules.synthetic.video import noisy_frames, render_frames
from data_modules.synthetic.world import TitlePlan


def check_frame_size(width: int, height: int) -> None:
    """Refuse a size yuv420p cannot hold before any work is done (odd sizes fail deep inside the encoder)."""
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"frame size {width}x{height}: width and height must be even and >= 16 (yuv420p)")


def _mux_audio(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    samples: np.ndarray,
    pts: int,
    sample_rate: int,
    fmt: str = "fltp",
) -> None:
    """Encode one chunk of mono samples (float in [-1, 1]) starting at sample ``pts``."""
    data = samples[None, :]
    if fmt == "s16":
        data = np.round(np.clip(data, -1, 1) * 32767).astype(np.int16)
    container.mux(stream.encode(audio_frame(data, fmt, "mono", sample_rate, pts)))


def _mux_video(
    container: av.container.OutputContainer,
    stream: av.VideoStream,
    rgb: np.ndarray,
    i: int,
    fps: int,
    reformatter: VideoReformatter,
) -> None:
    """Encode RGB frame number ``i`` (shown at i / fps) as yuv420p.

    ``reformatter`` is one per file: ``VideoFrame.reformat`` builds a new swscale context for every frame, which
    was a quarter of a title's encoding time; one context converts the same pixels to the same bytes.
    """
    frame = reformatter.reformat(av.VideoFrame.from_ndarray(rgb, format="rgb24"), format="yuv420p")
    frame.pts = i
    frame.time_base = Fraction(1, fps)
    container.mux(stream.encode(frame))


def write_title(
    path: str | os.PathLike,
    plan: TitlePlan,
    width: int = 160,
    height: int = 96,
    fps: int = 16,
    sample_rate: int = 16000,
    gop_seconds: float = 2.0,
) -> Path:
    """Encode one plan as H.264 (ultrafast, yuv420p, keyframe every ``gop_seconds``) + AAC mono in mp4.

    Audio is interleaved with the video as it is encoded (no sample later than the current frame), the way a
    real muxer writes a film, so readers that demux in file order see both streams together. The plan's
    summary goes into the ``comment`` metadata, so a file says what it contains.
    """
    check_frame_size(width, height)
    final = Path(path)
    gop = max(1, int(round(gop_seconds * fps)))
    n_frames = int(round(plan.seconds * fps))
    chunk = AAC_FRAME
    n_audio = int(math.ceil(n_frames * sample_rate / fps / chunk)) * chunk
    audio = render_audio(plan, sample_rate, n_audio)
    with writing_media(final, "mp4") as container:
        container.metadata["title"] = plan.name
        container.metadata["comment"] = json.dumps(plan.summary(), separators=(",", ":"))
        options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:threads=1:bframes=3:b-adapt=0",
        }
        vstream = add_h264_stream(container, fps, width, height, options, Fraction(1, fps))
        vstream.codec_context.gop_size = gop
        astream = add_aac_stream(container, sample_rate, "mono")
        a_next = 0
        reformatter = VideoReformatter()
        for i, rgb in enumerate(render_frames(plan, width, height, fps)):
            limit = min(n_audio, (i * sample_rate) // fps)
            while a_next < limit:
                _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, sample_rate)
                a_next += chunk
            _mux_video(container, vstream, rgb, i, fps, reformatter)
        while a_next < n_audio:
            _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, sample_rate)
            a_next += chunk
        container.mux(vstream.encode(None))
        container.mux(astream.encode(None))
    return final


def write_avi(
    path: Path,
    plan: TitlePlan,
    width: int,
    height: int,
    fps: int,
    rng: np.random.Generator,
    audio_rate: int | None,
) -> None:
    """MPEG-4 part 2 video in AVI (like UCF101/HMDB51), with an MP2 audio track when ``audio_rate`` is set.

    ``rng`` draws the camera noise, so clips that share actor and set still differ pixel by pixel.
    """
    check_frame_size(width, height)
    with writing_media(path, "avi") as container:
        vstream = container.add_stream("mpeg4", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.codec_context.thread_count = 1
        vstream.codec_context.bit_rate = 600_000
        vstream.codec_context.gop_size = 12
        astream = None
        audio = np.zeros(0, np.float32)
        if audio_rate is not None:
            astream = container.add_stream("mp2", rate=audio_rate, layout="mono")
            astream.codec_context.bit_rate = 64_000
            audio = render_audio(plan, audio_rate)
        a_next, chunk = 0, 1152
        reformatter = VideoReformatter()
        for i, rgb in enumerate(noisy_frames(plan, width, height, fps, rng)):
            if astream is not None and audio_rate is not None:
                while a_next < min(audio.size, (i * audio_rate) // fps):
                    _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, audio_rate)
                    a_next += chunk
            _mux_video(container, vstream, rgb, i, fps, reformatter)
        container.mux(vstream.encode(None))
        if astream is not None and audio_rate is not None:
            while a_next < audio.size:
                _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, audio_rate)
                a_next += chunk
            container.mux(astream.encode(None))


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Mono 16-bit PCM wav (like ESC-50); samples are floats in [-1, 1]."""
    with writing_media(path, "wav") as container:
        stream = container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
        for a in range(0, samples.size, 4096):
            _mux_audio(container, stream, samples[a : a + 4096], a, sample_rate, fmt="s16")
        container.mux(stream.encode(None))
