"""The clip datasets of the downstream sets: which window of a file a clip is, and how it is decoded.

Training reads one random window per file per epoch; evaluation reads ``n`` evenly spaced windows per file and
tags each clip with the index of its file, so that the model can average scores into a video-level prediction.

Randomness of a training clip is a pure function of ``(seed, epoch, index)``: ``EpochShuffleSampler`` hands
every dataset key as ``(epoch, index)``, so the clip does not depend on worker count, worker id or whether
workers persist. A file whose header promises more than it holds gets its windows pulled back before the time
the decoder failed at (the clip is then flagged ``substituted``), and a file shorter than one window is read
whole and padded, so every clip of a batch has the same shape.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from data_modules.batching import stack_frames
from data_modules.decoding import ClipDecodeError, ClipSpec, read_windows
from data_modules.media import MediaError, open_media, stream_span
from data_modules.splits import Sample

Modality = Literal["video", "audio"]

MAX_DECODE_ATTEMPTS = 3
"""Decodes of one batch of windows of a file: the first, then pulled back before each reported failure."""


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
        """The epoch of plain-index keys (a loader without ``EpochShuffleSampler``, or a direct lookup)."""
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
        """The epoch whose permutation the next iteration yields (and stamps on every key)."""
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
