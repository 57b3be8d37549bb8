"""tvssl bench: the readers it compares return the same clips, and both verbs print their tables.

Timings are never asserted (they depend on the machine); the tests prove the benchmark measures what it says:
same clips from every reader, clips chosen by the real sampler, and a table with every column and ratio.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from data_modules.decoding import ClipSpec, read_windows
from data_modules.index import build_index, read_manifest
from data_modules.media import title_span
from data_modules.prepare import PrepareSettings, prepare_corpus
from data_modules.synthetic import synthesize_corpus
from tests.media_fixtures import audio_time, frame_time, write_media
from tvssl.bench.clips import load_titles, plan_groups
from tvssl.bench.loader import loader_setup
from tvssl.bench.readers import read_forward, read_per_clip
from tvssl.commands import bench

SPEC = ClipSpec(slot_seconds=1, num_frames=8, frame_rate=16, sample_rate=16000, short_side=32)
STARTS = [Fraction(3), Fraction(0), Fraction(1, 3), Fraction(4)]
NUMBER = r"([0-9]+\.[0-9]+)"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(root, manifest elsewhere): two 24-second synthetic movies at 64x48."""
    root = tmp_path_factory.mktemp("bench_corpus")
    synthesize_corpus(root, kind="movie", titles=2, minutes=0.4, width=64, height=48, seed=11)
    manifest = tmp_path_factory.mktemp("bench_index") / "manifest.csv"
    build_index(root, manifest, workers=1, progress=False)
    return root, manifest


@pytest.mark.parametrize(
    "suffix, options",
    [
        (".mp4", dict(fps=25, gop=30)),
        (".mp4", dict(fps=23.976, vfr=True, sample_rate=44100, layout="stereo")),
        (".mkv", dict(fps=30, audio_start=0.25, sample_rate=22050)),
    ],
    ids=["mp4-25-gop30", "mp4-ntsc-vfr-44k", "mkv-30-audio-late"],
)
def test_per_clip_grouped_and_sequential_readers_return_the_same_clips(
    tmp_path: Path, suffix: str, options: dict
) -> None:
    path = write_media(tmp_path / f"clip{suffix}", seconds=6, **options)
    per_clip = read_per_clip(path, STARTS, SPEC)
    grouped = read_windows(path, STARTS, SPEC)
    assert per_clip.video.shape == grouped.video.shape and per_clip.audio.shape == grouped.audio.shape
    np.testing.assert_array_equal(per_clip.video, grouped.video)  # same frames, same scaler
    with av.open(str(path)) as container:
        origin, _ = title_span(container)  # the drawn times and the chirp are container times
    offsets = SPEC.frame_offsets()
    for w, start in enumerate(STARTS):
        wanted = [float(origin + start + off) for off in offsets]
        shown = [frame_time(frame) for frame in per_clip.video[w]]
        # The frame on screen at each target time: never later than the target, at most one frame earlier.
        assert all(-0.001 <= t - s < 0.07 for t, s in zip(wanted, shown))
    for w in range(len(STARTS)):
        # Resampled audio may differ by the resampler's phase; both must sit at the same time (< 0.5 ms).
        guess = audio_time(grouped.audio[w], SPEC.sample_rate, float(origin + STARTS[w]))
        assert audio_time(per_clip.audio[w], SPEC.sample_rate, guess) == pytest.approx(guess, abs=5e-4)
    if options.get("sample_rate", 16000) == SPEC.sample_rate:
        np.testing.assert_allclose(per_clip.audio, grouped.audio, atol=1e-6)
    assert per_clip.stats.seeks == 2 * len(STARTS)
    assert per_clip.stats.frames_returned == SPEC.num_frames * len(STARTS)

    span = [Fraction(j) for j in range(1, 5)]
    sequential = read_forward(path, span, SPEC)
    reference = read_windows(path, span, SPEC)
    np.testing.assert_array_equal(sequential.video, reference.video)
    assert sequential.stats.seeks == 2


def test_clip_groups_follow_the_k_w_policy(corpus: tuple[Path, Path]) -> None:
    root, manifest = corpus
    titles = load_titles(manifest, root, Fraction(1))
    assert [t.num_slots for t in titles] == [24, 24]
    groups = plan_groups(titles, k=4, w=6, clips=40, seed=3, round_index=0)
    assert len(groups) == 10
    for title, slots in groups:
        assert 0 <= title < 2 and len(set(slots)) == 4 and slots == sorted(slots)
        assert slots[-1] - slots[0] < 6 and slots[0] >= 0 and slots[-1] < 24
    assert {t for t, _ in groups} == {0, 1}
    assert plan_groups(titles, 4, 6, 40, 3, 0) == groups
    assert plan_groups(titles, 4, 6, 40, 3, 1) != groups
    adjacent = plan_groups(titles, k=4, w=4, clips=8, seed=0, round_index=0)
    assert all(slots == list(range(slots[0], slots[0] + 4)) for _, slots in adjacent)


def _row(text: str, reader: str) -> list[float]:
    match = re.search(
        rf"^{reader}\s+" + r"\s+".join([NUMBER] * 2) + rf"\s+{NUMBER}x" + rf"\s+{NUMBER}" * 3, text, re.M
    )
    assert match, f"no table row for {reader} in:\n{text}"
    return [float(x) for x in match.groups()]


def test_bench_decode_prints_readers_ratios_and_work(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, manifest = corpus
    out = tmp_path / "result.json"
    args = [
        "decode",
        "--manifest",
        str(manifest),
        "--root",
        str(root),
        "--k",
        "4",
        "--w",
        "8",
        "--clips",
        "8",
    ]
    args += ["--rounds", "2", "--slot-seconds", "1", "--short-side", "32", "--json", str(out)]
    assert bench.main(args) == 0
    text = capsys.readouterr().out
    rows = {name: _row(text, name) for name in ("per-clip", "grouped", "sequential")}
    for clips_s, cpu_s, _, seeks, decoded, discarded in rows.values():
        assert clips_s > 0 and cpu_s > 0 and decoded > 0 and discarded >= 0 and seeks > 0
    assert rows["per-clip"][2] == 1.0 and rows["per-clip"][3] == 2.0  # one video and one audio seek per clip
    assert rows["grouped"][3] <= 2.0
    ratios = re.search(rf"grouped / per-clip = {NUMBER}x\s+grouped / sequential = {NUMBER}x", text)
    assert ratios, text
    assert float(ratios.group(1)) == pytest.approx(rows["grouped"][2], abs=0.01)
    try:
        import torchcodec  # noqa: F401
    except Exception:
        assert re.search(r"^torchcodec\s+\(column skipped: ", text, re.M)
    work = re.search(rf"decode \+ scale {NUMBER} ms; .* would add {NUMBER} ms per clip in a worker", text)
    assert work and float(work.group(1)) > 0 and float(work.group(2)) > 0, text
    result = yaml.safe_load(out.read_text())
    assert result["k"] == 4 and result["rounds"] == 2 and set(result["readers"]) >= {"per-clip", "grouped"}
    assert result["grouped_over_per_clip"] == pytest.approx(float(ratios.group(1)), abs=0.01)


def test_bench_decode_reads_the_same_clips_from_a_clip_exact_copy(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, manifest = corpus
    settings = PrepareSettings.clip_exact(SPEC)
    copy = prepare_corpus(manifest, tmp_path / "clips", settings, src_root=root).manifest
    out = tmp_path / "result.json"
    args = ["decode", "--manifest", str(manifest), "--root", str(root), "--k", "1", "--clips", "4"]
    args += ["--rounds", "1", "--slot-seconds", "1", "--short-side", "32", "--prepared", str(copy)]
    assert bench.main([*args, "--json", str(out), "--no-torchcodec"]) == 0
    text = capsys.readouterr().out
    clips_s, _, _, seeks, decoded, discarded = _row(text, "clip-exact")
    assert clips_s > 0 and seeks == 0 and decoded == 8.0 and discarded == 0.0  # its own frames, nothing else
    agree = re.search(rf"clip-exact / grouped = {NUMBER}x; .* differ by {NUMBER} grey levels", text)
    # x264 at crf 23 on 32-pixel frames of busy synthetic scenes: 3.0 grey levels measured here.
    assert agree and float(agree.group(2)) < 4.0, text
    result = yaml.safe_load(out.read_text())
    assert result["clip-exact_over_grouped"] == pytest.approx(float(agree.group(1)), abs=0.01)
    assert result["readers"]["clip-exact"]["agreement"]["clips"] == 4


def test_bench_decode_errors_say_what_to_change(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, manifest = corpus
    assert bench.main(["decode", "--manifest", str(tmp_path / "none.csv")]) == 2
    assert "tvssl index" in capsys.readouterr().err
    assert (
        bench.main(["decode", "--manifest", str(manifest), "--root", str(root), "--k", "4", "--w", "2"]) == 2
    )
    assert "w=2 < k=4" in capsys.readouterr().err
    assert bench.main(["decode", "--manifest", str(manifest), "--root", str(tmp_path)]) == 2
    assert "--root" in capsys.readouterr().err


def test_overrides_reach_the_datamodule_arguments(tmp_path: Path) -> None:
    """--set and --data.KEY go through the training command line's parser, in command-line order."""
    config = {"data": {"class_path": "data_modules.longform.MovieDataModule", "init_args": {"k": 16}}}
    (tmp_path / "row.yaml").write_text(yaml.safe_dump(config))
    args = bench.overrides(
        ["data.init_args.k=4", "trainer.max_epochs=2"], ["--data.root", "/r", "--data.w=Mn"]
    )
    setup = loader_setup(["--config", str(tmp_path / "row.yaml"), *args])
    assert {key: setup.init_args[key] for key in ("k", "root", "w")} == {"k": 4, "root": "/r", "w": "Mn"}
    assert (setup.datamodule.k, setup.datamodule.root_arg, setup.datamodule.w) == (4, "/r", "Mn")
    assert setup.trainer["max_epochs"] == 2


@pytest.mark.slow
def test_bench_loader_times_one_and_two_workers(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, manifest = corpus
    base = {
        "data": {
            "class_path": "data_modules.longform.MovieDataModule",
            "init_args": {"batch_size": 512, "k": 16, "w": "Mn", "num_workers": 8, "short_side": 128},
        }
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    row = {"__base__": "base.yaml", "data": {"init_args": {"k": 4, "w": 8}}}
    (tmp_path / "row.yaml").write_text(yaml.safe_dump(row))
    # a profile layered over the row, as `--config ROW --config PROFILE` of tvssl fit
    profile = {"data": {"init_args": {"short_side": 32}}}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    args = ["loader", "--config", str(tmp_path / "row.yaml"), "--config", str(tmp_path / "profile.yaml")]
    args += ["--workers", "1", "2", "--batches", "2", "--warmup", "1", "--calibrate-seconds", "0.1"]
    args += ["--data.root", str(root), "--data.manifest", str(manifest)]
    args += ["--set", "data.init_args.batch_size=4"]
    args += ["--set", "data.init_args.slot_seconds=1", "--set", "data.init_args.val_titles=0"]
    assert bench.main(args) == 0
    text = capsys.readouterr().out
    assert f"{tmp_path / 'row.yaml'} + {tmp_path / 'profile.yaml'} ->" in text
    assert "batch_size=4, k=4, w=8, short_side=32" in text
    row = r"\s+{}\s+" + rf"{NUMBER}\s+{NUMBER}x\s+{NUMBER}x\s+([0-9]+)%\s+{NUMBER}"
    one = re.search("^" + row.format(1), text, re.M)
    two = re.search("^" + row.format(2), text, re.M)
    assert one and two, text
    assert float(one.group(2)) == 1.0 and float(one.group(3)) == 1.0 and float(two.group(1)) > 0
    assert float(two.group(2)) == pytest.approx(float(two.group(1)) / float(one.group(1)), rel=0.01)
    assert float(two.group(3)) > 0  # the machine's own 2-process ceiling, measured in the run
    assert float(one.group(5)) > 0 and float(two.group(5)) > 0  # clips per CPU second, workers included


@pytest.mark.slow
def test_make_title_writes_the_benchmark_title_and_benches_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bench"
    args = ["decode", "--make-title", str(folder), "--make-title-minutes", "0.1", "--k", "1", "--clips", "2"]
    assert bench.main([*args, "--rounds", "1", "--no-torchcodec"]) == 0
    (row,) = read_manifest(folder / "manifest.csv")
    assert (row.width, row.height, row.fps, row.video_codec, row.audio_codec) == (
        1280,
        720,
        24.0,
        "h264",
        "aac",
    )
    assert row.duration == 6
    text = capsys.readouterr().out
    assert "benchmark title ready" in text and re.search(r"grouped / per-clip = [0-9.]+x", text)
    assert not re.search(r"^torchcodec", text, re.M)  # --no-torchcodec leaves the column out
