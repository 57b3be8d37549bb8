"""Index and prepare on a cluster: shards by a stable hash of the path, resumable, merged into the single-run output.

The corpus is chosen so that the hash spreads it over every shard and puts the two files of one title id
(``picture.mkv``, ``picture.mp4``) into different shards: their ids are unique only once the merge sees both.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import data_modules.index as index_module
from data_modules.index import build_index, read_manifest
from data_modules.prepare import FAILED, SKIPPED, PrepareSettings, prepare_corpus
from data_modules.prepare_shards import merge_prepared
from data_modules.sharding import MissingShardsError, Shard, index_shard, merge_index, shard_file, shard_of
from tests.media_fixtures import write_media
from tvssl.commands import index as index_command
from tvssl.commands import prepare as prepare_command

FILES = {
    "Show A/Season 1/S01E01.mp4": 3.0,
    "Show A/Season 1/S01E02.mkv": 3.0,
    "Show B/1x03.mp4": 3.0,
    "picture.mkv": 3.0,
    "picture.mp4": 3.0,
    "film.mp4": 3.0,
    "short.mp4": 1.0,
}
INDEX_ARGS = ["--kind", "tv", "--slot-seconds", "1", "--min-seconds", "2", "--workers", "1", "--no-progress"]
OPTIONS = dict(kind="tv", slot_seconds=1, min_seconds=2, workers=1, progress=False, print_summary=False)
SETTINGS = PrepareSettings(short_side=32, keyframe_every=1)
TVSSL = Path(sys.executable).with_name("tvssl")


def _make_corpus(root: Path) -> Path:
    for rel, seconds in FILES.items():
        write_media(root / rel, seconds=seconds, fps=10, width=48, height=32)
    (root / "notes.txt").write_text("not media\n")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_corpus(tmp_path_factory.mktemp("shard_corpus"))


@pytest.fixture(scope="module")
def single(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of one process indexing (and verifying) the whole corpus."""
    out = tmp_path_factory.mktemp("single") / "manifest.csv"
    build_index(corpus, out, verify=1, **OPTIONS)
    return out


def _index(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = index_command.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_the_partition_spreads_the_corpus_and_splits_one_title_id() -> None:
    paths = [*FILES, "notes.txt"]
    assert {shard_of(p, 3) for p in paths} == {1, 2, 3}
    assert shard_of("picture.mkv", 3) != shard_of("picture.mp4", 3)
    assert shard_of("picture.mkv", 2) != shard_of("picture.mp4", 2)
    assert Shard.parse("2/3") == Shard(2, 3)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        with pytest.raises(ValueError, match="I/N"):
            Shard.parse(bad)


def test_three_shards_and_a_merge_write_the_single_run_manifest(
    corpus: Path, single: Path, tmp_path: Path
) -> None:
    out = tmp_path / "manifest.csv"
    for i in (1, 3):
        code, printed, _ = _index(
            [str(corpus), "--out", str(out), "--shard", f"{i}/3", "--verify", "1", *INDEX_ARGS]
        )
        assert code == 0 and str(shard_file(out, i, 3)) in printed
    done = subprocess.run(
        [str(TVSSL), "index", str(corpus), "--out", str(out), "--shard", "2/3", "--verify", "1", *INDEX_ARGS],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not out.exists()
    assert [r.path for r in read_manifest(shard_file(out, 2, 3))] == ["film.mp4"]

    code, printed, _ = _index([str(corpus), "--out", str(out), "--merge", "3", *INDEX_ARGS])
    assert code == 0 and "probed 0 file(s)" in printed
    assert out.read_bytes() == single.read_bytes()
    ids = {r.path: r.title_id for r in read_manifest(out)}
    assert ids["picture.mkv"] == "picture.mkv" and ids["picture.mp4"] == "picture.mp4"
    assert ids["film.mp4"] == "film"
    rows = {r.path: r for r in read_manifest(out)}
    assert (
        rows["Show B/1x03.mp4"].show,
        rows["Show B/1x03.mp4"].season,
        rows["Show B/1x03.mp4"].episode,
    ) == (
        "Show B",
        1,
        3,
    )


def test_a_finished_shard_run_again_probes_nothing(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "manifest.csv"
    first = index_shard(corpus, out, Shard(1, 3), **OPTIONS)
    assert first.probed == 4
    before = shard_file(out, 1, 3).read_bytes()
    examined: list[int] = []
    real = index_module.examine_all
    monkeypatch.setattr(
        index_module, "examine_all", lambda tasks, *a: examined.append(len(tasks)) or real(tasks, *a)
    )
    again = index_shard(corpus, out, Shard(1, 3), **OPTIONS)
    assert (again.probed, again.reused, examined) == (0, 4, [0])
    assert shard_file(out, 1, 3).read_bytes() == before


def test_the_partition_is_stable_when_a_file_is_added(corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    out = tmp_path / "manifest.csv"
    before = {i: {r.path for r in index_shard(root, out, Shard(i, 3), **OPTIONS)} for i in (1, 2, 3)}
    write_media(root / "Show B" / "1x04.mp4", seconds=3, fps=10, width=48, height=32)
    after = {i: index_shard(root, out, Shard(i, 3), **OPTIONS) for i in (1, 2, 3)}
    assert sum(result.probed for result in after.values()) == 1
    for i in (1, 2, 3):
        assert {r.path for r in after[i]} - before[i] <= {"Show B/1x04.mp4"}
        assert before[i] <= {r.path for r in after[i]}
    merged = merge_index(root, out, 3, **OPTIONS)
    assert merged.probed == 0
    assert out.read_bytes() == _fresh_index(root, tmp_path / "fresh.csv").read_bytes()


def _fresh_index(root: Path, out: Path) -> Path:
    build_index(root, out, **OPTIONS)
    return out


def test_a_merge_with_a_missing_shard_is_refused_with_one_line(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "manifest.csv"
    index_shard(corpus, out, Shard(2, 3), **OPTIONS)
    code, printed, err = _index([str(corpus), "--out", str(out), "--merge", "3", *INDEX_ARGS])
    assert code == 2 and printed == ""
    assert err.count("\n") == 1 and "missing shard(s) 1, 3" in err, err
    assert not out.exists()
    with pytest.raises(MissingShardsError, match=r"2 of 3 shard\(s\)"):
        merge_index(corpus, out, 3, **OPTIONS)
    code, _, err = _index([str(corpus), "--out", str(out), "--merge", "3", "--verify", "1", *INDEX_ARGS])
    assert code == 2 and "--verify" in err


def _outputs(dst: Path) -> set[str]:
    return {
        p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file() and ".shards" not in p.as_posix()
    }


def test_two_prepare_shards_and_a_merge_make_the_single_run_copy(corpus: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "source.csv"
    build_index(corpus, manifest, **OPTIONS)
    whole = prepare_corpus(manifest, tmp_path / "whole", SETTINGS, src_root=corpus)
    assert [o.path for o in whole.outcomes if o.status == FAILED] == ["picture.mp4"]

    dst = tmp_path / "sharded"
    common = [
        str(manifest),
        str(dst),
        "--src-root",
        str(corpus),
        "--short-side",
        "32",
        "--keyframe-every",
        "1",
    ]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        codes = [prepare_command.main([*common, "--workers", "1", "--shard", f"{i}/2"]) for i in (1, 2)]
        assert codes == [0, 1]  # picture.mp4 fails in shard 2, as in the single run
        with pytest.raises(SystemExit):
            prepare_command.main([*common, "--shard", "1/2", "--merge", "2"])
        assert prepare_command.main([*common, "--merge", "2"]) == 1
    merged, single = read_manifest(dst / "manifest.csv"), read_manifest(whole.manifest)
    assert [replace(r, mtime=0) for r in merged] == [replace(r, mtime=0) for r in single]
    assert _outputs(dst) == _outputs(tmp_path / "whole")
    marker = ".tvssl-prepare.json"
    assert json.loads((dst / marker).read_text()) == json.loads((tmp_path / "whole" / marker).read_text())
    assert merge_prepared(manifest, dst, SETTINGS, 2).failed == ["picture.mp4"]

    again = prepare_corpus(manifest, dst, SETTINGS, src_root=corpus, shard=Shard(1, 2))
    assert {o.status for o in again.outcomes} == {SKIPPED}
    assert again.records.probed == 0
    with pytest.raises(ValueError, match="other settings"):
        merge_prepared(manifest, dst, replace(SETTINGS, crf=30), 2)
    shard_file(dst / "manifest.csv", 2, 2).unlink()
    with pytest.raises(MissingShardsError, match=r"missing shard\(s\) 2 in"):
        merge_prepared(manifest, dst, SETTINGS, 2)
