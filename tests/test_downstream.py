"""Downstream sets: official split files parsed and validated, clip sampling, and the batches the loaders yield.

Split-file tests use empty placeholder videos (the parsers only list folders); clip and loader tests encode tiny
media with ``write_media``, whose frames and samples carry their own timestamps.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from data_modules.decoding import ClipSpec
from data_modules.downstream import (
    EpochShuffleSampler,
    EvalClipDataset,
    LayoutError,
    Sample,
    TrainClipDataset,
    collate_clips,
    even_starts,
    random_start,
)
from data_modules.esc50 import HEADER, ESC50DataModule, parse_esc50
from data_modules.hmdb51 import HMDB51DataModule, parse_hmdb51
from data_modules.ucf101 import UCF101DataModule, parse_ucf101
from tests.media_fixtures import audio_time, frame_time, write_media

UCF_CLASSES = ["ApplyEyeMakeup", "Basketball", "YoYo"]
HMDB_CLASSES = ["chew", "brush_hair", "cartwheel"]  # deliberately unsorted: labels follow the sorted names
ESC_CLASSES = ["dog", "rooster", "rain"]


def _write_lines(path: Path, lines: list[str]) -> Path:
    """Official lists come from Windows: CRLF line ends and a trailing blank line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode())
    return path


def _media(path: Path, media: dict | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if media is None:
        path.touch()
    else:
        write_media(path, **media)


def make_ucf101(root: Path, media: dict | None = None) -> Path:
    """3 classes x 3 groups; split s tests on group s and trains on the other two."""
    lists = root / "ucfTrainTestlist"
    _write_lines(lists / "classInd.txt", [f"{i} {c}" for i, c in enumerate(UCF_CLASSES, start=1)])
    for split in (1, 2, 3):
        train, test = [], []
        for class_id, name in enumerate(UCF_CLASSES, start=1):
            for group in (1, 2, 3):
                rel = f"{name}/v_{name}_g{group:02d}_c01.avi"
                if split == 1:
                    _media(root / "UCF-101" / rel, media)
                if group == split:
                    test.append(rel)
                else:
                    train.append(f"{rel} {class_id}")
        _write_lines(lists / f"trainlist0{split}.txt", train)
        _write_lines(lists / f"testlist0{split}.txt", test)
    return root


def make_hmdb51(root: Path, media: dict | None = None) -> Path:
    """Per class 4 videos; in split s video s is unused (tag 0), the next one is test, the others train."""
    for name in HMDB_CLASSES:
        videos = [f"{name}_clip{i}_f_cm_np1_fr_med_{i}.avi" for i in range(4)]
        for video in videos:
            _media(root / name / video, media)
        for split in (1, 2, 3):
            tags = ["1"] * 4
            tags[split % 4] = "0"
            tags[(split + 1) % 4] = "2"
            lines = [f"{v} {t} " for v, t in zip(videos, tags)]
            _write_lines(root / "testTrainMulti_7030_splits" / f"{name}_test_split{split}.txt", lines)
    return root


def make_esc50(root: Path, media: dict | None = None) -> Path:
    """One clip per (fold, class); the csv row order is shuffled like the official one (sorted by filename)."""
    rows = []
    for fold in (1, 2, 3, 4, 5):
        for target, category in enumerate(ESC_CLASSES):
            name = f"{fold}-{1000 + target}-A-{target}.wav"
            _media(root / "audio" / name, media)
            rows.append(f"{name},{fold},{target},{category},False,{1000 + target},A")
    _write_lines(root / "meta" / "esc50.csv", [",".join(HEADER), *sorted(rows)])
    return root


def _append(path: Path, line: str) -> int:
    """Append a line to a list file; return its 1-based line number."""
    lines = [x for x in path.read_text().splitlines() if x.strip()]
    lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


# ---------------------------------------------------------------- official layouts parsed


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_split_labels_follow_class_index(tmp_path: Path, split: int) -> None:
    root = make_ucf101(tmp_path)
    samples = parse_ucf101(root, split)
    assert samples.classes == UCF_CLASSES
    assert len(samples.train) == 6 and len(samples.test) == 3
    for sample in samples.train + samples.test:
        folder = sample.path.parent.name
        assert sample.label == UCF_CLASSES.index(folder)  # classInd id 1 -> label 0
        assert sample.path.is_file()
        assert sample.video_id == sample.path.stem
    assert {s.video_id.split("_")[-2] for s in samples.test} == {f"g{split:02d}"}
    assert not {s.video_id for s in samples.train} & {s.video_id for s in samples.test}


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_tags_pick_train_test_and_skip_unused(tmp_path: Path, split: int) -> None:
    root = make_hmdb51(tmp_path)
    samples = parse_hmdb51(root, split)
    assert samples.classes == sorted(HMDB_CLASSES)
    assert len(samples.train) == 2 * 3 and len(samples.test) == 3
    unused = {s.path.name for s in samples.train + samples.test if s.path.name.endswith(f"_{split % 4}.avi")}
    assert unused == set()
    assert {s.path.name.rsplit("_", 1)[1] for s in samples.test} == {f"{(split + 1) % 4}.avi"}
    for sample in samples.train + samples.test:
        assert sample.label == sorted(HMDB_CLASSES).index(sample.path.parent.name)


@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_esc50_fold_is_held_out(tmp_path: Path, fold: int) -> None:
    root = make_esc50(tmp_path)
    samples = parse_esc50(root, fold)
    assert samples.classes == ESC_CLASSES
    assert {s.path.name.split("-")[0] for s in samples.test} == {str(fold)}
    assert str(fold) not in {s.path.name.split("-")[0] for s in samples.train}
    assert len(samples.train) == 4 * 3 and len(samples.test) == 3
    for sample in samples.train + samples.test:
        assert sample.label == int(sample.path.stem.rsplit("-", 1)[1])


# ---------------------------------------------------------------- malformed layouts rejected, file:line named


def test_ucf101_video_in_train_and_test_names_both_lines(tmp_path: Path) -> None:
    root = make_ucf101(tmp_path)
    lists = root / "ucfTrainTestlist"
    test_line = lists.joinpath("testlist01.txt").read_text().splitlines()[1]
    train_line = _append(lists / "trainlist01.txt", f"{test_line} {UCF_CLASSES.index('Basketball') + 1}")
    with pytest.raises(LayoutError, match="in both") as info:
        parse_ucf101(root, 1)
    assert f"trainlist01.txt:{train_line}" in str(info.value)
    assert "testlist01.txt:2 " in str(info.value)


def test_ucf101_list_entry_without_file(tmp_path: Path) -> None:
    root = make_ucf101(tmp_path)
    line = _append(root / "ucfTrainTestlist" / "testlist01.txt", "YoYo/v_YoYo_g09_c04.avi")
    with pytest.raises(LayoutError, match=rf"testlist01\.txt:{line}: no file .*v_YoYo_g09_c04\.avi"):
        parse_ucf101(root, 1)


def test_ucf101_class_folder_missing_from_class_index(tmp_path: Path) -> None:
    root = make_ucf101(tmp_path)
    line = _append(root / "ucfTrainTestlist" / "trainlist01.txt", "Surfing/v_Surfing_g02_c01.avi 4")
    with pytest.raises(LayoutError, match=rf"trainlist01\.txt:{line}: class folder 'Surfing' is not listed"):
        parse_ucf101(root, 1)


def test_ucf101_train_label_must_agree_with_class_index(tmp_path: Path) -> None:
    root = make_ucf101(tmp_path)
    train_list = root / "ucfTrainTestlist" / "trainlist02.txt"
    lines = train_list.read_text().splitlines()
    lines[0] = lines[0].rsplit(" ", 1)[0] + " 3"
    train_list.write_text("\n".join(lines))
    with pytest.raises(LayoutError, match=r"trainlist02\.txt:1: label 3 disagrees with .*classInd\.txt:1"):
        parse_ucf101(root, 2)


def test_hmdb51_bad_tag_names_line(tmp_path: Path) -> None:
    root = make_hmdb51(tmp_path)
    split_file = root / "testTrainMulti_7030_splits" / "cartwheel_test_split3.txt"
    lines = split_file.read_text().splitlines()
    lines[2] = lines[2].split()[0] + " 3"
    split_file.write_text("\n".join(lines))
    with pytest.raises(LayoutError, match=r"cartwheel_test_split3\.txt:3: tag '3' is not 0"):
        parse_hmdb51(root, 3)


def test_hmdb51_missing_video_names_line(tmp_path: Path) -> None:
    root = make_hmdb51(tmp_path)
    line = _append(root / "testTrainMulti_7030_splits" / "chew_test_split1.txt", "ghost.avi 1")
    with pytest.raises(LayoutError, match=rf"chew_test_split1\.txt:{line}: no file .*chew/ghost\.avi"):
        parse_hmdb51(root, 1)


def test_esc50_wrong_header(tmp_path: Path) -> None:
    root = make_esc50(tmp_path)
    meta = root / "meta" / "esc50.csv"
    meta.write_text(meta.read_text().replace("filename,fold,target", "file,fold,target", 1))
    with pytest.raises(LayoutError, match=r"esc50\.csv:1: header must be filename,fold,target"):
        parse_esc50(root, 1)


def test_esc50_bad_fold_and_missing_wav(tmp_path: Path) -> None:
    root = make_esc50(tmp_path)
    meta = root / "meta" / "esc50.csv"
    bad_fold = _append(meta, "1-1000-A-0.wav,6,0,dog,False,1000,A")
    no_wav = _append(meta, "9-9-A-0.wav,2,0,dog,False,9,A")
    with pytest.raises(LayoutError) as info:
        parse_esc50(root, 1)
    assert f"esc50.csv:{bad_fold}: fold '6' is not 1, 2, 3, 4 or 5" in str(info.value)
    assert f"esc50.csv:{no_wav}: no file" in str(info.value)


@pytest.mark.parametrize(
    ("module", "env_var"),
    [(UCF101DataModule, "UCF101_ROOT"), (HMDB51DataModule, "HMDB51_ROOT"), (ESC50DataModule, "ESC50_ROOT")],
)
def test_missing_root_names_argument_and_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: type, env_var: str
) -> None:
    monkeypatch.delenv(env_var, raising=False)
    with pytest.raises(FileNotFoundError, match=rf"root=.*{env_var}"):
        _ = module().num_classes
    monkeypatch.setenv(env_var, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=rf"nowhere.*from the {env_var} environment variable"):
        _ = module().num_classes


def test_root_from_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESC50_ROOT", str(make_esc50(tmp_path)))
    data = ESC50DataModule(fold=3, num_workers=0)
    assert data.num_classes == 3 and data.modality == "audio" and data.fold == 3


# ---------------------------------------------------------------- clip sampling


def test_random_start_pure_in_range_and_on_grid() -> None:
    duration, window = Fraction(7), Fraction(2)
    draws = {(e, i): random_start(duration, window, 0, e, i, 16000) for e in range(4) for i in range(5)}
    assert draws == {
        (e, i): random_start(duration, window, 0, e, i, 16000) for e in range(4) for i in range(5)
    }
    assert all(0 <= s <= 5 and (s * 16000).denominator == 1 for s in draws.values())
    for i in range(5):
        assert len({draws[(e, i)] for e in range(4)}) == 4  # a new clip every epoch
    assert random_start(duration, window, 1, 0, 0, 16000) != draws[(0, 0)]
    assert random_start(Fraction(1), window, 0, 3, 2, 16000) == 0  # shorter than the window: start at 0


def test_even_starts_span_the_file() -> None:
    assert even_starts(Fraction(11), Fraction(2), 10) == [Fraction(i) for i in range(10)]
    assert even_starts(Fraction(1), Fraction(2), 3) == [0, 0, 0]
    assert even_starts(Fraction(6), Fraction(2), 1) == [2]


def test_epoch_sampler_carries_epoch_and_reshuffles() -> None:
    sampler = EpochShuffleSampler(50, seed=3)
    first = list(sampler)
    assert sorted(i for _, i in first) == list(range(50)) and {e for e, _ in first} == {0}
    sampler.set_epoch(1)
    second = list(sampler)
    assert {e for e, _ in second} == {1} and [i for _, i in second] != [i for _, i in first]
    sampler.set_epoch(0)
    assert list(sampler) == first


@pytest.fixture(scope="module")
def esc_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_esc50(tmp_path_factory.mktemp("esc50"), media={"seconds": 3, "sample_rate": 44100})


def test_training_clip_starts_new_each_epoch_and_reproducible(esc_media: Path) -> None:
    samples = parse_esc50(esc_media, 1).train
    spec = ClipSpec(slot_seconds=1, num_frames=1, frame_rate=16000, sample_rate=16000)

    def starts(seed: int, epoch: int) -> list[Fraction]:
        data = TrainClipDataset(samples, spec, "audio", seed=seed)
        return [data.start(i, 0, epoch) for i in range(len(samples))]

    epoch0, epoch1 = starts(0, 0), starts(0, 1)
    assert epoch0 == starts(0, 0)
    assert all(0 <= s <= 2 for s in epoch0 + epoch1)  # 3 s files, 1 s window
    assert sum(a != b for a, b in zip(epoch0, epoch1)) >= len(samples) - 1
    assert starts(5, 0) != epoch0


def test_eval_items_are_evenly_spaced_clips(esc_media: Path) -> None:
    samples = parse_esc50(esc_media, 2).test
    spec = ClipSpec(slot_seconds=1, num_frames=1, frame_rate=16000, sample_rate=16000)
    data = EvalClipDataset(samples, spec, "audio", clips_per_file=10)
    assert len(data) == 10 * len(samples)
    located = [data._locate(i) for i in range(len(data))]
    assert located[:11] == [(0, c, 0) for c in range(10)] + [(1, 0, 0)]
    assert [data.start(1, c, 0) for c in range(10)] == [Fraction(2 * c, 9) for c in range(10)]


# ---------------------------------------------------------------- decoded batches


def test_collate_crops_video_to_smallest_frame() -> None:
    items = [
        {
            "video": np.zeros((2, 8, 12, 3), np.uint8),
            "label": 1,
            "video_index": 0,
            "clip_index": 3,
            "start": 0.5,
            "substituted": False,
        },
        {
            "video": np.ones((2, 10, 8, 3), np.uint8),
            "label": 0,
            "video_index": 4,
            "clip_index": 0,
            "start": 0.0,
            "substituted": True,
        },
    ]
    items[0]["video"][:, :, 2:10] = 7  # the centre 8 columns survive the crop
    batch = collate_clips(items)
    assert batch["video"].shape == (2, 2, 8, 8, 3) and batch["video"].dtype == torch.uint8
    assert (batch["video"][0] == 7).all() and (batch["video"][1] == 1).all()
    assert batch["label"].tolist() == [1, 0] and batch["label"].dtype == torch.long
    assert batch["video_index"].tolist() == [0, 4] and batch["clip_index"].tolist() == [3, 0]
    assert batch["substituted"].tolist() == [False, True]


def test_ucf101_loaders_yield_documented_batches(tmp_path: Path) -> None:
    make_ucf101(tmp_path, media={"seconds": 3, "width": 96, "height": 64, "fps": 25, "audio": False})
    # A wider video in the test split: the batch is cropped to the narrowest frame.
    write_media(tmp_path / "UCF-101/YoYo/v_YoYo_g01_c01.avi", seconds=3, width=128, height=64, audio=False)
    data = UCF101DataModule(
        root=str(tmp_path),
        split=1,
        batch_size=4,
        num_workers=0,
        slot_seconds=1,
        num_frames=4,
        frame_rate=8,
        short_side=32,
        test_clips=10,
        val_clips=2,
    )
    data.setup("fit")
    assert data.num_classes == 3 and data.modality == "video" and data.split == 1
    train = next(iter(data.train_dataloader()))
    assert set(train) >= {"video", "label", "video_index", "clip_index"}
    assert train["video"].shape == (4, 4, 32, 48, 3) and train["video"].dtype == torch.uint8
    for key in ("label", "video_index", "clip_index"):
        assert train[key].dtype == torch.long and train[key].shape == (4,)
    assert len(data.val_dataloader().dataset) == 2 * 3
    batches = list(data.test_dataloader())
    assert sum(len(b["label"]) for b in batches) == 10 * 3
    first = batches[0]
    assert first["video"].shape[2:] == (32, 48, 3)
    assert first["video_index"].tolist() == [0, 0, 0, 0] and first["clip_index"].tolist() == [0, 1, 2, 3]
    # clip c of a 3 s file starts at c * 2/9 s; its 4 frames at 8 fps are centred in the 1 s window.
    for clip, frames in zip(first["clip_index"].tolist(), first["video"].numpy()):
        centre = clip * 2 / 9 + 0.5
        expected = [centre - 0.25 + k / 8 for k in range(4)]
        seen = [frame_time(frame) for frame in frames]
        assert np.allclose(seen, expected, atol=0.045), (clip, seen, expected)


def test_esc50_loader_in_worker_gives_epoch_dependent_clips(esc_media: Path) -> None:
    data = ESC50DataModule(
        root=str(esc_media), fold=1, batch_size=6, num_workers=1, slot_seconds=1, sample_rate=16000
    )
    loader = data.train_dataloader()

    def epoch_starts(epoch: int) -> dict[int, float]:
        data.set_epoch(epoch)
        starts: dict[int, float] = {}
        for batch in loader:
            assert batch["audio"].dtype == torch.float32 and batch["audio"].shape[1] == 16000
            assert batch["label"].dtype == torch.long
            for samples, start in zip(batch["audio"].numpy(), batch["start"].tolist()):
                assert audio_time(samples, 16000, guess=start) == pytest.approx(start, abs=1e-3)
            starts.update(zip(batch["video_index"].tolist(), batch["start"].tolist()))
        return starts

    first, second = epoch_starts(0), epoch_starts(1)
    assert sorted(first) == list(range(12)) and sorted(second) == list(range(12))
    assert first != second
    assert first == epoch_starts(0)
    assert data.train_set is not None
    assert first == {i: float(data.train_set.start(i, 0, 0)) for i in range(12)}


def test_hmdb51_datamodule_reads_split(tmp_path: Path) -> None:
    data = HMDB51DataModule(root=str(make_hmdb51(tmp_path)), split=2, num_workers=0)
    data.setup("test")
    assert data.num_classes == 3 and data.modality == "video" and data.split == 2
    assert data.test_set is not None and len(data.test_set) == 3 * 10
    assert isinstance(data.test_set.samples[0], Sample)


def test_trainer_epochs_get_new_clips(esc_media: Path, tmp_path: Path) -> None:
    """Lightning itself moves the epoch of the training clips (through the sampler's ``set_epoch``)."""

    class Probe(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8000, 3)
            self.starts: dict[int, dict[int, float]] = {}

        def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
            seen = self.starts.setdefault(self.current_epoch, {})
            seen.update(zip(batch["video_index"].tolist(), batch["start"].tolist()))
            return torch.nn.functional.cross_entropy(self.layer(batch["audio"]), batch["label"])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = ESC50DataModule(
        root=str(esc_media), fold=1, batch_size=6, num_workers=0, slot_seconds=1, sample_rate=8000
    )
    probe = Probe()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(probe, datamodule=data)
    assert data.train_set is not None
    for epoch in (0, 1):
        assert probe.starts[epoch] == {i: float(data.train_set.start(i, 0, epoch)) for i in range(12)}
    assert probe.starts[0] != probe.starts[1]


def test_file_shorter_than_window_pads_audio_and_holds_last_frame(tmp_path: Path) -> None:
    spec = ClipSpec(slot_seconds=1, num_frames=4, frame_rate=8, sample_rate=16000, short_side=32)
    wav = write_media(tmp_path / "short.wav", seconds=0.6, sample_rate=44100)
    sound = EvalClipDataset([Sample(wav, 0, "short")], spec, "audio", clips_per_file=3)
    items = sound.__getitems__([0, 1, 2])
    assert [item["start"] for item in items] == [0.0, 0.0, 0.0]
    audio = items[2]["audio"]
    assert audio.shape == (16000,) and audio.dtype == np.float32
    assert audio_time(audio[:9000], 16000, guess=0.0) == pytest.approx(0.0, abs=1e-3)
    assert np.abs(audio[9800:]).max() == 0.0  # silence after the 0.6 s of sound (+ decoder pad tolerance)

    avi = write_media(tmp_path / "short.avi", seconds=0.4, fps=25, audio=False)
    video = EvalClipDataset([Sample(avi, 0, "short")], spec, "video", clips_per_file=2)
    frames = video[1]["video"]
    assert frames.shape == (4, 32, 48, 3)
    # 0.4 s hold 3 frames at 8 fps, centred in the file (targets 0.0125, 0.1375, 0.2625 s); the last is held.
    assert [frame_time(f) for f in frames] == pytest.approx([0.0, 0.12, 0.24, 0.24], abs=1e-6)


def test_overstated_duration_pulls_windows_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a header promises more than the file holds, the clip moves before the failure and is flagged."""
    wav = write_media(tmp_path / "clip.wav", seconds=1.5, sample_rate=16000)
    monkeypatch.setattr("data_modules.clip_datasets.stream_duration", lambda path, modality: Fraction(3))
    spec = ClipSpec(slot_seconds=1, num_frames=1, frame_rate=16000, sample_rate=16000)
    data = EvalClipDataset([Sample(wav, 0, "clip")], spec, "audio", clips_per_file=3)
    items = data.__getitems__([0, 1, 2])
    assert [item["start"] for item in items] == [0.0, 0.0, 0.0]
    assert [item["substituted"] for item in items] == [False, True, True]
    assert audio_time(items[2]["audio"], 16000, guess=0.0) == pytest.approx(0.0, abs=1e-3)
