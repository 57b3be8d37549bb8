"""Clip decoding returns the frames on screen at the target times and audio in sync, for any source.

Every fixture frame draws its own time and the audio is a known chirp of time, so each test checks *which*
frames and samples came back, not just shapes.
"""

from __future__ import annotations

import os
import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import data_modules.media as media
from data_modules.decoding import ClipDecodeError, Clips, ClipSpec, read_clips, read_windows
from data_modules.demuxer_options import HEADER_ONLY_OPTIONS, is_pcm_wave
from data_modules.media import open_media, title_span
from tests.media_fixtures import audio_time, frame_time, write_media

SPEC = ClipSpec(slot_seconds=1, num_frames=8, frame_rate=16, sample_rate=16000, short_side=32)
SECONDS = 4
STARTS = [Fraction(5, 2), Fraction(0), Fraction(1, 3), Fraction(2), Fraction(7, 5)]

# (suffix, options): every fps, layout, sample rate and container of the matrix appears at least once.
SOURCES = {
    "mp4-23.976-44k-stereo": (".mp4", dict(fps=23.976, sample_rate=44100, layout="stereo")),
    "mp4-29.97-22k-mono": (".mp4", dict(fps=29.97, sample_rate=22050, layout="mono")),
    "mp4-vfr-16k-mono": (".mp4", dict(fps=25, vfr=True)),
    "mp4-25-video-late": (".mp4", dict(fps=25, video_start=0.5)),
    "mkv-25-48k-5.1": (".mkv", dict(fps=25, sample_rate=48000, layout="5.1")),
    "mkv-30-vfr-44k-vorbis": (
        ".mkv",
        dict(fps=30, vfr=True, sample_rate=44100, layout="stereo", acodec="vorbis"),
    ),
    "mkv-30-audio-late": (".mkv", dict(fps=30, audio_start=0.25, sample_rate=22050)),
    "webm-60-48k-stereo": (".webm", dict(fps=60, sample_rate=48000, layout="stereo")),
    "webm-30-vfr-48k-5.1": (".webm", dict(fps=30, vfr=True, sample_rate=48000, layout="5.1")),
}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("decoding")


@pytest.fixture(scope="module")
def source(media_dir: Path, request: pytest.FixtureRequest) -> Path:
    suffix, options = SOURCES[request.param]
    return write_media(media_dir / f"{request.param}{suffix}", seconds=SECONDS, **options)


@pytest.fixture(scope="module")
def plain_mp4(media_dir: Path) -> Path:
    return write_media(media_dir / "plain.mp4", seconds=SECONDS, fps=25, gop=12)


@pytest.fixture(scope="module")
def long_gop(media_dir: Path) -> Path:
    return write_media(media_dir / "long_gop.mp4", seconds=12, fps=25, gop=250, width=64, height=48)


def _frame_times(path: Path) -> np.ndarray:
    """Container times (s) of every frame of the file, as the stream's timestamps say."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return np.array(sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.size))


def _check_video(clips: Clips, path: Path, starts: list[Fraction], spec: ClipSpec, origin: Fraction) -> None:
    """Each returned frame is the one on screen at its target time: the last frame whose time is <= target."""
    times = _frame_times(path)
    for w, start in enumerate(starts):
        for i, offset in enumerate(spec.frame_offsets()):
            target = float(origin + start + offset)
            expected = times[max(0, np.searchsorted(times, target + 1e-9, side="right") - 1)]
            got = frame_time(clips.video[w, i])
            # 1 ms slack: drawn times and Matroska timestamps are both rounded to the millisecond.
            assert abs(got - expected) <= 0.0015, f"window {start}, frame {i}: got {got}, wanted {expected}"


def _audio_lag(clips: Clips, starts: list[Fraction], origin: Fraction, rate: int) -> list[float]:
    return [
        audio_time(clips.audio[w], rate, float(origin + s)) - float(origin + s) for w, s in enumerate(starts)
    ]


@pytest.mark.parametrize("source", list(SOURCES), indirect=True)
def test_frames_and_audio_are_in_sync(source: Path) -> None:
    with av.open(str(source)) as container:
        origin, duration = title_span(container)
    starts = [*STARTS, duration - SPEC.slot_seconds]  # the last window ends exactly where the title does
    clips = read_windows(source, starts, SPEC)
    _check_video(clips, source, starts, SPEC, origin)
    lags = _audio_lag(clips, starts, origin, SPEC.sample_rate)
    assert max(abs(lag) for lag in lags) < 0.005, lags


@pytest.mark.parametrize("source", list(SOURCES), indirect=True)
def test_the_first_read_of_a_file_gives_what_every_later_read_gives(source: Path) -> None:
    """The first read measures the title's span (later ones remember it) and must leave the decoders as it found
    them: training reads a title many times, and a resumed run, in fresh worker processes, must read the same."""
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new file to the cache: measured again
    slots = range(SECONDS - 1)  # a late stream shortens the title by up to half a second
    first, later = read_clips(source, slots, SPEC), read_clips(source, slots, SPEC)
    np.testing.assert_array_equal(first.video, later.video)
    np.testing.assert_array_equal(first.audio, later.audio)


def test_shapes_dtypes_and_range(plain_mp4: Path) -> None:
    clips = read_windows(plain_mp4, [Fraction(1), Fraction(0)], SPEC)
    assert clips.video.dtype == np.uint8 and clips.video.shape == (2, 8, 32, 48, 3)
    assert clips.audio.dtype == np.float32 and clips.audio.shape == (2, 16000)
    assert np.abs(clips.audio).max() <= 1.0
    assert clips.stats is not None and clips.stats.frames_returned >= 1


@pytest.mark.parametrize(
    ("width", "height", "short_side", "expected"),
    [(96, 64, 16, (16, 24)), (64, 96, 32, (48, 32)), (100, 64, 32, (32, 50)), (96, 64, 128, (128, 192))],
)
def test_short_side_scaling_keeps_aspect(
    media_dir: Path, width: int, height: int, short_side: int, expected: tuple[int, int]
) -> None:
    path = write_media(
        media_dir / f"size_{width}x{height}.mkv", seconds=2, width=width, height=height, audio=False
    )
    spec = ClipSpec(slot_seconds=1, num_frames=4, frame_rate=8, short_side=short_side)
    clips = read_windows(path, [Fraction(1, 2)], spec, audio=False)
    assert clips.video.shape[2:] == (*expected, 3)
    _check_video(clips, path, [Fraction(1, 2)], spec, Fraction(0))


def test_out_of_order_windows_come_back_in_input_order(plain_mp4: Path) -> None:
    starts = [Fraction(2), Fraction(0), Fraction(1)]
    grouped = read_windows(plain_mp4, starts, SPEC)
    for w, start in enumerate(starts):
        alone = read_windows(plain_mp4, [start], SPEC)
        np.testing.assert_array_equal(grouped.video[w], alone.video[0])
        np.testing.assert_allclose(grouped.audio[w], alone.audio[0], atol=2e-3)
    _check_video(grouped, plain_mp4, starts, SPEC, Fraction(0))
    firsts = [frame_time(grouped.video[w, 0]) for w in range(3)]
    assert firsts[1] < firsts[2] < firsts[0]


def test_adjacent_slots_equal_one_by_one(plain_mp4: Path) -> None:
    spec = ClipSpec(slot_seconds=Fraction(1, 2), num_frames=4, frame_rate=16, short_side=32)
    offset = Fraction(1, 10)
    together = read_clips(plain_mp4, [3, 4, 5, 6], spec, offset=offset)
    assert together.stats.seeks == 2  # one run: a single seek for video and one for audio
    decoded_alone = 0
    for row, slot in enumerate([3, 4, 5, 6]):
        alone = read_clips(plain_mp4, [slot], spec, offset=offset)
        np.testing.assert_array_equal(together.video[row], alone.video[0])
        np.testing.assert_allclose(together.audio[row], alone.audio[0], atol=2e-3)
        decoded_alone += alone.stats.frames_decoded
    assert together.stats.frames_decoded < decoded_alone  # no pre-roll decoded twice
    starts = [offset + j * spec.slot_seconds for j in [3, 4, 5, 6]]
    _check_video(together, plain_mp4, starts, spec, Fraction(0))
    assert max(abs(lag) for lag in _audio_lag(together, starts, Fraction(0), spec.sample_rate)) < 0.005


def test_long_gop_is_exact_and_skips_frames(long_gop: Path) -> None:
    starts = [Fraction(9), Fraction(5, 2), Fraction(37, 4)]
    clips = read_windows(long_gop, starts, SPEC)
    _check_video(clips, long_gop, starts, SPEC, Fraction(0))
    assert max(abs(lag) for lag in _audio_lag(clips, starts, Fraction(0), SPEC.sample_rate)) < 0.005
    stats = clips.stats
    # Pre-roll from the only keyframe: non-reference frames nobody needs are dropped by the decoder.
    assert stats.frames_decoded < stats.video_packets
    assert stats.frames_returned <= 3 * SPEC.num_frames


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hundredths=st.lists(st.integers(0, 1100), min_size=1, max_size=6),
    frames=st.sampled_from([(1, 30), (4, 8), (8, 16), (5, 24000 / 1001)]),
)
def test_any_window_set_matches_timestamps(long_gop: Path, hundredths: list[int], frames: tuple) -> None:
    """Overlapping, repeated, close and far windows in any order: every frame is still the one on screen."""
    spec = ClipSpec(slot_seconds=1, num_frames=frames[0], frame_rate=frames[1], short_side=16)
    starts = [Fraction(h, 100) for h in hundredths]
    clips = read_windows(long_gop, starts, spec, audio=False)
    _check_video(clips, long_gop, starts, spec, Fraction(0))


def test_frame_rate_above_source_repeats_frames(plain_mp4: Path) -> None:
    spec = ClipSpec(slot_seconds=1, num_frames=30, frame_rate=60, short_side=32)
    clips = read_windows(plain_mp4, [Fraction(1, 7)], spec, audio=False)
    _check_video(clips, plain_mp4, [Fraction(1, 7)], spec, Fraction(0))
    assert len({frame_time(f) for f in clips.video[0]}) < spec.num_frames


def test_video_only_avi(media_dir: Path) -> None:
    path = write_media(media_dir / "silent.avi", seconds=3, fps=25, audio=False)
    clips = read_windows(path, [Fraction(1), Fraction(1, 2)], SPEC, audio=False)
    assert clips.audio is None
    _check_video(clips, path, [Fraction(1), Fraction(1, 2)], SPEC, Fraction(0))
    with pytest.raises(ClipDecodeError, match="no audio stream"):
        read_windows(path, [Fraction(1)], SPEC)


def test_audio_only_wav(media_dir: Path) -> None:
    path = write_media(media_dir / "sound.wav", seconds=3, sample_rate=22050, layout="stereo")
    starts = [Fraction(3, 2), Fraction(1, 4)]
    clips = read_windows(path, starts, SPEC, video=False)
    assert clips.video is None and clips.audio.shape == (2, 16000)
    assert max(abs(lag) for lag in _audio_lag(clips, starts, Fraction(0), SPEC.sample_rate)) < 0.005
    with pytest.raises(ClipDecodeError, match="no video stream"):
        read_windows(path, starts, SPEC)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # measured again: the PCM decoder's own path
    first, later = (read_windows(path, starts, SPEC, video=False).audio for _ in range(2))
    np.testing.assert_array_equal(first, later)


def _opened(container: av.container.InputContainer) -> tuple:
    """What a reader gets from an open container: stream facts, every packet, every decoded sample."""
    with container:
        s = container.streams.audio[0]
        codec = s.codec_context
        facts = (container.format.name, container.duration, codec.name, s.rate, s.channels, s.duration)
        facts += (s.time_base, s.start_time, codec.format.name, codec.layout.name)
        packets = [(p.pts, p.dts, p.duration, bytes(p)) for p in container.demux(s)]
        container.seek(0)
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(s)])
    return facts, packets, samples


@pytest.mark.parametrize(
    ("acodec", "layout", "header_only"),
    [
        ("pcm_s16le", "mono", True),  # WAVE_FORMAT_PCM: ESC-50's files
        ("pcm_s24le", "5.1", True),  # WAVE_FORMAT_EXTENSIBLE around PCM
        ("pcm_f32le", "stereo", True),  # WAVE_FORMAT_IEEE_FLOAT
        ("pcm_mulaw", "mono", False),  # a companded codec: opened with full probing
    ],
)
def test_pcm_wave_opens_from_its_header_alone_with_the_same_streams_and_samples(
    media_dir: Path, acodec: str, layout: str, header_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PCM WAVE files skip FFmpeg's stream analysis (most of the time an open takes); nothing read differs."""
    path = media_dir / f"{acodec}.wav"
    write_media(path, seconds=2.5, sample_rate=44100, layout=layout, acodec=acodec)
    assert is_pcm_wave(path) is header_only
    calls: list[dict | None] = []
    real_open = av.open

    def recording_open(*args: object, **kwargs: object) -> av.container.InputContainer:
        calls.append(kwargs.get("options"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(media.av, "open", recording_open)
    fast = _opened(open_media(path))
    assert calls == [HEADER_ONLY_OPTIONS if header_only else None]
    full = _opened(real_open(str(path)))
    assert fast[0] == full[0] and fast[1] == full[1]
    np.testing.assert_array_equal(fast[2], full[2])


def test_wave_sniffing_refuses_what_is_not_a_pcm_wave(media_dir: Path) -> None:
    riff_avi = write_media(media_dir / "clip.avi", seconds=1)
    short = media_dir / "short.wav"
    short.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    assert not is_pcm_wave(riff_avi) and not is_pcm_wave(short)
    assert not is_pcm_wave(media_dir / "missing.wav")


def test_whole_stream_to_the_last_sample(media_dir: Path) -> None:
    path = write_media(media_dir / "exact.mkv", seconds=2, fps=25)
    clips = read_clips(path, [0, 1], SPEC)
    assert max(abs(lag) for lag in _audio_lag(clips, [Fraction(0), Fraction(1)], Fraction(0), 16000)) < 0.005
    assert np.abs(clips.audio[1, -1600:-200]).max() > 0.1  # real audio up to the end, not padding


def test_window_past_the_end_names_file_and_time(plain_mp4: Path) -> None:
    with pytest.raises(ClipDecodeError) as info:
        read_windows(plain_mp4, [Fraction(1), Fraction(7, 2)], SPEC)
    err = info.value
    assert err.path == str(plain_mp4) and err.time == 3.5
    assert str(plain_mp4) in str(err) and "3.500" in str(err) and "beyond the end" in str(err)


def test_clip_decode_error_pickles_with_its_fields() -> None:
    err = pickle.loads(
        pickle.dumps(ClipDecodeError("/data/a.mkv", 12.5, "the video stream ends at 12.000 s"))
    )
    assert (err.path, err.time, err.reason) == ("/data/a.mkv", 12.5, "the video stream ends at 12.000 s")
    assert "/data/a.mkv" in str(err) and "12.500" in str(err)


def test_negative_start_is_rejected(plain_mp4: Path) -> None:
    with pytest.raises(ClipDecodeError, match="before the title"):
        read_windows(plain_mp4, [Fraction(-1, 2)], SPEC)


def test_truncated_matroska_raises(media_dir: Path) -> None:
    full = write_media(media_dir / "whole.mkv", seconds=SECONDS, fps=25)
    cut = media_dir / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    read_windows(cut, [Fraction(0)], SPEC)  # the intact head still decodes
    with pytest.raises(ClipDecodeError) as info:
        read_windows(cut, [Fraction(0), Fraction(5, 2)], SPEC)
    assert info.value.path == str(cut) and info.value.time == 2.5
    # The audio stream's real end is read from its last packets, so the cut window is refused up front.
    with pytest.raises(ClipDecodeError, match="beyond the end") as info:
        read_windows(cut, [Fraction(5, 2)], SPEC, video=False)
    assert info.value.time == 2.5


@pytest.mark.parametrize("damage", ["truncated mp4", "garbage", "empty", "missing"])
def test_unreadable_files_raise(plain_mp4: Path, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "broken.mp4"
    if damage == "truncated mp4":
        path.write_bytes(plain_mp4.read_bytes()[: plain_mp4.stat().st_size // 3])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif damage == "empty":
        path.write_bytes(b"")
    with pytest.raises(ClipDecodeError) as info:
        read_windows(path, [Fraction(1)], SPEC)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_corrupt_bytes_give_clips_or_clip_decode_error(tmp_path: Path) -> None:
    path = write_media(tmp_path / "intact.mkv", seconds=3, fps=25)
    data = path.read_bytes()
    outcomes = set()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        damaged = bytearray(data)
        at = int(rng.integers(len(data) // 10, len(data) - 1000))
        damaged[at : at + 1000] = rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()
        broken = tmp_path / f"damaged{seed}.mkv"
        broken.write_bytes(bytes(damaged))
        try:
            clips = read_windows(broken, [Fraction(0), Fraction(1), Fraction(2)], SPEC)
        except ClipDecodeError as err:
            assert err.path == str(broken)
            outcomes.add("error")
        else:
            assert clips.video.shape == (3, 8, 32, 48, 3) and clips.audio.shape == (3, 16000)
            outcomes.add("clips")
    assert "error" in outcomes


def test_no_windows_gives_empty_arrays(plain_mp4: Path) -> None:
    clips = read_clips(plain_mp4, [], SPEC)
    assert clips.video.shape == (0, 8, 32, 48, 3) and clips.audio.shape == (0, 16000)


def test_windows_far_apart_use_separate_seeks(long_gop: Path) -> None:
    starts = [Fraction(10), Fraction(0), Fraction(7)]  # runs [0, 1) and [7, 11): a seek between them
    clips = read_windows(long_gop, starts, SPEC, audio=False)
    _check_video(clips, long_gop, starts, SPEC, Fraction(0))
    assert clips.stats.seeks == 2


def test_clip_spec_coerces_exactly() -> None:
    spec = ClipSpec(slot_seconds=0.1, num_frames=2, frame_rate="24000/1001", sample_rate=16000)
    assert spec.slot_seconds == Fraction(1, 10) and spec.frame_rate == Fraction(24000, 1001)
    assert spec.audio_samples == 1600 and spec.clip_seconds == Fraction(2002, 24000)
    assert ClipSpec() == ClipSpec(slot_seconds=2, frame_rate=16.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(num_frames=40), "longer than"),
        (dict(slot_seconds=Fraction(1, 3), num_frames=2), "whole number"),
        (dict(short_side=33), "even"),
        (dict(num_frames=0), "positive integer"),
        (dict(sample_rate=16000.5), "positive integer"),
        (dict(slot_seconds=0), "slot_seconds"),
        (dict(frame_rate="fast"), "frame_rate"),
    ],
)
def test_clip_spec_validation(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClipSpec(**options)


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".mp4", dict(sample_rate=16000)),  # AAC decodes to fltp
        (".wav", dict(sample_rate=16000, video=False)),  # PCM s16
        (".avi", dict(sample_rate=16000)),  # PCM s16 beside video
        (".mkv", dict(sample_rate=16000, acodec="libopus", audio_jitter=[(1.0, 1.5, 0.004)])),
    ],
)
def test_audio_already_mono_at_the_rate_is_read_bit_identical_without_a_resampler(
    media_dir: Path, suffix: str, options: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mono audio at the target rate skips swresample (a tenth of a clip's decoding); the samples must be the
    very ones the resampler gives, in every sample format that takes the short cut."""
    import data_modules.audio_reading as audio_reading

    path = write_media(media_dir / f"as-is{suffix}", seconds=SECONDS, layout="mono", **options)
    as_is = read_windows(path, STARTS, SPEC, video=False).audio
    monkeypatch.setattr(audio_reading, "_AS_IS", frozenset())
    resampled = read_windows(path, STARTS, SPEC, video=False).audio
    assert as_is is not None and resampled is not None and as_is.dtype == np.float32
    assert np.array_equal(as_is.view(np.uint32), resampled.view(np.uint32))
    assert np.abs(as_is).max() > 0.1
