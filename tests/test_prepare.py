"""tvssl prepare: scaled copies with a keyframe on every slot boundary, title time kept, resumable and verified.

The sources draw their own timestamps into every frame and carry a chirp of time as audio, so a test can prove
that the prepared copy shows the same moment at the same title time, not just that it has the right shape.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest

from data_modules.decoding import ClipSpec, read_windows
from data_modules.index import build_index, read_manifest
from data_modules.media import title_span
from data_modules.prepare import (
    EXCLUDED,
    PREPARED,
    REDONE,
    SKIPPED,
    PrepareSettings,
    check_output,
    prepare_corpus,
)
from tests.media_fixtures import audio_time, frame_time, write_media
from tvssl.commands import prepare as prepare_command

SLOT = Fraction(1)
SETTINGS = PrepareSettings(short_side=32, keyframe_every=SLOT)
SECONDS = 6
SOURCES = {
    # A long GOP (one keyframe in 4 s) with B-frames, like a film.
    "film.mp4": dict(fps=25, gop=100),
    # NTSC rate with variable frame durations, stereo 44.1 kHz, video starting late: title time 0 is not 0.
    "Show/vfr.mp4": dict(fps=23.976, vfr=True, sample_rate=44100, layout="stereo", video_start=0.3),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(source root, manifest) with two titles and one file the index excludes."""
    root = tmp_path_factory.mktemp("prepare_src")
    for name, options in SOURCES.items():
        write_media(root / name, seconds=SECONDS, **options)
    (root / "notes.mp4").write_bytes(b"not a video at all" * 10)
    manifest = root / ".tvssl" / "manifest.csv"
    build_index(root, manifest, workers=1, slot_seconds=SLOT, progress=False)
    return root, manifest


@pytest.fixture(scope="module")
def prepared(corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The prepared copy made by the command, and what the command printed."""
    _, manifest = corpus
    dst = tmp_path_factory.mktemp("prepared")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = prepare_command.main(
            [str(manifest), str(dst), "--short-side", "32", "--keyframe-every", "1", "--workers", "1"]
        )
    assert code == 0, buffer.getvalue()
    return dst, buffer.getvalue()


def _copy(dst: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(dst, out)
    return out


def _video_packets(path: Path) -> tuple[list[Fraction], list[Fraction], Fraction]:
    """(all frame times, keyframe times) in container seconds, and the stream's time base."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = Fraction(stream.time_base)
        packets = [(p.pts * tb, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
    return sorted(t for t, _ in packets), sorted(t for t, key in packets if key), tb


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_keyframe_sits_on_every_slot_boundary_and_nowhere_else(
    prepared: tuple[Path, str], name: str
) -> None:
    dst, _ = prepared
    out = dst / Path(name).with_suffix(".mp4")
    times, keys, _ = _video_packets(out)
    with av.open(str(out)) as container:
        origin, duration = title_span(container)
    assert origin == 0
    on_screen = []
    boundary = Fraction(0)
    while boundary < duration:
        on_screen.append(max(t for t in times if t <= boundary))  # the frame shown at the boundary
        boundary += SLOT
    assert keys == on_screen
    assert len(keys) == SECONDS


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_video_is_scaled_and_audio_kept(
    prepared: tuple[Path, str], corpus: tuple[Path, Path], name: str
) -> None:
    dst, _ = prepared
    root, _ = corpus
    with av.open(str(root / name)) as src, av.open(str(dst / Path(name).with_suffix(".mp4"))) as out:
        video = out.streams.video[0].codec_context
        assert (video.width, video.height) == (48, 32)  # 96x64 with the short side at 32, aspect kept
        assert out.streams.audio, "the prepared copy lost its audio"
        a_src, a_out = src.streams.audio[0].codec_context, out.streams.audio[0].codec_context
        assert a_out.name == "aac"
        assert (a_out.sample_rate, a_out.channels) == (a_src.sample_rate, a_src.channels)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_title_time_is_kept(prepared: tuple[Path, str], corpus: tuple[Path, Path], name: str) -> None:
    """The frame and the audio at title time t are the same moment in the source and in the copy."""
    dst, _ = prepared
    root, _ = corpus
    source, copy = root / name, dst / Path(name).with_suffix(".mp4")
    spec = ClipSpec(slot_seconds=1, num_frames=4, frame_rate=8, sample_rate=16000, short_side=32)
    starts = [Fraction(0), Fraction(1), Fraction(5, 2), Fraction(4)]
    a = read_windows(source, starts, spec)
    b = read_windows(copy, starts, spec)
    times_a = [[frame_time(f) for f in window] for window in a.video]
    times_b = [[frame_time(f) for f in window] for window in b.video]
    assert times_a == times_b
    with av.open(str(source)) as container:
        origin, _ = title_span(container)
    for i, start in enumerate(starts):
        expected = float(origin + start)  # the chirp encodes source container time
        assert audio_time(b.audio[i], spec.sample_rate, expected) == pytest.approx(expected, abs=1e-3)


def test_manifest_lists_the_prepared_titles(prepared: tuple[Path, str], corpus: tuple[Path, Path]) -> None:
    dst, manifest = prepared[0], corpus[1]
    source = {r.path: r for r in read_manifest(manifest)}
    rows = read_manifest(dst / "manifest.csv")
    assert [r.path for r in rows] == ["Show/vfr.mp4", "film.mp4"]
    for row in rows:
        assert row.ok and row.height == 32
        original = source[row.path]
        # Within one video frame (or one AAC frame of padding) of the source title.
        assert abs(row.duration - original.duration) <= Fraction(1024, row.sample_rate)
        assert row.num_slots == int(row.duration // SLOT)


def test_excluded_titles_are_skipped_with_a_note(prepared: tuple[Path, str]) -> None:
    dst, printed = prepared
    assert not (dst / "notes.mp4").exists()
    line = next(line for line in printed.splitlines() if "notes.mp4" in line)
    assert line.startswith(EXCLUDED) and "excluded in the source manifest" in line
    assert "2 prepared, 0 redone, 0 skipped, 1 excluded, 0 failed" in printed


def test_a_second_run_skips_finished_titles(
    prepared: tuple[Path, str], corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    dst = _copy(prepared[0], tmp_path)
    before = {p: p.stat().st_mtime_ns for p in dst.rglob("*.mp4")}
    result = prepare_corpus(corpus[1], dst, SETTINGS)
    assert {o.path: o.status for o in result.outcomes} == {
        "film.mp4": SKIPPED,
        "Show/vfr.mp4": SKIPPED,
        "notes.mp4": EXCLUDED,
    }
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*.mp4")} == before


def test_corrupt_outputs_are_redone(
    prepared: tuple[Path, str], corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    dst = _copy(prepared[0], tmp_path)
    film, source = dst / "film.mp4", corpus[0] / "film.mp4"
    data = film.read_bytes()
    film.write_bytes(data[: len(data) // 2])  # an interrupted copy: the index (moov) at the end is gone
    assert check_output(film, source, SETTINGS) is not None
    result = prepare_corpus(corpus[1], dst, SETTINGS)
    status = {o.path: o for o in result.outcomes}
    assert status["film.mp4"].status == REDONE and "unreadable" in status["film.mp4"].detail
    assert status["Show/vfr.mp4"].status == SKIPPED
    assert check_output(film, source, SETTINGS) is None
    assert not list(dst.rglob(".*.partial"))


def test_other_settings_or_a_changed_source_redo_the_title(
    prepared: tuple[Path, str], corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    dst = _copy(prepared[0], tmp_path)
    source = corpus[0] / "film.mp4"
    wider = PrepareSettings(short_side=48, keyframe_every=SLOT)
    assert "other settings" in (check_output(dst / "film.mp4", source, wider) or "")
    result = prepare_corpus(corpus[1], dst, wider)
    assert {o.status for o in result.outcomes if o.path != "notes.mp4"} == {REDONE}
    with av.open(str(dst / "film.mp4")) as container:
        assert container.streams.video[0].codec_context.height == 48


@pytest.mark.slow
def test_titles_run_in_parallel_processes(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    result = prepare_corpus(corpus[1], tmp_path / "parallel", SETTINGS, workers=2)
    assert sorted(o.status for o in result.outcomes) == [EXCLUDED, PREPARED, PREPARED]
    assert all(
        check_output(tmp_path / "parallel" / o.output, corpus[0] / o.path, SETTINGS) is None
        for o in result.outcomes
        if o.status == PREPARED
    )


def test_bad_settings_and_destinations_are_refused(corpus: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="even"):
        PrepareSettings(short_side=33)
    with pytest.raises(ValueError, match="keyframe_every"):
        PrepareSettings(keyframe_every=0)
    root, manifest = corpus
    with pytest.raises(ValueError, match="source corpus root"):
        prepare_corpus(manifest, root, SETTINGS)
    assert prepare_command.main([str(root / "missing.csv"), str(root / "x")]) == 2


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


PREPARE_ARGS = ["--short-side", "32", "--keyframe-every", "1", "--workers", "1"]


def test_a_destination_with_files_prepare_did_not_make_is_refused_before_anything_is_written(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dst = tmp_path / "dst"
    write_media(dst / "film.mp4", seconds=1, width=32, height=32)  # named like an output, not made by prepare
    (dst / "Show").mkdir()
    (dst / "Show" / "notes.txt").write_text("mine")
    before = _tree(dst)
    assert prepare_command.main([str(corpus[1]), str(dst), *PREPARE_ARGS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tvssl: the destination {dst} holds 2 file(s)"), err
    assert "(Show/notes.txt, film.mp4)" in err[0]
    assert _tree(dst) == before and sorted(p.name for p in dst.iterdir()) == ["Show", "film.mp4"]


def test_a_foreign_manifest_is_refused_before_any_title_is_transcoded(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "manifest.csv").write_text("epoch,loss\n0,1.5\n")
    assert prepare_command.main([str(corpus[1]), str(dst), *PREPARE_ARGS]) == 2
    assert "(manifest.csv)" in capsys.readouterr().err
    assert _tree(dst) == {"manifest.csv": b"epoch,loss\n0,1.5\n"}


def test_the_new_manifest_lists_only_the_outputs_of_the_run(
    prepared: tuple[Path, str], corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    dst = _copy(prepared[0], tmp_path)
    (dst / "old").mkdir()
    shutil.copy(dst / "film.mp4", dst / "old" / "gone.mp4")  # made by prepare, for a title no longer listed
    result = prepare_corpus(corpus[1], dst, SETTINGS)
    assert [r.path for r in read_manifest(dst / "manifest.csv")] == ["Show/vfr.mp4", "film.mp4"]
    assert [r.path for r in result.records] == ["Show/vfr.mp4", "film.mp4"]
