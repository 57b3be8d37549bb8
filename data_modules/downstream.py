"""The LightningDataModule shared by the downstream (fine-tuning) sets, and the public home of their API.

UCF101, HMDB51 and ESC-50 differ only in how their official split files are read (``parse``); everything after
that is here: random clips for training, evenly spaced clips for val/test, one DataLoader rule
(``data_modules.batching.make_loader``) and one root rule (``data_modules.roots.resolve_root``).

The pieces live in modules of their own and are re-exported here, so ``from data_modules.downstream import X``
keeps working for every name this module has offered:

- ``data_modules.splits``: ``Sample``, ``SplitSamples``, ``LayoutError`` and ``read_lines``, what the split
  readers return and raise;
- ``data_modules.clip_datasets``: the train/eval clip datasets, their start times, the epoch sampler and the
  collate function.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset, Sampler

from data_modules.batching import make_loader
from data_modules.clip_datasets import (
    MAX_DECODE_ATTEMPTS,
    EpochShuffleSampler,
    EvalClipDataset,
    Modality,
    TrainClipDataset,
    collate_clips,
    even_starts,
    random_start,
    stream_duration,
)
from data_modules.decoding import ClipSpec
from data_modules.roots import resolve_root
from data_modules.splits import MAX_LISTED_PROBLEMS, LayoutError, Sample, SplitSamples, read_lines

__all__ = [
    "MAX_DECODE_ATTEMPTS",
    "MAX_LISTED_PROBLEMS",
    "ClipDataModule",
    "EpochShuffleSampler",
    "EvalClipDataset",
    "LayoutError",
    "Modality",
    "Sample",
    "SplitSamples",
    "TrainClipDataset",
    "VideoSplitDataModule",
    "collate_clips",
    "even_starts",
    "random_start",
    "read_lines",
    "stream_duration",
]


class ClipDataModule(pl.LightningDataModule):
    """Fine-tuning data of one official split: random clips for training, evenly spaced clips for val/test.

    Subclasses name the dataset and parse its official layout in ``parse``; they define the user-facing
    constructor. Val and test both read the official test files (the protocol of the paper).
    """

    dataset_name: ClassVar[str]
    env_var: ClassVar[str]
    expected_layout: ClassVar[str]
    modality: ClassVar[Modality]

    def __init__(
        self,
        root: str | None,
        partition: int,
        batch_size: int,
        num_workers: int,
        slot_seconds: float,
        num_frames: int,
        frame_rate: float,
        sample_rate: int,
        short_side: int,
        test_clips: int,
        val_clips: int,
        seed: int,
        persistent_workers: bool,
        pin_memory: bool | None,
        multiprocessing_context: str | None,
    ) -> None:
        super().__init__()
        for name, value in (("batch_size", batch_size), ("test_clips", test_clips), ("val_clips", val_clips)):
            if value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 1, got {value}")
        if num_workers < 0:
            raise ValueError(f"{type(self).__name__}: num_workers must be >= 0, got {num_workers}")
        if seed < 0:
            raise ValueError(f"{type(self).__name__}: seed must be >= 0, got {seed}")
        self.root = root
        self.partition = partition
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.spec = ClipSpec(
            slot_seconds=slot_seconds,
            num_frames=num_frames,
            frame_rate=frame_rate,
            sample_rate=sample_rate,
            short_side=short_side,
        )
        self.test_clips = test_clips
        self.val_clips = val_clips
        self.seed = seed
        self.persistent_workers = persistent_workers
        # None: the loader factory's default (pin on CUDA; fork where the platform has it).
        self.pin_memory = pin_memory
        self.multiprocessing_context = multiprocessing_context
        self._samples: SplitSamples | None = None
        self._train_sampler: EpochShuffleSampler | None = None
        self.train_set: TrainClipDataset | None = None
        self.val_set: EvalClipDataset | None = None
        self.test_set: EvalClipDataset | None = None

    def parse(self, root: Path) -> SplitSamples:
        """Read the official split files of ``self.partition`` under ``root``."""
        raise NotImplementedError

    @property
    def resolved_root(self) -> Path:
        """The dataset folder: ``root``, else ``env_var``; resolved on use, so a config can name it later."""
        return resolve_root(self.root, self.env_var, type(self).__name__, holding=self.expected_layout)

    @property
    def samples(self) -> SplitSamples:
        """The parsed split (text files and folder listings only; nothing is decoded here)."""
        if self._samples is None:
            self._samples = self.parse(self.resolved_root)
        return self._samples

    @property
    def num_classes(self) -> int:
        return len(self.samples.classes)

    @property
    def classes(self) -> list[str]:
        return self.samples.classes

    def setup(self, stage: str | None = None) -> None:
        samples = self.samples
        if self.train_set is None:
            self.train_set = TrainClipDataset(samples.train, self.spec, self.modality, seed=self.seed)
            self.val_set = EvalClipDataset(samples.test, self.spec, self.modality, self.val_clips)
            self.test_set = EvalClipDataset(samples.test, self.spec, self.modality, self.test_clips)

    def set_epoch(self, epoch: int) -> None:
        """Pick the epoch of the random training clips (Lightning does this itself through the sampler)."""
        if self._train_sampler is not None:
            self._train_sampler.set_epoch(epoch)
        if self.train_set is not None:
            self.train_set.set_epoch(epoch)

    def _loader(self, dataset: Dataset, sampler: Sampler | None) -> DataLoader:
        return make_loader(
            dataset,
            collate_fn=collate_clips,
            num_workers=self.num_workers,
            batch_size=self.batch_size,
            sampler=sampler,
            persistent_workers=self.persistent_workers,
            pin_memory=self.pin_memory,
            multiprocessing_context=self.multiprocessing_context,
        )

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        assert self.train_set is not None
        self._train_sampler = EpochShuffleSampler(len(self.train_set), seed=self.seed)
        if self.trainer is not None:
            self._train_sampler.set_epoch(self.trainer.current_epoch)
        return self._loader(self.train_set, self._train_sampler)

    def val_dataloader(self) -> DataLoader:
        self.setup("validate")
        assert self.val_set is not None
        return self._loader(self.val_set, None)

    def test_dataloader(self) -> DataLoader:
        self.setup("test")
        assert self.test_set is not None
        return self._loader(self.test_set, None)


class VideoSplitDataModule(ClipDataModule):
    """A video action-recognition set with three official splits (UCF101, HMDB51): one constructor for both.

    Args:
        root: folder of the dataset in its official layout; default: the dataset's environment variable.
        split: official split, 1, 2 or 3 (the paper reports split 1).
        batch_size: clips per batch (paper: 96).
        num_workers: decoding worker processes per dataloader.
        slot_seconds: window each clip is centred in (same as pretraining).
        num_frames: frames per clip.
        frame_rate: frames per second of a clip (chosen by timestamp, whatever the source rate).
        sample_rate: audio rate of the clip spec; also the grid of random start times.
        short_side: frames are scaled to this short side by the decoder (aspect ratio kept).
        test_clips: evenly spaced clips per test video (video-level accuracy averages over them).
        val_clips: evenly spaced clips per video in validation (fewer makes validation cheaper).
        seed: seed of the shuffle and of the random training clip of each (epoch, video).
        persistent_workers: keep workers alive between epochs.
        pin_memory: pin batches in page-locked memory; default: when CUDA is available.
        multiprocessing_context: worker start method; default ``fork`` where the platform has it
            (``forkserver`` under DDP).
    """

    def __init__(
        self,
        root: str | None = None,
        split: int = 1,
        batch_size: int = 96,
        num_workers: int = 8,
        slot_seconds: float = 2.0,
        num_frames: int = 8,
        frame_rate: float = 16.0,
        sample_rate: int = 16000,
        short_side: int = 128,
        test_clips: int = 10,
        val_clips: int = 10,
        seed: int = 0,
        persistent_workers: bool = False,
        pin_memory: bool | None = None,
        multiprocessing_context: str | None = None,
    ) -> None:
        if split not in (1, 2, 3):
            raise ValueError(f"{type(self).__name__}: split must be 1, 2 or 3, got {split}")
        super().__init__(
            root=root,
            partition=split,
            batch_size=batch_size,
            num_workers=num_workers,
            slot_seconds=slot_seconds,
            num_frames=num_frames,
            frame_rate=frame_rate,
            sample_rate=sample_rate,
            short_side=short_side,
            test_clips=test_clips,
            val_clips=val_clips,
            seed=seed,
            persistent_workers=persistent_workers,
            pin_memory=pin_memory,
            multiprocessing_context=multiprocessing_context,
        )
        self.split = split
        self.save_hyperparameters()
