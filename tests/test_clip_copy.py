"""tvssl prepare --clip-exact: per slot the clip training reads, equal to the source reader's within codec error.

The sources draw their own timestamps into every frame and carry a chirp of time as audio: a copy that holds the
wrong frames or misplaces the audio reads a different time, not just slightly different pixels.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from data_modules.clip_copy import AUDIO_STEP, ClipSpecMismatch, clip_copy_header
from data_modules.clip_copy_writer import check_clip_copy
from data_modules.clip_spec import spec_key, spec_text
from data_modules.decoding import ClipDecodeError, ClipSpec, read_windows
from data_modules.index import build_index, read_manifest
from data_modules.longform import MovieDataModule
from data_modules.prepare import PREPARED, REDONE, SKIPPED, PrepareSettings, prepare_corpus
from data_modules.prepare_shards import merge_prepared
from data_modules.sharding import Shard
from tests.media_fixtures import audio_time, frame_time, write_media
from tvssl.commands import prepare as prepare_command
from tvssl.errors import user_message

SPEC = ClipSpec(
    slot_seconds=Fraction(1), num_frames=4, frame_rate=Fraction(8), sample_rate=16000, short_side=32
)
SETTINGS = PrepareSettings.clip_exact(SPEC)
CLIP_ARGS = [
    "--clip-exact",
    "--short-side",
    "32",
    "--keyframe-every",
    "1",
    "--num-frames",
    "4",
    "--frame-rate",
    "8",
]
SOURCES = {
    "film.mp4": dict(fps=25, gop=100, seconds=7),  # long GOP with B-frames, like a film
    "Show/late.mkv": dict(fps=23.976, vfr=True, sample_rate=44100, video_start=0.3, seconds=6),
}
VIDEO_MAD = 1.5
"""Mean absolute difference (grey levels) allowed between the copy's frames and the source reader's (x264 at
crf 23, chroma subsampled again). Measured: 0.2-0.4 on these drawn frames, 1.8 on the 720p bench title."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("clip_src")
    for name, options in SOURCES.items():
        write_media(root / name, **options)
    manifest = root / ".tvssl" / "manifest.csv"
    build_index(root, manifest, workers=1, slot_seconds=SPEC.slot_seconds, progress=False)
    return root, manifest


@pytest.fixture(scope="module")
def copy(corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip-exact copy, made through the command line."""
    _, manifest = corpus
    dst = tmp_path_factory.mktemp("clips")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = prepare_command.main([str(manifest), str(dst), *CLIP_ARGS, "--workers", "1"])
    assert code == 0, printed.getvalue()
    return dst


def _pairs(corpus: tuple[Path, Path], copy: Path) -> list[tuple[Path, Path, int]]:
    root, manifest = corpus
    rows = {r.title_id: r for r in read_manifest(copy / "manifest.csv")}
    return [
        (root / r.path, copy / rows[r.title_id].path, rows[r.title_id].num_slots)
        for r in read_manifest(manifest)
        if r.ok
    ]


def test_every_slot_of_the_copy_is_the_clip_the_source_reader_gives(
    corpus: tuple[Path, Path], copy: Path
) -> None:
    pairs = _pairs(corpus, copy)
    assert len(pairs) == 2
    for source, copied, num_slots in pairs:
        assert copied.suffix == ".clips" and num_slots >= 5
        origin = 0.3 if "late" in copied.name else 0.0  # container time of title time 0
        resampled = "late" in copied.name  # 44.1 kHz stereo in the source, 16 kHz mono in the clips
        starts = [j * SPEC.slot_seconds for j in range(num_slots)]
        clips = read_windows(copied, starts, SPEC)
        assert clips.video.shape[:3] == (num_slots, 4, 32)
        for j, start in enumerate(starts):
            alone = read_windows(source, [start], SPEC)
            difference = np.abs(alone.video[0].astype(np.int16) - clips.video[j])
            assert difference.mean() < VIDEO_MAD, (copied, j, difference.mean())
            drawn = [frame_time(f) for f in clips.video[j]]
            assert drawn == [frame_time(f) for f in alone.video[0]], (copied, j)
            heard = audio_time(clips.audio[j], SPEC.sample_rate, guess=float(start) + origin)
            assert heard == pytest.approx(float(start) + origin, abs=2e-3), (copied, j)
            if resampled:
                # The resampler's phase depends on where decoding started: equal in time, not sample by sample.
                assert heard == pytest.approx(
                    audio_time(alone.audio[0], SPEC.sample_rate, guess=float(start) + origin), abs=1e-3
                )
            else:
                # Sample for sample, but for the title's last AAC frame, which decodes a little differently
                # when decoding started at another point (a one-sample shift would differ by up to 0.39 here).
                off = np.abs(alone.audio[0] - clips.audio[j])
                assert np.median(off) <= AUDIO_STEP / 2 + 1e-7 and off.max() < 0.01, (copied, j)


def test_groups_in_any_order_read_the_same_clips_as_single_slots(
    corpus: tuple[Path, Path], copy: Path
) -> None:
    _, copied, num_slots = _pairs(corpus, copy)[0]
    order = [4, 0, num_slots - 1, 2, 4]
    group = read_windows(copied, [j * SPEC.slot_seconds for j in order], SPEC)
    for i, j in enumerate(order):
        alone = read_windows(copied, [j * SPEC.slot_seconds], SPEC)
        np.testing.assert_array_equal(group.video[i], alone.video[0])
        np.testing.assert_array_equal(group.audio[i], alone.audio[0])
    only_audio = read_windows(copied, [SPEC.slot_seconds], SPEC, video=False)
    assert only_audio.video is None and only_audio.audio.shape == (1, SPEC.audio_samples)


def test_the_manifest_names_the_spec_and_the_title_span_of_the_source(
    corpus: tuple[Path, Path], copy: Path, tmp_path: Path
) -> None:
    _, manifest = corpus
    source = {r.title_id: r for r in read_manifest(manifest) if r.ok}
    rows = read_manifest(copy / "manifest.csv")
    assert {r.title_id for r in rows} == set(source)
    for row in rows:
        assert row.clip_spec == spec_key(SPEC)
        assert (row.duration, row.num_slots, row.start) == (
            source[row.title_id].duration,
            source[row.title_id].num_slots,
            Fraction(0),
        )
        assert clip_copy_header(copy / row.path).tag["spec"] == spec_key(SPEC)
    # Indexed again, verified with the copy's own spec (not the index's default clip).
    again = build_index(copy, tmp_path / "again.csv", workers=1, slot_seconds=1, progress=False, verify=3)
    assert [(r.path, r.clip_spec, r.duration) for r in again if r.ok] == [
        (r.path, r.clip_spec, r.duration) for r in rows
    ]


def _datamodule(root: Path, manifest: Path, num_frames: int = SPEC.num_frames) -> MovieDataModule:
    """Training data with SPEC's clip settings (or another frame count), two clips per title, no workers."""
    return MovieDataModule(
        root=str(root),
        manifest=str(manifest),
        batch_size=4,
        k=2,
        slot_seconds=1,
        num_frames=num_frames,
        frame_rate=8,
        short_side=32,
        val_titles=0,
        num_workers=0,
        seed=3,
    )


def test_another_clip_spec_is_refused_naming_both(copy: Path) -> None:
    other = replace(SPEC, num_frames=2)
    with pytest.raises(ClipSpecMismatch) as refused:
        _datamodule(copy, copy / "manifest.csv", num_frames=2).setup("fit")
    message = user_message(refused.value)
    assert message is not None and "\n" not in message
    assert spec_text(SPEC) in message and spec_text(other) in message and "--clip-exact" in message
    row = read_manifest(copy / "manifest.csv")[0]
    with pytest.raises(ClipDecodeError, match="made for clips of 4 frames"):
        read_windows(copy / row.path, [0], other)
    with pytest.raises(ClipDecodeError, match="not the start of one"):
        read_windows(copy / row.path, [Fraction(1, 2)], SPEC)
    with pytest.raises(ClipDecodeError, match="not the start of one"):
        read_windows(copy / row.path, [row.num_slots * SPEC.slot_seconds], SPEC)


def test_training_reads_the_same_batches_from_the_copy(corpus: tuple[Path, Path], copy: Path) -> None:
    root, manifest = corpus

    def first_batch(folder: Path, path: Path) -> dict:
        module = _datamodule(folder, path)
        module.setup("fit")
        return next(iter(module.train_dataloader()))

    source, copied = first_batch(root, manifest), first_batch(copy, copy / "manifest.csv")
    assert source["video"].shape == copied["video"].shape
    assert (source["video"].float() - copied["video"].float()).abs().mean() < VIDEO_MAD
    assert (source["audio"] - copied["audio"]).abs().median() <= AUDIO_STEP / 2 + 1e-7


def test_a_rerun_skips_verified_copies_and_remakes_a_damaged_one(
    corpus: tuple[Path, Path], copy: Path, tmp_path: Path
) -> None:
    root, manifest = corpus
    dst = tmp_path / "copy"
    first = prepare_corpus(manifest, dst, SETTINGS)
    assert {o.status for o in first.outcomes} == {PREPARED}
    again = prepare_corpus(manifest, dst, SETTINGS)
    assert {o.status for o in again.outcomes} == {SKIPPED}
    target = dst / first.outcomes[0].output
    source = root / first.outcomes[0].path
    target.write_bytes(target.read_bytes()[:-100])
    assert "cut short" in check_clip_copy(target, source, SETTINGS)
    fixed = prepare_corpus(manifest, dst, SETTINGS)
    assert [o.status for o in fixed.outcomes].count(REDONE) == 1
    assert check_clip_copy(target, source, SETTINGS) is None
    assert target.read_bytes() == (copy / first.outcomes[0].output).read_bytes()  # deterministic encoding
    other = PrepareSettings.clip_exact(replace(SPEC, num_frames=2))
    assert "other settings" in check_clip_copy(target, source, other)


def test_shards_and_a_merge_make_the_single_run_copy(
    corpus: tuple[Path, Path], copy: Path, tmp_path: Path
) -> None:
    _, manifest = corpus
    dst = tmp_path / "sharded"
    for i in (1, 2):
        prepare_corpus(manifest, dst, SETTINGS, shard=Shard(i, 2))
    merged = merge_prepared(manifest, dst, SETTINGS, 2)
    single = read_manifest(copy / "manifest.csv")
    assert [replace(r, mtime=0) for r in merged.records] == [replace(r, mtime=0) for r in single]
    for row in single:
        assert (dst / row.path).read_bytes() == (copy / row.path).read_bytes()
