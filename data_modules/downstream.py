"""Shared machinery of the downstream (fine-tuning) sets: samples, clip datasets and a base LightningDataModule.

UCF101, HMDB51 and ESC-50 differ only in how their official split files are read; everything after that is the
same: training reads one random window per file per epoch, evaluation reads ``n`` evenly spaced windows per file
and tags each clip with the index of its file so that the model can average scores into a video-level prediction.

Randomness of a training clip is a pure function of ``(seed, epoch, index)``: the sampler hands every dataset key
as ``(epoch, index)``, so the clip does not depend on worker count, worker id or whether workers persist.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from data_modules.batching import one_thread_worker, stack_frames
from data_modules.decoding import ClipDecodeError, ClipSpec, read_windows
from data_modules.media import MediaError, open_media, stream_span

Modality = Literal["video", "audio"]

MAX_LISTED_PROBLEMS = 20
MAX_DECODE_ATTEMPTS = 3


@dataclass(frozen=True)
class Sample:
    """One file of a split: where it is, its 0-based class and a stable id (used in logs and predictions)."""

    path: Path
    label: int
    video_id: str


@dataclass(frozen=True)
class SplitSamples:
    """The train and test files of one official split/fold, and the class names indexed by label."""

    train: list[Sample]
    test: list[Sample]
    classes: list[str]


class LayoutError(ValueError):
    """The official files of a dataset are missing or malformed; ``problems`` are ``file:line: what`` strings."""

    def __init__(self, dataset: str, root: Path, problems: Sequence[str], hint: str = "") -> None:
        self.dataset = dataset
        self.root = root
        self.problems = list(problems)
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        lines = [f"{dataset} under {root}: {len(self.problems)} problem(s) in the official layout:"]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def resolve_root(root: str | os.PathLike | None, env_var: str, dataset: str, expected: str) -> Path:
    """The dataset root from the constructor argument, else from ``env_var``; a clear error when neither works."""
    source = "root argument"
    if root is None or str(root) == "":
        root = os.environ.get(env_var) or None
        source = f"{env_var} environment variable"
    if root is None:
        raise FileNotFoundError(
            f"{dataset} root is not set: pass root=... (data.init_args.root in a YAML config) "
            f"or set the {env_var} environment variable to the folder holding {expected}."
        )
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{dataset} root {str(path)!r} (from the {source}) is not an existing folder: point the root "
            f"argument or the {env_var} environment variable at the folder holding {expected}."
        )
    return path


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; official lists mix CRLF and trailing blanks."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if text:
                yield number, text


def stream_duration(path: str | os.PathLike, modality: Modality) -> Fraction:
    """Seconds of the ``modality`` stream of ``path``; the decoder counts time from that stream's start too."""
    p = Path(path)
    container = open_media(p)
    with container:
        streams = container.streams.video if modality == "video" else container.streams.audio
        if not streams:
            raise MediaError(p, f"no {modality} stream")
        start, end = stream_span(streams[0], container)
    return max(Fraction(0), end - start)


def random_start(
    duration: Fraction, window: Fraction, seed: int, epoch: int, index: int, ticks_per_second: int
) -> Fraction:
    """Uniform start in [0, duration - window] on a 1/ticks grid, a pure function of (seed, epoch, index)."""
    span = duration - window
    if span <= 0:
        return Fraction(0)
    ticks = math.floor(span * ticks_per_second)
    rng = np.random.default_rng([seed, epoch, index])
    return Fraction(int(rng.integers(0, ticks + 1)), ticks_per_second)


def even_starts(duration: Fraction, window: Fraction, count: int) -> list[Fraction]:
    """``count`` evenly spaced starts from 0 to duration - window (both ends included; one clip: the middle)."""
    span = max(Fraction(0), duration - window)
    if count == 1:
        return [span / 2]
    return [span * i / (count - 1) for i in range(count)]


class _ClipDataset(Dataset):
    """Clips of a list of samples; subclasses decide which (file, clip) a key means and where the clip starts."""

    def __init__(self, samples: Sequence[Sample], spec: ClipSpec, modality: Modality) -> None:
        if modality not in ("video", "audio"):
            raise ValueError(f"modality must be 'video' or 'audio', got {modality!r}")
        self.samples = list(samples)
        self.spec = spec
        self.modality: Modality = modality
        self._durations: dict[int, Fraction] = {}

    @property
    def window(self) -> Fraction:
        """Seconds one clip occupies in its file: the whole slot (audio) with the video frames centred in it."""
        return self.spec.slot_seconds

    def duration(self, video_index: int) -> Fraction:
        """Duration of a file, probed on first use in the process that decodes (never in the parent up front)."""
        if video_index not in self._durations:
            self._durations[video_index] = stream_duration(self.samples[video_index].path, self.modality)
        return self._durations[video_index]

    def _locate(self, key: Any) -> tuple[int, int, int]:
        """(video_index, clip_index, epoch) of a dataset key."""
        raise NotImplementedError

    def start(self, video_index: int, clip_index: int, epoch: int) -> Fraction:
        """Title-time start (seconds) of a clip."""
        raise NotImplementedError

    def __getitem__(self, key: Any) -> dict[str, Any]:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: Sequence[Any]) -> list[dict[str, Any]]:
        """Decode a batch of keys, opening each file once for all of its clips in the batch."""
        located = [self._locate(key) for key in keys]
        by_file: dict[int, list[int]] = {}
        for position, (video_index, _, _) in enumerate(located):
            by_file.setdefault(video_index, []).append(position)
        items: list[dict[str, Any]] = [{} for _ in keys]
        for video_index, positions in by_file.items():
            wanted = [self.start(video_index, located[p][1], located[p][2]) for p in positions]
            arrays, starts = self._decode(video_index, wanted)
            sample = self.samples[video_index]
            for position, array, start, asked in zip(positions, arrays, starts, wanted):
                items[position] = {
                    self.modality: array,
                    "label": sample.label,
                    "video_index": video_index,
                    "clip_index": located[position][1],
                    "start": float(start),
                    "substituted": start != asked,
                }
        return items

    def _decode(self, video_index: int, starts: list[Fraction]) -> tuple[list[np.ndarray], list[Fraction]]:
        """Clips at ``starts`` and the starts really used.

        A header can promise more than a file holds (truncated download, broken tail): the decoder then says at
        which time it failed, and the windows are pulled back before that time, a few times at most.
        """
        path = self.samples[video_index].path
        duration = self.duration(video_index)
        if duration < self.window:
            return self._decode_short(video_index, duration, len(starts)), [Fraction(0)] * len(starts)
        want_video = self.modality == "video"
        current = list(starts)
        attempt = 1
        while True:
            try:
                clips = read_windows(path, current, self.spec, video=want_video, audio=not want_video)
                return list(clips.video if want_video else clips.audio), current
            except ClipDecodeError as exc:
                failed = Fraction(math.floor(exc.time * self.spec.sample_rate), self.spec.sample_rate)
                bound = max(Fraction(0), failed - self.window)
                pulled = [min(start, bound) for start in current]
                if pulled == current or attempt >= MAX_DECODE_ATTEMPTS:
                    raise
                current = pulled
                attempt += 1

    def _decode_short(self, video_index: int, duration: Fraction, count: int) -> list[np.ndarray]:
        """A file shorter than one window: read what it has from time 0, then pad audio with silence or hold
        the last video frame. Video frames keep their rate and are centred in the file."""
        path = self.samples[video_index].path
        spec = self.spec
        rate = spec.sample_rate
        usable = Fraction(math.floor(duration * rate), rate)
        if self.modality == "video":
            frames = min(spec.num_frames, math.floor(usable * spec.frame_rate))
            if frames < 1:
                raise ClipDecodeError(
                    path,
                    0.0,
                    f"the video lasts {float(duration):.3f} s, less than one frame at {spec.frame_rate} fps",
                )
            short = ClipSpec(usable, frames, spec.frame_rate, rate, spec.short_side)
            clip = read_windows(path, [Fraction(0)], short, video=True, audio=False).video[0]
            held = np.concatenate([clip, np.repeat(clip[-1:], spec.num_frames - frames, axis=0)])
            return [held] * count
        if usable <= 0:
            raise ClipDecodeError(path, 0.0, f"the audio lasts {float(duration):.6f} s, less than one sample")
        short = ClipSpec(usable, 1, rate, rate, spec.short_side)
        clip = read_windows(path, [Fraction(0)], short, video=False, audio=True).audio[0]
        padded = np.zeros(spec.audio_samples, dtype=np.float32)
        padded[: clip.size] = clip
        return [padded] * count

    def __len__(self) -> int:
        raise NotImplementedError


class TrainClipDataset(_ClipDataset):
    """One random clip per file per epoch. Keys are ``(epoch, index)`` (from ``EpochShuffleSampler``) or a plain
    index, which then uses the epoch last given to ``set_epoch``."""

    def __init__(self, samples: Sequence[Sample], spec: ClipSpec, modality: Modality, seed: int = 0) -> None:
        super().__init__(samples, spec, modality)
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _locate(self, key: Any) -> tuple[int, int, int]:
        if isinstance(key, tuple):
            epoch, index = key
        else:
            epoch, index = self.epoch, key
        return int(index), 0, int(epoch)

    def start(self, video_index: int, clip_index: int, epoch: int) -> Fraction:
        return random_start(
            self.duration(video_index), self.window, self.seed, epoch, video_index, self.spec.sample_rate
        )


class EvalClipDataset(_ClipDataset):
    """``clips_per_file`` evenly spaced clips of every file; key ``i`` is clip ``i % n`` of file ``i // n``."""

    def __init__(
        self, samples: Sequence[Sample], spec: ClipSpec, modality: Modality, clips_per_file: int = 10
    ) -> None:
        super().__init__(samples, spec, modality)
        if clips_per_file < 1:
            raise ValueError(f"clips per file must be >= 1, got {clips_per_file}")
        self.clips_per_file = clips_per_file

    def __len__(self) -> int:
        return len(self.samples) * self.clips_per_file

    def _locate(self, key: Any) -> tuple[int, int, int]:
        index = int(key)
        if not 0 <= index < len(self):
            raise IndexError(f"clip {index} out of range for {len(self)} clips")
        return index // self.clips_per_file, index % self.clips_per_file, 0

    def start(self, video_index: int, clip_index: int, epoch: int) -> Fraction:
        return even_starts(self.duration(video_index), self.window, self.clips_per_file)[clip_index]


class EpochShuffleSampler(Sampler):
    """A permutation per epoch, seeded by (seed, epoch), yielding ``(epoch, index)`` keys.

    Lightning calls ``set_epoch`` on the training sampler before every epoch (and forwards it through its
    distributed wrapper), so the epoch travels with each key into whichever worker decodes it.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        return iter([(self.epoch, int(i)) for i in order])

    def __len__(self) -> int:
        return self.size


def collate_clips(items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack clips into a batch; video frames are centre-cropped to the smallest height and width in the batch
    (the decoder fixes the short side only, so aspect ratios may differ between files)."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    batch: dict[str, torch.Tensor] = {}
    if "video" in items[0]:
        batch["video"] = stack_frames([item["video"] for item in items])
    if "audio" in items[0]:
        batch["audio"] = torch.from_numpy(np.stack([item["audio"] for item in items]).astype(np.float32))
    for key in ("label", "video_index", "clip_index"):
        batch[key] = torch.tensor([item[key] for item in items], dtype=torch.long)
    batch["start"] = torch.tensor([item["start"] for item in items], dtype=torch.float64)
    batch["substituted"] = torch.tensor([item["substituted"] for item in items], dtype=torch.bool)
    return batch


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
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        if multiprocessing_context is None and "fork" in multiprocessing.get_all_start_methods():
            multiprocessing_context = "fork"
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
        return resolve_root(self.root, self.env_var, self.dataset_name, self.expected_layout)

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
        workers = self.num_workers > 0
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate_clips,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and workers,
            multiprocessing_context=self.multiprocessing_context if workers else None,
            worker_init_fn=one_thread_worker if workers else None,
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
        multiprocessing_context: worker start method; default ``fork`` where the platform has it.
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
