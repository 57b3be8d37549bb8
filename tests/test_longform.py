"""MovieDataModule / TVDataModule on generated corpora: batches follow the sampler, titles open once, failures substitute."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

import data_modules.longform_dataset as longform_dataset
from data_modules.decoding import ClipDecodeError
from data_modules.index import read_manifest
from data_modules.longform import MovieDataModule, TVDataModule

SMALL = {"slot_seconds": 0.5, "short_side": 32, "num_frames": 4, "frame_rate": 16.0, "val_titles": 1}


def movie_dm(root: Path, **overrides) -> MovieDataModule:
    settings = {
        "k": 4,
        "w": 8,
        "batch_size": 8,
        "num_workers": 0,
        "clips_per_epoch": 24,
        **SMALL,
        **overrides,
    }
    dm = MovieDataModule(root=str(root), **settings)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_first_use_indexes_the_corpus_and_holds_out_titles(movie_corpus: Path) -> None:
    dm = movie_dm(movie_corpus)
    assert dm.manifest_path == movie_corpus / ".tvssl" / "manifest.csv"
    records = read_manifest(dm.manifest_path)
    assert sum(r.status == "ok" for r in records) == 6
    train_keys = {u.key for u in dm.train_set.units}
    val_keys = {u.key for u in dm.val_set.units}
    assert len(val_keys) == 1 and len(train_keys) == 5 and not train_keys & val_keys
    assert all(u.num_slots == 80 for u in dm.train_set.units)
    assert len(dm.val_index) == 8 and {unit for unit, _ in dm.val_index} == {0}


def test_epoch_with_two_workers_follows_the_sampler_plan(movie_corpus: Path) -> None:
    dm = movie_dm(movie_corpus, num_workers=2)
    loader = dm.train_dataloader()
    batches = list(loader)
    assert len(batches) == len(dm.train_sampler) == 3
    for i, batch in enumerate(batches):
        assert set(batch) >= {"video", "audio", "title", "slot", "substituted"}
        assert batch["video"].shape == (8, 4, 32, 42, 3) and batch["video"].dtype == torch.uint8
        assert batch["audio"].shape == (8, 8000) and batch["audio"].dtype == torch.float32
        plan = dm.train_sampler.plan_batch(0, i)
        assert batch["title"].tolist() == plan[:, 0].tolist()
        assert batch["slot"].tolist() == plan[:, 1].tolist()
        assert not batch["substituted"].any()


def test_under_torch_distributed_workers_come_from_a_forkserver_and_read_the_same_batches(
    movie_corpus: Path, tmp_path: Path
) -> None:
    """DDP ranks have threads that make forking them unsafe on older CPython (``default_start_method``)."""
    forked = movie_dm(movie_corpus, num_workers=2).train_dataloader()
    assert forked.multiprocessing_context.get_start_method() == "fork"
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1
    )
    try:
        served = movie_dm(movie_corpus, num_workers=2).train_dataloader()
        assert served.multiprocessing_context.get_start_method() == "forkserver"
        for a, b in zip(list(forked), list(served), strict=True):
            assert a.keys() == b.keys()
            for key in a:
                same = torch.equal(a[key], b[key]) if torch.is_tensor(a[key]) else a[key] == b[key]
                assert same, key
    finally:
        torch.distributed.destroy_process_group()


def test_a_batch_opens_each_title_once(movie_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dm = movie_dm(movie_corpus)
    calls: list[tuple[str, tuple[int, ...]]] = []
    real = longform_dataset.read_clips

    def counting(path, slots, spec, offset=Fraction(0)):
        calls.append((path, tuple(slots)))
        return real(path, slots, spec, offset=offset)

    monkeypatch.setattr(longform_dataset, "read_clips", counting)
    indices = next(iter(dm.train_sampler))
    items = dm.train_set.__getitems__(indices)
    assert len(items) == len(indices)
    files = Counter(path for path, _ in calls)
    assert len(calls) == len({t for t, _ in indices}) and set(files.values()) == {1}
    assert [(it["title"], it["slot"]) for it in items] == indices


def test_a_clip_that_fails_to_decode_is_replaced_from_the_same_title(
    movie_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = movie_dm(movie_corpus)
    indices = next(iter(dm.train_sampler))
    bad_title, bad_slot = indices[0]
    real = longform_dataset.read_clips

    def failing(path, slots, spec, offset=Fraction(0)):
        file, file_slot = dm.train_set.locate(bad_title, bad_slot)
        if path == dm.train_set.paths[file] and file_slot in slots:
            raise ClipDecodeError(path, float(file_slot * spec.slot_seconds), "corrupt packet")
        return real(path, slots, spec, offset=offset)

    monkeypatch.setattr(longform_dataset, "read_clips", failing)
    batch = longform_dataset.collate_clips(dm.train_set.__getitems__(indices))
    assert batch["video"].shape[0] == len(indices)
    assert batch["substituted"].tolist() == [True] + [False] * (len(indices) - 1)
    assert batch["title"][0] == bad_title and batch["slot"][0] != bad_slot
    assert batch["slot"][1:].tolist() == [s for _, s in indices[1:]]


def test_skip_head_and_tail_shift_and_shorten_slots(
    movie_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = movie_dm(movie_corpus, skip_head_seconds=3.0, skip_tail_seconds=2.0)
    assert all(u.num_slots == 70 for u in dm.train_set.units)
    offsets = []
    real = longform_dataset.read_clips

    def spy(path, slots, spec, offset=Fraction(0)):
        offsets.append(offset)
        return real(path, slots, spec, offset=offset)

    monkeypatch.setattr(longform_dataset, "read_clips", spy)
    dm.train_set.__getitems__([(0, 69)])
    assert offsets == [Fraction(3)]


def test_root_errors_name_the_setting_and_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MOVIE_ROOT", raising=False)
    with pytest.raises(ValueError, match="MOVIE_ROOT"):
        MovieDataModule().setup("fit")
    monkeypatch.setenv("TV_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="TV_ROOT"):
        TVDataModule().setup("fit")


def test_invalid_policy_names_the_manifest(movie_corpus: Path) -> None:
    with pytest.raises(ValueError, match=r"manifest .*multiple of k|k \* num_replicas|divisible"):
        movie_dm(movie_corpus, k=3, batch_size=8)


def test_lightning_must_not_wrap_the_batch_sampler(movie_corpus: Path, tmp_path: Path) -> None:
    dm = MovieDataModule(root=str(movie_corpus), k=4, w=8, batch_size=8, num_workers=0, **SMALL)
    trainer = pl.Trainer(use_distributed_sampler=True, logger=False, default_root_dir=tmp_path)
    dm.trainer = trainer
    with pytest.raises(ValueError, match="use_distributed_sampler: false"):
        dm.setup("fit")


def test_tv_units_by_episode_or_show(tv_corpus: Path) -> None:
    episodes = TVDataModule(root=str(tv_corpus), k=2, w="Mn", batch_size=2, num_workers=0, **SMALL)
    episodes.setup("fit")
    assert len(episodes.train_set.units) == 4 and len(episodes.val_set.units) == 2
    shows = TVDataModule(
        root=str(tv_corpus), k=2, w="Mn", batch_size=2, num_workers=0, title_unit="show", **SMALL
    )
    shows.setup("fit")
    assert [len(u.files) for u in shows.train_set.units] == [2, 2]
    unit = shows.train_set.units[0]
    assert unit.num_slots == 80 and unit.first_slot == (0, 40)
    assert shows.train_set.locate(0, 45) == (unit.files[1], 5)
    held_out_shows = {u.key for u in shows.val_set.units}
    assert {u.key.split("/")[0] for u in episodes.val_set.units} == held_out_shows


def test_collate_crops_other_aspect_ratios_to_the_smallest_frame() -> None:
    wide = {"video": np.zeros((2, 8, 14, 3), np.uint8), "audio": np.zeros(4, np.float32)}
    narrow = {"video": np.ones((2, 8, 10, 3), np.uint8), "audio": np.zeros(4, np.float32)}
    meta = {"title": 0, "slot": 0, "file": 0, "substituted": False}
    batch = longform_dataset.collate_clips([{**wide, **meta}, {**narrow, **meta}])
    assert batch["video"].shape == (2, 2, 8, 10, 3)


def test_a_manifest_alone_names_its_folder_as_root(movie_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    from data_modules.index import build_index

    monkeypatch.delenv("MOVIE_ROOT", raising=False)
    manifest = movie_corpus / ".listing.csv"  # hidden: other tests index this folder
    if not manifest.exists():
        build_index(movie_corpus, manifest, workers=1, slot_seconds=0.5, progress=False)
    dm = MovieDataModule(manifest=str(manifest), k=4, w=8, batch_size=8, num_workers=0, **SMALL)
    dm.setup("fit")
    assert dm.root == movie_corpus and len(dm.train_set.units) == 5
    elsewhere = tmp_path / "listing.csv"
    elsewhere.write_text(manifest.read_text())
    with pytest.raises(ValueError, match="relative to the corpus root"):
        MovieDataModule(manifest=str(elsewhere), k=4, w=8, batch_size=8, num_workers=0, **SMALL).setup("fit")
