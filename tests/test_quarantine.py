"""No title can end a run: failing titles are replaced, then quarantined, counted and listed; crashes leave a checkpoint."""

from __future__ import annotations

import csv
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from data_modules.decoding import ClipSpec
from data_modules.index import build_index, read_manifest
from data_modules.longform import MovieDataModule
from data_modules.longform_dataset import LongFormClipDataset, Unit, collate_clips
from data_modules.quarantine import Quarantine
from tests.media_fixtures import write_media
from tests.overrides import tiny_overrides
from tvssl.cli import main

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SPEC = ClipSpec(slot_seconds=Fraction(1, 2), num_frames=4, short_side=32)


def test_a_title_is_quarantined_once_it_keeps_failing() -> None:
    q = Quarantine(after=3)
    assert not q.failed(0, "a", "a.mp4", "bad") and not q.failed(0, "a", "a.mp4", "bad")
    assert q.failed(0, "a", "a.mp4", "worse") and 0 in q
    assert not q.failed(0, "a", "a.mp4", "again")  # named once
    assert [(e.title, e.reason, e.failures) for e in q.entries()] == [("a", "worse", 3)]
    for _ in range(10):
        q.succeeded(1)
    for _ in range(4):
        q.failed(1, "b", "b.mp4", "one bad scene")
    assert 1 not in q  # mostly readable: its failing slots are replaced, the title stays


def _corpus(movie_corpus: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "corpus"
    shutil.copytree(movie_corpus, root, ignore=shutil.ignore_patterns(".tvssl", "*.csv"))
    build_index(
        root, root / ".tvssl" / "manifest.csv", workers=1, slot_seconds=SPEC.slot_seconds, progress=False
    )
    return root, [r.path for r in read_manifest(root / ".tvssl" / "manifest.csv") if r.status == "ok"]


def _garble(path: Path) -> None:
    """Keep the container's header and index; replace every byte of media data by noise."""
    data = bytearray(path.read_bytes())
    start = len(data) // 10
    data[start:] = np.random.default_rng(0).integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _dataset(root: Path, paths: list[str], substitute: bool = True) -> LongFormClipDataset:
    records = [r for r in read_manifest(root / ".tvssl" / "manifest.csv") if r.status == "ok"]
    units = [
        Unit(r.title_id, (i,), (0,), int(r.duration // SPEC.slot_seconds)) for i, r in enumerate(records)
    ]
    return LongFormClipDataset(
        root, records, units, SPEC, Fraction(0), seed=0, substitute_other_units=substitute
    )


def test_clips_of_a_deleted_title_come_from_other_titles_deterministically(
    movie_corpus: Path, tmp_path: Path
) -> None:
    root, paths = _corpus(movie_corpus, tmp_path)
    (root / paths[2]).unlink()
    indices = [(2, s) for s in range(4)] + [(0, 5), (1, 7)]
    first = _dataset(root, paths)
    batch = collate_clips(first.__getitems__(indices))
    assert batch["video"].shape[0] == len(indices) and batch["audio"].shape[0] == len(indices)
    assert batch["substituted"].tolist() == [True] * 4 + [False, False]
    assert 2 not in batch["title"][:4].tolist() and batch["title"][4:].tolist() == [0, 1]
    assert [e.title for e in batch["quarantined"]] == [first.units[2].key]
    assert "cannot open the file" in batch["quarantined"][0].reason
    again = collate_clips(_dataset(root, paths).__getitems__(indices))
    assert torch.equal(again["title"], batch["title"]) and torch.equal(again["slot"], batch["slot"])
    assert torch.equal(again["video"], batch["video"])
    later = collate_clips(first.__getitems__(indices))  # already quarantined: not even opened, same clips
    assert torch.equal(later["title"], batch["title"]) and torch.equal(later["slot"], batch["slot"])


def test_validation_skips_the_clips_of_a_failing_title(movie_corpus: Path, tmp_path: Path) -> None:
    root, paths = _corpus(movie_corpus, tmp_path)
    _garble(root / paths[1])
    batch = collate_clips(_dataset(root, paths, substitute=False).__getitems__([(1, 3), (1, 9), (0, 2)]))
    assert batch["skip"].tolist() == [True, True, False]
    assert batch["title"].tolist() == [1, 1, 0] and not batch["video"][:2].any()


@pytest.mark.slow
def test_fit_on_a_real_world_like_corpus_finishes_and_lists_the_bad_titles(
    movie_corpus: Path, tmp_path: Path
) -> None:
    """Beside the synthetic movies: an MPEG-PS title and a cut Matroska copy (both must serve), a garbled copy,
    a title deleted after indexing, and the validation title deleted too: fit ends normally and says so."""
    root = tmp_path / "corpus"
    shutil.copytree(movie_corpus, root, ignore=shutil.ignore_patterns(".tvssl", "*.csv"))
    write_media(root / "program_stream.mpg", seconds=20, width=64, height=48)
    whole = write_media(tmp_path / "whole.mkv", seconds=20, width=64, height=48)
    (root / "cut_copy.mkv").write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    build_index(
        root, root / ".tvssl" / "manifest.csv", workers=1, slot_seconds=SPEC.slot_seconds, progress=False
    )
    rows = {r.path: r for r in read_manifest(root / ".tvssl" / "manifest.csv")}
    assert rows["program_stream.mpg"].ok and rows["cut_copy.mkv"].ok
    assert rows["cut_copy.mkv"].duration < Fraction(16)  # its real end, not the 20 s its header claims
    dm = MovieDataModule(root=str(root), val_titles=1, slot_seconds=0.5, batch_size=8, k=4)
    dm.setup("fit")
    val_path = dm.val_set.rel_paths[dm.val_set.units[0].files[0]]
    movies = sorted(p for p in rows if p.startswith("movie_") and p != val_path)
    (root / movies[0]).unlink()
    _garble(root / movies[1])
    (root / val_path).unlink()
    runs = tmp_path / "runs"
    main(
        [
            "fit",
            "--config",
            str(EXPERIMENTS / "movie_k4_w4.yaml"),
            *tiny_overrides(root, runs, 8),
            "--data.init_args.clips_per_epoch=96",
            "--trainer.max_epochs=1",
            "--trainer.log_every_n_steps=1",
            "--run.name=damaged",
        ]
    )
    run_dir = runs / "damaged" / "version_0"
    with (run_dir / "quarantine.csv").open() as f:
        listed = {r["path"]: r["reason"] for r in csv.DictReader(f)}
    assert {movies[0], movies[1], val_path} <= set(listed) and all(listed.values())
    assert "program_stream.mpg" not in listed and "cut_copy.mkv" not in listed
    with (run_dir / "metrics.csv").open() as f:
        log = list(csv.DictReader(f))
    substituted = sum(float(r["train/substituted_clips"]) for r in log if r.get("train/substituted_clips"))
    assert substituted > 0
    assert max(float(r["train/quarantined_titles"]) for r in log if r.get("train/quarantined_titles")) >= 2
    assert [float(r["val/skipped_clips"]) for r in log if r.get("val/skipped_clips")][-1] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
