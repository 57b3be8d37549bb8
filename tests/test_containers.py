"""Every slot of every container FFmpeg reads comes back right: MPEG-PS, VOB, MPEG-TS, Ogg, late streams, cut
files.

The fixtures draw their own (writer) time into every frame and encode time as a chirp, so each slot proves
which frames and samples came back. MPEG-PS/TS muxers shift all streams by a mux delay; the tests measure that
shift from the file's first video timestamp and compare in writer time. Slots are read one call each, so every
slot but the first starts with a seek (where MPEG program streams hand out undecodable packets), and once more
all together, the forward path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from data_modules import decoding
from data_modules.decoding import ClipDecodeError, Clips, ClipSpec, read_clips
from data_modules.media import probe, title_span
from tests.media_fixtures import audio_time, frame_time, write_media

SPEC = ClipSpec(slot_seconds=1, num_frames=4, frame_rate=8, sample_rate=16000, short_side=32)
SECONDS = 10
FPS = 25
LATE = 0.047

# Vorbis timestamps that jump +9.3 ms and come back, after one frame and after a third of a second (an Ogg
# page's worth), as PyAV reports them around block-size switches; the samples stay contiguous.
# Two such switches in one slot put a 19 ms hole into it for a reader that re-anchors on every jump.
VORBIS_JITTER = [
    (2.3, 2.32, 0.00933),
    (2.6, 2.62, 0.00933),
    (5.2, 5.5, 0.00933),
    (5.7, 5.72, 0.00933),
    (7.3, 7.32, -0.00933),
    (7.6, 7.62, -0.00933),
]

# Frames as big as real footage's, so MPEG-PS puts each in a pack of its own as real discs do.
DISC = dict(grain=40, video_bit_rate=4_000_000)

# name: (suffix, write_media options)
CONTAINERS = {
    "mpg-mpeg1-mp2": (".mpg", dict(sample_rate=44100, **DISC)),
    "vob-mpeg2-ac3": (".vob", dict(sample_rate=48000, **DISC)),
    "vob-mpeg2-mp2": (".vob", dict(acodec="mp2", sample_rate=48000, **DISC)),
    "ts-mpeg2-mp2": (".ts", dict(sample_rate=48000, **DISC)),
    "ts-h264-aac": (".ts", dict(vcodec="libx264", acodec="aac", sample_rate=48000)),
    "ogv-vp8-vorbis": (".ogv", dict(layout="stereo", sample_rate=44100)),
    "ogv-audio-late": (".ogv", dict(layout="stereo", sample_rate=48000, audio_start=LATE)),
    "mp4-audio-late": (".mp4", dict(audio_start=LATE)),
    "ts-audio-late": (".ts", dict(vcodec="libx264", acodec="aac", sample_rate=48000, audio_start=LATE)),
    "mkv-aac": (".mkv", dict()),
    # AVI refuses a seek before its first packet (EPERM): slot 0's audio pre-roll must not ask for one.
    "avi-mpeg4-pcm": (".avi", dict()),
    "webm-vp9-opus": (".webm", dict(sample_rate=48000)),
    "mkv-vorbis-jitter": (
        ".mkv",
        dict(acodec="vorbis", layout="stereo", sample_rate=48000, audio_jitter=VORBIS_JITTER),
    ),
}

# Cut to half their bytes; MP4 with its index first, as a partly copied file that still opens.
TRUNCATED = {
    "mp4": (".mp4", dict(faststart=True)),
    "mkv": (".mkv", dict()),
    "webm": (".webm", dict(sample_rate=48000)),
    "mpg": (".mpg", dict(sample_rate=44100, **DISC)),
    "ts": (".ts", dict(vcodec="libx264", acodec="aac", sample_rate=48000)),
    "ogv": (".ogv", dict(layout="stereo", sample_rate=48000)),
}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("containers")


@pytest.fixture(scope="module")
def container(media_dir: Path, request: pytest.FixtureRequest) -> tuple[Path, dict]:
    suffix, options = CONTAINERS[request.param]
    path = write_media(media_dir / f"{request.param}{suffix}", seconds=SECONDS, fps=FPS, gop=12, **options)
    return path, options


@pytest.fixture(scope="module")
def truncated(media_dir: Path, request: pytest.FixtureRequest) -> tuple[Path, dict]:
    suffix, options = TRUNCATED[request.param]
    full = write_media(media_dir / f"whole-{request.param}{suffix}", seconds=16, fps=FPS, gop=12, **options)
    cut = media_dir / f"cut-{request.param}{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return cut, options


def _shift(path: Path, video_start: float) -> Fraction:
    """Container time minus writer time: the mux delay, from the first video timestamp of the file."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        first = min(p.pts for _, p in zip(range(64), c.demux(stream)) if p.pts is not None)
        return first * stream.time_base - Fraction(str(video_start))


def _expected_frame(target: Fraction, video_start: Fraction) -> float:
    """Drawn time (s) of the frame on screen at writer time ``target``: the last one at or before it."""
    k = math.floor((target - video_start) * FPS)
    return math.floor((video_start + Fraction(k, FPS)) * 1000 + Fraction(1, 2)) / 1000


def _check_slot(clips: Clips, row: int, start: Fraction, video_start: Fraction, label: str) -> None:
    """Frames equal the ones on screen at the targets; the audio is the chirp of the window's own time."""
    for i, offset in enumerate(SPEC.frame_offsets()):
        got = frame_time(clips.video[row, i])
        wanted = _expected_frame(start + offset, video_start)
        assert abs(got - wanted) <= 0.0015, f"{label}, frame {i}: drawn {got:.3f} s, wanted {wanted:.3f} s"
    lag = audio_time(clips.audio[row], SPEC.sample_rate, float(start)) - float(start)
    assert abs(lag) < 0.002, f"{label}: audio {lag * 1000:+.1f} ms off"


def _writer_span(path: Path, options: dict) -> tuple[Fraction, Fraction, Fraction]:
    """(origin, end, shift): the title's probed origin and end in writer time, and the mux delay."""
    info = probe(path)
    shift = _shift(path, options.get("video_start", 0.0))
    return info.start - shift, info.start + info.duration - shift, shift


@pytest.mark.parametrize("container", list(CONTAINERS), indirect=True)
def test_title_spans_where_both_streams_have_content(container: tuple[Path, dict]) -> None:
    path, options = container
    origin, end, _ = _writer_span(path, options)
    latest = Fraction(str(max(options.get("audio_start", 0.0), options.get("video_start", 0.0))))
    # Never before the later stream's first sample; at most one audio frame (encoder priming; AC-3: 1536
    # samples) after it.
    priming = Fraction(1536, options.get("sample_rate", 16000))
    assert latest - Fraction(1, 2000) <= origin <= latest + priming + Fraction(1, 1000), float(origin)
    # Both streams hold SECONDS of content from their own starts; the title ends with the earlier one.
    real_end = min(Fraction(str(options.get(k, 0.0))) for k in ("audio_start", "video_start")) + SECONDS
    assert real_end - Fraction(1, FPS) <= end <= real_end + Fraction(1, 1000), (float(end), float(real_end))


@pytest.mark.parametrize("container", list(CONTAINERS), indirect=True)
def test_every_slot_reads_alone(container: tuple[Path, dict]) -> None:
    path, options = container
    origin, end, _ = _writer_span(path, options)
    slots = math.floor((end - origin) / SPEC.slot_seconds)
    assert slots >= SECONDS - 1
    v0 = Fraction(str(options.get("video_start", 0.0)))
    for j in range(slots):
        clips = read_clips(path, [j], SPEC)
        _check_slot(clips, 0, origin + j * SPEC.slot_seconds, v0, f"slot {j}")


@pytest.mark.parametrize("container", ["mpg-mpeg1-mp2", "vob-mpeg2-mp2"], indirect=True)
def test_program_stream_garbage_after_a_seek_is_skipped_and_counted(container: tuple[Path, dict]) -> None:
    """After a seek MPEG-PS hands out packets the decoder rejects; they are pre-roll, skipped and counted."""
    path, _ = container
    clips = read_clips(path, [5], SPEC)
    assert clips.stats.seeks >= 2 and clips.stats.packets_skipped > 0


@pytest.mark.parametrize("container", list(CONTAINERS), indirect=True)
def test_all_slots_read_together(container: tuple[Path, dict]) -> None:
    path, options = container
    origin, end, _ = _writer_span(path, options)
    slots = list(range(math.floor((end - origin) / SPEC.slot_seconds)))
    clips = read_clips(path, slots[::-1], SPEC)
    v0 = Fraction(str(options.get("video_start", 0.0)))
    for row, j in enumerate(slots[::-1]):
        _check_slot(clips, row, origin + j * SPEC.slot_seconds, v0, f"slot {j}")


def _usable_end(path: Path, options: dict, shift: Fraction) -> Fraction:
    """Writer time up to which a full decode of the file has every frame and every sample."""
    v0 = Fraction(str(options.get("video_start", 0.0)))
    drawn: set[int] = set()
    audio_end = Fraction(0)
    with av.open(str(path)) as c:
        for packet in c.demux(c.streams.video[0], c.streams.audio[0]):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                if isinstance(frame, av.VideoFrame):
                    drawn.add(round(frame_time(frame.to_ndarray(format="rgb24")) * 1000))
                elif frame.pts is not None:
                    audio_end = max(
                        audio_end, frame.pts * frame.time_base + Fraction(frame.samples, frame.sample_rate)
                    )
    k = 0
    while math.floor((v0 + Fraction(k, FPS)) * 1000 + Fraction(1, 2)) in drawn:
        k += 1
    return min(v0 + Fraction(k, FPS), audio_end - shift)


@pytest.mark.parametrize("truncated", list(TRUNCATED), indirect=True)
def test_cut_file_is_probed_to_its_real_end_and_every_slot_reads(truncated: tuple[Path, dict]) -> None:
    path, options = truncated
    origin, end, shift = _writer_span(path, options)
    usable = _usable_end(path, options, shift)
    assert 4 < usable < 12  # the cut removed about half of the 16 s
    assert usable - Fraction(1, 2) <= end <= usable + Fraction(1, 1000), (float(end), float(usable))
    slots = math.floor((end - origin) / SPEC.slot_seconds)
    for j in range(slots):
        clips = read_clips(path, [j], SPEC)
        _check_slot(clips, 0, origin + j * SPEC.slot_seconds, Fraction(0), f"slot {j}")
    with pytest.raises(ClipDecodeError):
        read_clips(path, [slots + 1], SPEC)


@pytest.mark.parametrize(("gap", "slot"), [((3.5, 3.53), 3), ((6.4, 6.6), 6)])
def test_true_audio_gaps_stay_gaps(media_dir: Path, gap: tuple[float, float], slot: int) -> None:
    """Placing audio by sample count must not paper over samples really missing (30 ms and 200 ms)."""
    path = write_media(media_dir / f"gap-{slot}.mkv", seconds=SECONDS, fps=FPS, audio_gaps=[gap])
    with pytest.raises(ClipDecodeError, match="ms missing") as info:
        read_clips(path, [slot], SPEC)
    assert info.value.time == slot
    for j in (slot - 1, slot + 1):
        _check_slot(read_clips(path, [j], SPEC), 0, Fraction(j), Fraction(0), f"slot {j}")


@pytest.mark.parametrize("name", ["mpg-mpeg1-mp2", "ts-h264-aac", "ogv-audio-late", "mp4-audio-late"])
def test_title_span_leaves_the_container_at_its_start(media_dir: Path, name: str) -> None:
    """Callers demux from the start right after ``title_span`` (prepare does): the probing must rewind."""
    suffix, options = CONTAINERS[name]
    path = write_media(media_dir / f"rewind-{name}{suffix}", seconds=4, fps=FPS, gop=12, **options)

    def head(c: av.container.InputContainer) -> list[tuple[int, int | None]]:
        return [(p.stream.index, p.pts) for _, p in zip(range(40), c.demux()) if p.size]

    with av.open(str(path)) as fresh:
        expected = head(fresh)
    with av.open(str(path)) as c:
        title_span(c)
        assert head(c) == expected


class _RejectedAfterSeek:
    """A container whose demuxer, after every seek, hands out a video packet the decoder rejects.

    It comes right after the first keyframe, timed a tick before it (like an open GOP's leading B-frame), so
    it lies in the pre-roll and no target needs it: what an MPEG program stream's parser produces after a
    seek.
    """

    def __init__(self, container: av.container.InputContainer) -> None:
        self._container = container
        self._fresh = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def __enter__(self) -> _RejectedAfterSeek:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.close()

    def seek(self, *args: Any, **kwargs: Any) -> None:
        self._container.seek(*args, **kwargs)
        self._fresh = True

    def demux(self, *streams: av.stream.Stream) -> Iterator[av.Packet]:
        for packet in self._container.demux(*streams):
            yield packet
            if (
                self._fresh
                and packet.stream.type == "video"
                and packet.is_keyframe
                and packet.pts is not None
            ):
                self._fresh = False
                garbage = av.Packet(b"\xff" * 64)
                garbage.pts = garbage.dts = packet.pts - 1
                garbage.time_base = packet.time_base
                yield garbage


def test_rejected_video_packets_in_the_pre_roll_are_skipped(
    media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_media(media_dir / "rejected.mkv", seconds=6, fps=FPS, gop=12)
    real_open = av.open
    monkeypatch.setattr(decoding.av, "open", lambda *a, **k: _RejectedAfterSeek(real_open(*a, **k)))
    for j in range(5):
        clips = read_clips(path, [j], SPEC, audio=False)
        assert clips.stats.packets_skipped >= 1
        for i, offset in enumerate(SPEC.frame_offsets()):
            wanted = _expected_frame(j + offset, Fraction(0))
            assert abs(frame_time(clips.video[0, i]) - wanted) <= 0.0015, (j, i)
