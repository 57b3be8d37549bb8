"""The corpus index: every container indexed with its true duration, every bad file a specific reason, exact rows."""

from __future__ import annotations

import math
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import data_modules.probing as probing
from data_modules.index import (
    COLUMNS,
    CorpusError,
    ManifestError,
    TitleRecord,
    build_index,
    read_manifest,
    summarize,
    tv_metadata,
    write_manifest,
)
from data_modules.media import MediaInfo
from tests.media_fixtures import write_media
from tvssl.commands.index import main

SECONDS = 4.5  # two 2-second slots, with a remainder the floor must drop


def _encode(
    path: Path, vcodec: str | None, acodec: str | None, *, seconds: float, sample_rate: int, layout: str
):
    """Containers media_fixtures does not write (MPEG-PS, Ogg): plain frames and a tone, audio interleaved."""
    fps = 25
    options = {"strict": "experimental"} if acodec == "vorbis" else {}
    with av.open(str(path), "w") as container:
        vs = container.add_stream(vcodec, rate=fps) if vcodec else None
        if vs is not None:
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aud = (
            container.add_stream(acodec, rate=sample_rate, layout=layout, options=options) if acodec else None
        )
        channels = aud.codec_context.channels if aud is not None else 0
        total = int(seconds * sample_rate)
        written = 0
        for i in range(int(seconds * fps) + 1):
            upto = min(total, i * sample_rate // fps)
            while aud is not None and written < upto:
                n = min(1024, upto - written)
                tone = (
                    np.sin(2 * np.pi * 440 * (written + np.arange(n)) / sample_rate).astype(np.float32) * 0.3
                )
                frame = av.AudioFrame.from_ndarray(np.tile(tone, (channels, 1)), format="fltp", layout=layout)
                frame.sample_rate, frame.pts = sample_rate, written
                container.mux(aud.encode(frame))
                written += n
            if vs is not None and i < int(seconds * fps):
                pixels = np.full((48, 64, 3), (i * 7) % 256, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = i
                container.mux(vs.encode(frame))
        for stream in (vs, aud):
            if stream is not None:
                container.mux(stream.encode(None))
    return path


def _packet_span(path: Path) -> tuple[Fraction, Fraction]:
    """(start, overlap) of the two streams measured from every packet: the truth the index is checked against."""
    first: dict[str, Fraction] = {}
    last: dict[str, Fraction] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None:
                continue
            kind = packet.stream.type
            t0 = Fraction(packet.pts) * packet.time_base
            t1 = t0 + Fraction(packet.duration or 0) * packet.time_base
            first[kind] = min(first.get(kind, t0), t0)
            last[kind] = max(last.get(kind, t1), t1)
    start = max(first["video"], first["audio"])
    return start, min(last["video"], last["audio"]) - start


# name -> (how to make it (codecs spelled out, not the fixture defaults), expected container, video codec, audio codec, sample rate, channels)
GOOD = {
    "movie.mp4": (dict(vcodec="libx264", acodec="aac"), "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac", 16000, 1),
    "vfr_stereo.mkv": (
        dict(vfr=True, sample_rate=44100, layout="stereo", vcodec="libx264", acodec="aac"),
        "matroska,webm",
        "h264",
        "aac",
        44100,
        2,
    ),
    "surround.webm": (
        dict(sample_rate=48000, layout="5.1", vcodec="libvpx-vp9", acodec="libopus"),
        "matroska,webm",
        "vp9",
        "opus",
        48000,
        6,
    ),
    "ntsc.mp4": (
        dict(fps=29.97, sample_rate=48000, layout="stereo", vcodec="libx264", acodec="aac"),
        "mov,mp4,m4a,3gp,3g2,mj2",
        "h264",
        "aac",
        48000,
        2,
    ),
    "old.avi": (dict(sample_rate=22050, vcodec="mpeg4", acodec="mp2"), "avi", "mpeg4", "mp2", 22050, 1),
    "dvd.mpg": (("mpeg2video", "mp2", 48000, "stereo"), "mpeg", "mpeg2video", "mp2", 48000, 2),
    "clip.ogg": (("libvpx", "libopus", 48000, "mono"), "ogg", "vp8", "opus", 48000, 1),
}


def _make_good(path: Path, how: dict | tuple) -> Path:
    if isinstance(how, tuple):
        vcodec, acodec, rate, layout = how
        return _encode(path, vcodec, acodec, seconds=SECONDS, sample_rate=rate, layout=layout)
    return write_media(path, seconds=SECONDS, width=64, height=48, **how)


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    for name, (how, *_) in GOOD.items():
        _make_good(root / name, how)
    return root


@pytest.fixture(scope="module")
def good_rows(good_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TitleRecord]:
    out = tmp_path_factory.mktemp("manifest") / "good.csv"
    return {r.path: r for r in build_index(good_dir, out, workers=1, progress=False)}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_container_is_indexed_with_its_duration_and_streams(name, good_dir, good_rows):
    row = good_rows[name]
    _, container, vcodec, acodec, rate, channels = GOOD[name]
    assert (row.status, row.reason) == ("ok", "")
    assert (row.container, row.video_codec, row.audio_codec) == (container, vcodec, acodec)
    assert (row.sample_rate, row.channels, row.width, row.height) == (rate, channels, 64, 48)
    assert row.fps == pytest.approx(30000 / 1001 if name == "ntsc.mp4" else 25, abs=1e-4)
    start, truth = _packet_span(good_dir / name)
    frame = Fraction(1, 25)
    # Title time starts where the audio really has content: for codecs whose first packet is encoder priming
    # (MPEG audio among them) that is the second packet, up to one audio frame after the first timestamp.
    primed = Fraction(1152, rate) if acodec == "mp2" else Fraction(0)
    assert start <= row.start <= start + primed + Fraction(1, 1000)  # container ticks round the frame
    if name == "dvd.mpg":
        # MPEG-PS headers carry no durations; the end is read from the last packets, never past the content.
        assert truth - primed - frame <= row.duration <= truth
    else:
        assert abs(row.duration - truth) <= frame + primed
        assert abs(row.duration - Fraction(str(SECONDS))) <= frame + primed
    assert row.num_slots == math.floor(row.duration / 2) == 2
    assert row.title_id == name.rsplit(".", 1)[0]


def _bad_corpus(root: Path, good_dir: Path) -> None:
    root.mkdir()
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("These are not the frames you are looking for.\n" * 40)
    (root / "noise.mkv").write_bytes(
        np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    )
    whole = (good_dir / "movie.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    write_media(root / "audio_only.mp4", seconds=SECONDS, acodec="aac", video=False)
    _encode(root / "vorbis.ogg", None, "vorbis", seconds=SECONDS, sample_rate=44100, layout="stereo")
    write_media(root / "video_only.mp4", seconds=SECONDS, width=64, height=48, vcodec="libx264", audio=False)
    write_media(root / "short.mp4", seconds=1.5, width=64, height=48, vcodec="libx264", acodec="aac")
    os.symlink(root / "gone.mp4", root / "dangling.mp4")
    shutil.copy(good_dir / "movie.mp4", root / "fine.mp4")


EXPECTED_REASONS = {
    "empty.mp4": "empty file",
    "notes.mp4": "not media",
    "noise.mkv": "not media",
    "truncated.mp4": "not media",
    "audio_only.mp4": "no video stream",
    "vorbis.ogg": "no video stream",
    "video_only.mp4": "no audio stream",
    "short.mp4": "too short",
    "dangling.mp4": "unreadable",
    "fine.mp4": "",
}


def test_every_bad_file_becomes_a_row_with_its_specific_reason(tmp_path, good_dir):
    _bad_corpus(tmp_path / "corpus", good_dir)
    rows = build_index(tmp_path / "corpus", tmp_path / "m.csv", workers=1, progress=False)
    assert {r.path: r.reason_label for r in rows} == EXPECTED_REASONS
    short = next(r for r in rows if r.path == "short.mp4")
    assert short.reason.startswith("too short: 1.5") and short.duration > 0 and short.audio_codec == "aac"
    assert next(r for r in rows if r.path == "dangling.mp4").reason == "unreadable: broken symbolic link"
    assert all(str(tmp_path) not in r.reason for r in rows), "reasons name files relative to the root"
    assert summarize(rows) == (
        "10 titles: 1 ok, 9 excluded (3 not media, 2 no video stream, 1 empty file, 1 no audio stream, "
        "1 too short, 1 unreadable); 2 slots, 4.5 s"
    )


def test_zero_duration_and_a_raising_probe_are_reasons_not_crashes(tmp_path, good_dir, monkeypatch):
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        shutil.copy(good_dir / "movie.mp4", tmp_path / name)
    real = probing.probe

    def probe(path):
        if path.endswith("a.mp4"):
            return MediaInfo(Fraction(0), Fraction(0), "mp4", "h264", 25.0, 64, 48, "aac", 16000, 1)
        if path.endswith("b.mp4"):
            raise RuntimeError("decoder exploded")
        return real(path)

    monkeypatch.setattr(probing, "probe", probe)
    rows = build_index(tmp_path, tmp_path / ".m.csv", workers=1, progress=False)
    assert [r.reason for r in rows] == [
        "zero or unknown duration",
        "probe failed: RuntimeError: decoder exploded",
        "",
    ]


@pytest.mark.ddp
def test_a_crashing_worker_costs_only_its_own_file(tmp_path, good_dir, monkeypatch, caplog):
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(6):
        shutil.copy(good_dir / "movie.mp4", corpus / f"t{i}.mp4")
    real = probing.probe

    def probe(path):
        if path.endswith("t3.mp4"):
            os._exit(3)  # what a segfault in FFmpeg looks like from the pool
        return real(path)

    monkeypatch.setattr(probing, "probe", probe)  # fork carries the patch into the workers
    with caplog.at_level("WARNING", logger="data_modules.probing"):
        rows = build_index(corpus, tmp_path / "m.csv", workers=2, progress=False)
    assert "a probing process died" in caplog.text
    assert [r.path for r in rows if not r.ok] == ["t3.mp4"]
    assert rows[3].reason.startswith("probe failed: the probing process died")
    assert sum(r.ok for r in rows) == 5


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Show/S01E02.mp4", ("Show", 1, 2)),
        ("Show/Season 1/S01E02.mkv", ("Show", 1, 2)),
        ("Show/Show.S01E02.Title.mkv", ("Show", 1, 2)),
        ("Show/1x02.avi", ("Show", 1, 2)),
        ("The Show/Season 03/s03e11 - Pilot.mkv", ("The Show", 3, 11)),
        ("Show/Season 2/E05.mkv", ("Show", 2, 5)),
        ("Show/Specials/Making of 1920x1080.mp4", ("Show", None, None)),
        ("Show.Name.S02E10.mkv", ("Show Name", 2, 10)),
        ("loose.mp4", ("", None, None)),
    ],
)
def test_tv_metadata_from_path(path, expected):
    assert tv_metadata(path) == expected


def test_tv_index_fills_show_season_episode_and_movies_leave_them_blank(tmp_path, good_dir):
    root = tmp_path / "tv"
    for rel in ("Show/S01E02.mp4", "Show/Season 1/S01E03.mkv", "Other/1x02.avi", "Other/extras.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(good_dir / "movie.mp4", root / rel)
    rows = build_index(root, tmp_path / "tv.csv", kind="tv", workers=1, progress=False)
    assert [(r.path, r.show, r.season, r.episode) for r in rows] == [
        ("Other/1x02.avi", "Other", 1, 2),
        ("Other/extras.mp4", "Other", None, None),
        ("Show/S01E02.mp4", "Show", 1, 2),
        ("Show/Season 1/S01E03.mkv", "Show", 1, 3),
    ]
    assert all(r.ok for r in rows)
    assert read_manifest(tmp_path / "tv.csv") == rows
    movies = build_index(root, tmp_path / "tv.csv", kind="movie", workers=1, progress=False)
    assert {(r.show, r.season, r.episode) for r in movies} == {("", None, None)}
    assert movies.reused == 4


def _count_probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files probed from now on (the probe itself still runs)."""
    calls: list[str] = []
    real = probing.probe

    def counting(path):
        calls.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(probing, "probe", counting)
    return calls


def test_reindex_reuses_unchanged_rows_and_probes_only_what_changed(tmp_path, good_dir, monkeypatch):
    root, out = tmp_path / "c", tmp_path / "m.csv"
    root.mkdir()
    for name in ("a.mp4", "b.mkv", "c.webm"):
        shutil.copy(
            good_dir / {"a.mp4": "movie.mp4", "b.mkv": "vfr_stereo.mkv", "c.webm": "surround.webm"}[name],
            root / name,
        )
    first = build_index(root, out, workers=1, progress=False)
    written = out.read_bytes()
    calls = _count_probes(monkeypatch)
    again = build_index(root, out, workers=1, progress=False)
    assert calls == [] and again == first and out.read_bytes() == written
    assert (again.reused, again.probed, again.removed) == (3, 0, 0)

    later = os.stat(root / "b.mkv").st_mtime_ns + 5_000_000_000
    os.utime(root / "b.mkv", ns=(later, later))
    (root / "c.webm").unlink()
    shutil.copy(good_dir / "old.avi", root / "d.avi")
    rows = build_index(root, out, workers=1, progress=False)
    assert sorted(calls) == ["b.mkv", "d.avi"]
    assert [r.path for r in rows] == ["a.mp4", "b.mkv", "d.avi"]
    assert (rows.reused, rows.probed, rows.removed) == (1, 2, 1)
    assert rows[1].mtime == later

    calls.clear()
    finer = build_index(root, out, workers=1, slot_seconds="0.5", min_seconds=3, progress=False)
    assert calls == []
    assert [r.num_slots for r in finer] == [math.floor(r.duration * 2) for r in rows]
    stricter = build_index(root, out, workers=1, min_seconds=5, progress=False)
    assert calls == [] and {r.reason_label for r in stricter} == {"too short"}
    relaxed = build_index(root, out, workers=1, progress=False)
    assert calls == [] and relaxed == rows


def test_rows_of_an_older_probe_are_probed_again_and_legacy_manifests_still_read(
    tmp_path, good_dir, monkeypatch
):
    """Older probes trusted headers (cut files indexed whole): their rows are refreshed, other rows reused."""
    from data_modules.manifest import LEGACY_COLUMNS, PROBE_VERSION, seconds_text

    root, out = tmp_path / "c", tmp_path / "m.csv"
    root.mkdir()
    shutil.copy(good_dir / "movie.mp4", root / "a.mp4")
    shutil.copy(good_dir / "vfr_stereo.mkv", root / "b.mkv")
    first = build_index(root, out, workers=1, progress=False)
    assert {r.probe_version for r in first} == {PROBE_VERSION}
    lines = out.read_text().splitlines()
    legacy = [",".join(LEGACY_COLUMNS)] + [line.rsplit(",", 2)[0] for line in lines[1:]]
    # An old manifest: no probe_version column, and b.mkv with the duration its header claimed.
    legacy[2] = legacy[2].replace(f",{seconds_text(first[1].duration)},", ",9.5,", 1)
    out.write_text("\n".join(legacy) + "\n")
    old_rows = read_manifest(out)
    assert [r.probe_version for r in old_rows] == [1, 1] and old_rows[1].duration == Fraction("9.5")
    calls = _count_probes(monkeypatch)
    again = build_index(root, out, workers=1, progress=False)
    assert sorted(calls) == ["a.mp4", "b.mkv"] and again == first
    calls.clear()
    assert build_index(root, out, workers=1, progress=False) == first and calls == []


def test_transient_failures_are_probed_again(tmp_path, good_dir, monkeypatch):
    shutil.copy(good_dir / "movie.mp4", tmp_path / "a.mp4")
    out = tmp_path / "out" / "m.csv"
    real = probing.probe
    monkeypatch.setattr(probing, "probe", lambda path: (_ for _ in ()).throw(OSError("share went away")))
    assert build_index(tmp_path, out, workers=1, progress=False)[0].reason_label == "probe failed"
    monkeypatch.setattr(probing, "probe", real)
    assert build_index(tmp_path, out, workers=1, progress=False)[0].ok


def _record(**changes) -> TitleRecord:
    base = TitleRecord(
        path='Show, The/Season 1/S01E02 "Pilot" é.mkv',
        title_id='Show, The/Season 1/S01E02 "Pilot" é',
        status="ok",
        reason="",
        duration=Fraction(600_032_001, 10**6),
        num_slots=300,
        start=Fraction(-21_333, 10**6),
        size=123_456_789,
        mtime=1_712_345_678_123_456_789,
        container="matroska,webm",
        video_codec="h264",
        fps=round(24000 / 1001, 6),
        width=1920,
        height=1080,
        audio_codec="eac3",
        sample_rate=48000,
        channels=6,
        show="Show, The",
        season=1,
        episode=2,
    )
    return TitleRecord(**{**base.__dict__, **changes})


def test_manifest_round_trips_exactly(tmp_path):
    records = [
        _record(),
        _record(path="x\ny.mp4", title_id="x\ny", show="", season=None, episode=None),
        _record(path="bad.mp4", status="excluded", reason='not media: Invalid data, "quoted"', num_slots=0),
    ]
    write_manifest(tmp_path / "m.csv", records)
    assert read_manifest(tmp_path / "m.csv") == records
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert (
        "600.032001" in (tmp_path / "m.csv").read_text() and "-0.021333" in (tmp_path / "m.csv").read_text()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"], "no temporary file is left behind"


@settings(max_examples=50, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(0, 10**12))
def test_any_microsecond_time_round_trips(tmp_path_factory, start, duration):
    path = tmp_path_factory.mktemp("rt") / "m.csv"
    record = _record(start=Fraction(start, 10**6), duration=Fraction(duration, 10**6))
    write_manifest(path, [record])
    assert read_manifest(path) == [record]


def test_records_reject_times_a_decimal_string_cannot_hold():
    with pytest.raises(ValueError, match="whole microseconds"):
        _record(duration=Fraction(1, 3))
    with pytest.raises(ValueError, match="reason is required"):
        _record(status="excluded")


def test_read_manifest_rejects_other_files(tmp_path):
    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ManifestError, match="not a tvssl manifest"):
        read_manifest(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text(",".join(COLUMNS) + "\nonly,three,fields\n")
    with pytest.raises(ManifestError, match=f"line 2: expected {len(COLUMNS)} fields"):
        read_manifest(tmp_path / "y.csv")


def test_hidden_files_special_files_link_loops_and_the_manifest_itself_are_skipped(tmp_path, good_dir):
    shutil.copy(good_dir / "movie.mp4", tmp_path / "a.mp4")
    (tmp_path / ".hidden.mp4").write_bytes(b"")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "b.mp4").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path, tmp_path / "loop")
    os.symlink(good_dir / "old.avi", tmp_path / "linked.avi")
    build_index(tmp_path, tmp_path / "index.csv", workers=1, progress=False)
    rows = build_index(tmp_path, tmp_path / "index.csv", workers=1, progress=False)
    assert [(r.path, r.status) for r in rows] == [("a.mp4", "ok"), ("linked.avi", "ok")]
    assert rows.reused == 2


def test_summary_wording():
    rows = [
        _record(duration=Fraction(5400), num_slots=2700),
        _record(duration=Fraction(5400), num_slots=2700),
        _record(status="excluded", reason="no audio stream", num_slots=0),
        _record(status="excluded", reason="empty file", num_slots=0),
    ]
    assert (
        summarize(rows) == "4 titles: 2 ok, 2 excluded (1 empty file, 1 no audio stream); 5,400 slots, 3.0 h"
    )
    assert summarize(rows[:1]) == "1 title: 1 ok, 0 excluded; 2,700 slots, 1.5 h"


def test_cli_writes_the_manifest_and_prints_the_summary(tmp_path, good_dir, capsys):
    out = tmp_path / "runs" / "manifest.csv"
    assert main([str(good_dir), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"{len(GOOD)} titles: {len(GOOD)} ok, 0 excluded; {2 * len(GOOD)} slots" in printed
    assert f"probed {len(GOOD)} file(s), reused 0" in printed
    assert len(read_manifest(out)) == len(GOOD)
    assert (
        main([str(good_dir), "--out", str(out), "--workers", "1", "--no-progress", "--slot-seconds", "4"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"reused {len(GOOD)} unchanged row(s)" in printed and f"; {len(GOOD)} slots" in printed
    assert main([str(good_dir), "--out", str(out), "--workers", "1"]) == 0
    assert capsys.readouterr().err == "", "no progress bar when stderr is not a terminal"


def test_cli_errors_are_clear_and_exit_2(tmp_path, good_dir, capsys):
    assert main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.csv")]) == 2
    assert "corpus root" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "m.csv")]) == 2
    assert "no files under" in capsys.readouterr().err
    precious = tmp_path / "results.csv"
    precious.write_text("epoch,loss\n0,1.5\n")
    assert main([str(good_dir), "--out", str(precious), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "not a tvssl manifest" in err and "refusing to overwrite" in err
    assert precious.read_text() == "epoch,loss\n0,1.5\n"
    with pytest.raises(SystemExit) as exit_info:
        main([str(good_dir), "--out", str(tmp_path / "m.csv"), "--slot-seconds", "0"])
    assert exit_info.value.code == 2
    with pytest.raises(CorpusError):
        build_index(tmp_path / "nowhere", tmp_path / "m.csv")


@pytest.mark.ddp
def test_parallel_index_equals_serial_index(tmp_path, good_dir):
    _bad_corpus(tmp_path / "corpus", good_dir)
    for name in GOOD:
        shutil.copy(good_dir / name, tmp_path / "corpus" / name)
    serial = build_index(tmp_path / "corpus", tmp_path / "1.csv", workers=1, progress=False)
    parallel = build_index(tmp_path / "corpus", tmp_path / "2.csv", workers=2, progress=False)
    assert parallel == serial
    assert (tmp_path / "1.csv").read_bytes() == (tmp_path / "2.csv").read_bytes()


def test_files_that_differ_only_by_extension_get_distinct_title_ids(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    write_media(root / "movie.mp4", seconds=2.5, vcodec="libx264", acodec="aac")
    write_media(root / "movie.mkv", seconds=2.5, vcodec="libx264", acodec="aac")
    write_media(root / "other.mp4", seconds=2.5, vcodec="libx264", acodec="aac")
    rows = build_index(root, tmp_path / "m.csv", workers=1, slot_seconds=1, progress=False)
    assert [r.title_id for r in rows] == ["movie.mkv", "movie.mp4", "other"]


def test_first_use_indexing_prints_the_summary(
    tmp_path: Path, good_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A datamodule that indexes its corpus on first use says what it left out, as `tvssl index` does."""
    from data_modules.longform import MovieDataModule

    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(good_dir / "movie.mp4", root / "a.mp4")
    (root / "notes.mp4").write_text("not a video\n")
    MovieDataModule(root=str(root), num_workers=0, index_workers=1).prepare_data()
    err = capsys.readouterr().err
    assert f"wrote {root / '.tvssl' / 'manifest.csv'}: probed 2 file(s)" in err
    assert "2 titles: 1 ok, 1 excluded (1 not media); 2 slots, 4.5 s" in err


def test_a_corpus_manifest_of_an_older_probe_is_refreshed_on_first_use(tmp_path, good_dir):
    from data_modules.longform import MovieDataModule
    from data_modules.manifest import LEGACY_COLUMNS, PROBE_VERSION

    root = tmp_path / "c"
    root.mkdir()
    shutil.copy(good_dir / "movie.mp4", root / "a.mp4")
    manifest = root / ".tvssl" / "manifest.csv"
    build_index(root, manifest, workers=1, progress=False)
    lines = manifest.read_text().splitlines()
    manifest.write_text(
        "\n".join([",".join(LEGACY_COLUMNS)] + [x.rsplit(",", 2)[0] for x in lines[1:]]) + "\n"
    )
    MovieDataModule(root=str(root), index_workers=1).prepare_data()
    assert [r.probe_version for r in read_manifest(manifest)] == [PROBE_VERSION]
