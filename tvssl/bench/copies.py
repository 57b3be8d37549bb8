"""The decode bench's prepared copies: a column per copy, its reader, and how far its clips are from the source's.

``tvssl bench decode --prepared MANIFEST`` reads the same clips from a copy made by ``tvssl prepare`` (an MP4
copy or a clip-exact one) in the same interleaved rounds as the source readers; the comparison runs after the
timed rounds, on the first round's clips.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from data_modules.clip_copy import AUDIO_STEP
from data_modules.decoding import Clips, ClipSpec, read_windows
from data_modules.manifest import read_manifest
from tvssl.bench.clips import Group, Title, load_titles
from tvssl.bench.readers import Reader


@dataclass(frozen=True)
class Agreement:
    """How far a copy's clips are from the source reader's, over the same clips (uint8 pixels, audio units)."""

    clips: int
    video_mad: float
    video_max: int
    audio_max: float
    audio_off: float
    """Share of audio samples further than one 16-bit step from the source reader's."""


def copy_columns(
    titles: Sequence[Title], manifests: Sequence[str | os.PathLike], spec: ClipSpec
) -> dict[str, dict[str, Path]]:
    """A column per prepared copy: named ``clip-exact`` or ``prepared`` by its kind, titles matched by title_id."""
    columns: dict[str, dict[str, Path]] = {}
    for manifest in manifests:
        copy = {t.title_id: t.path for t in load_titles(manifest, None, spec.slot_seconds)}
        missing = [t.title_id for t in titles if t.title_id not in copy]
        if missing:
            raise ValueError(f"{manifest} has no copy of {missing[0]}: prepare it from the benched manifest")
        name = "clip-exact" if any(r.clip_spec for r in read_manifest(manifest)) else "prepared"
        if name in columns:
            name = f"{name}-{len(columns) + 1}"
        columns[name] = {str(t.path): copy[t.title_id] for t in titles}
    return columns


def copy_reader(paths: dict[str, Path]) -> Reader:
    """``read_windows`` on the copy of each source title (a clip-exact copy is read by its own reader)."""

    def read(path: str | os.PathLike, starts: Sequence[Fraction], spec: ClipSpec) -> Clips:
        return read_windows(paths[str(path)], starts, spec)

    return read


def agreement(titles: Sequence[Title], groups: Sequence[Group], spec: ClipSpec, copy: Reader) -> Agreement:
    """The copy's clips against the source reader's, group by group (untimed)."""
    diffs, peak, audio_peak, off, samples, clips = 0.0, 0, 0.0, 0, 0, 0
    for title, slots in groups:
        starts = [j * spec.slot_seconds for j in slots]
        source = read_windows(titles[title].path, starts, spec)
        other = copy(titles[title].path, starts, spec)
        delta = np.abs(source.video.astype(np.int16) - other.video)
        diffs += float(delta.mean()) * len(slots)
        peak = max(peak, int(delta.max()))
        audio = np.abs(source.audio - other.audio)
        audio_peak = max(audio_peak, float(audio.max()))
        off += int((audio > AUDIO_STEP).sum())
        samples += audio.size
        clips += len(slots)
    return Agreement(clips, diffs / clips, peak, audio_peak, off / samples)
