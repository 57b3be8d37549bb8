"""Clips of long-form titles by (unit, slot): the dataset the (k, w) sampler's batches index.

A *unit* is what the sampler calls a title: one file (movies, TV episodes) or, for TV with
``title_unit="show"``, all episodes of a show laid end to end. The dataset maps (unit, slot) to
(file, slot of that file), reads every clip of one file in a batch with one decoder pass, and replaces
a clip that fails to decode by another slot of the same unit so the batch shape never changes. A unit that
keeps failing is quarantined (``data_modules.quarantine``): its clips come from other units for the rest of
the run in training, and are skipped (flagged, zero-filled) in validation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from data_modules.batching import stack_frames
from data_modules.decoding import ClipDecodeError, ClipSpec, read_clips
from data_modules.index import TitleRecord
from data_modules.quarantine import Quarantine

SAME_TITLE_TRIES = 2
"""Other slots of the same unit tried for a clip that failed, before a clip of another unit is taken."""

OTHER_TITLE_TRIES = 16
"""Clips of other units tried before the corpus is declared unreadable (every one of them failed)."""


@dataclass(frozen=True)
class Unit:
    """One sampling unit: its files, where its slots start in each file, and the unit's slot offsets."""

    key: str
    files: tuple[int, ...]
    first_slot: tuple[int, ...]
    num_slots: int


def usable_slots(record: TitleRecord, slot_seconds: Fraction, head: Fraction, tail: Fraction) -> int:
    """M_n after dropping credits; exact arithmetic so the count never drifts with float rounding."""
    span = record.duration - head - tail
    return max(0, int(span // slot_seconds))


class LongFormClipDataset(Dataset):
    """(unit, slot) -> clip dict. ``__getitems__`` reads the clips of one file with one open.

    ``substitute_other_units``: training replaces the clips of a quarantined unit by clips of other units;
    validation (False) returns them flagged ``skip`` so metrics leave them out.
    """

    def __init__(
        self,
        root: Path,
        records: Sequence[TitleRecord],
        units: Sequence[Unit],
        spec: ClipSpec,
        head: Fraction,
        seed: int = 0,
        substitute_other_units: bool = True,
    ) -> None:
        self.root = root
        self.rel_paths = [r.path for r in records]
        self.paths = [str(root / r.path) for r in records]
        self.units = list(units)
        self.spec = spec
        self.head = head
        self.seed = seed
        self.substitute_other_units = substitute_other_units
        self.quarantine = Quarantine()

    def __len__(self) -> int:
        return sum(u.num_slots for u in self.units)

    def locate(self, unit: int, slot: int) -> tuple[int, int]:
        """(file index, slot within that file) of a unit slot."""
        u = self.units[unit]
        pos = int(np.searchsorted(u.first_slot, slot, side="right")) - 1
        return u.files[pos], slot - u.first_slot[pos]

    def __getitem__(self, index: tuple[int, int]) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        by_file: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
        for pos, (unit, slot) in enumerate(indices):
            file, file_slot = self.locate(int(unit), int(slot))
            by_file[file].append((pos, file_slot, int(unit), int(slot)))
        out: list[dict[str, Any] | None] = [None] * len(indices)
        for file, wanted in by_file.items():
            for pos, item in self._read_file(file, wanted):
                out[pos] = item
        entries = self.quarantine.entries()
        for item in out:
            item["quarantined"] = entries  # type: ignore[index]
        return out  # type: ignore[return-value]

    def _read_file(
        self, file: int, wanted: list[tuple[int, int, int, int]]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        unit = wanted[0][2]
        if unit not in self.quarantine:
            try:
                clips = self._read(unit, file, [s for _, s, _, _ in wanted])
            except ClipDecodeError:
                pass
            else:
                for i, (pos, _, _, slot) in enumerate(wanted):
                    yield pos, self._item(clips.video[i], clips.audio[i], unit, slot, file)
                return
        for pos, _, unit, slot in wanted:
            yield pos, self._replacement(unit, slot)

    def _read(self, unit: int, file: int, file_slots: list[int]) -> Any:
        """read_clips, with the outcome counted towards the unit's quarantine."""
        try:
            clips = read_clips(self.paths[file], file_slots, self.spec, offset=self.head)
        except ClipDecodeError as exc:
            self.quarantine.failed(unit, self.units[unit].key, self.rel_paths[file], exc.reason)
            raise
        self.quarantine.succeeded(unit)
        return clips

    def _replacement(self, unit: int, slot: int) -> dict[str, Any]:
        """A clip for (unit, slot) after a failure: the slot alone, other slots of the unit, then other units.

        Every candidate is drawn from (seed, unit, slot), so the clip that replaces a failed one is the same in
        every run whatever the workers' histories; a quarantined unit is only skipped, never reordered.
        """
        rng = np.random.default_rng([self.seed, unit, slot])
        u = self.units[unit]
        own = [slot, *(int(s) for s in rng.integers(0, u.num_slots, SAME_TITLE_TRIES))]
        for attempt, s in enumerate(own):
            if unit in self.quarantine:
                break
            file, file_slot = self.locate(unit, s)
            try:
                clips = self._read(unit, file, [file_slot])
            except ClipDecodeError:
                continue
            return self._item(clips.video[0], clips.audio[0], unit, s, file, substituted=attempt > 0)
        if not self.substitute_other_units or len(self.units) < 2:
            return self._skipped(unit, slot)
        last: str = ""
        for _ in range(OTHER_TITLE_TRIES):
            other = int(rng.integers(0, len(self.units) - 1))
            other += other >= unit
            s = int(rng.integers(0, self.units[other].num_slots))
            if other in self.quarantine:
                continue
            file, file_slot = self.locate(other, s)
            try:
                clips = self._read(other, file, [file_slot])
            except ClipDecodeError as exc:
                last = str(exc)
                continue
            return self._item(clips.video[0], clips.audio[0], other, s, file, substituted=True)
        raise RuntimeError(
            f"{OTHER_TITLE_TRIES} clips of other titles failed to decode after {self.units[unit].key} was "
            f"quarantined (last: {last or 'all were quarantined'}); the corpus looks unreadable: check the files "
            "and run `tvssl index --verify 4`"
        )

    def _skipped(self, unit: int, slot: int) -> dict[str, Any]:
        """A zero clip flagged ``skip``: metrics leave it out, the batch keeps its shape."""
        spec = self.spec
        item = self._item(
            np.zeros((spec.num_frames, spec.short_side, spec.short_side, 3), dtype=np.uint8),
            np.zeros(spec.audio_samples, dtype=np.float32),
            unit,
            slot,
            self.locate(unit, slot)[0],
            substituted=True,
        )
        item["skip"] = True
        return item

    def _item(
        self, video: np.ndarray, audio: np.ndarray, unit: int, slot: int, file: int, substituted: bool = False
    ) -> dict[str, Any]:
        return {
            "video": video,
            "audio": audio,
            "title": unit,
            "slot": slot,
            "file": file,
            "substituted": substituted,
            "skip": False,
        }


def collate_clips(items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack clips; frames of titles with other aspect ratios are centre-cropped to the smallest frame."""
    batch = {
        "video": stack_frames([it["video"] for it in items]),
        "audio": torch.from_numpy(np.stack([it["audio"] for it in items])),
        "title": torch.tensor([it["title"] for it in items], dtype=torch.long),
        "slot": torch.tensor([it["slot"] for it in items], dtype=torch.long),
        "file": torch.tensor([it["file"] for it in items], dtype=torch.long),
        "substituted": torch.tensor([it["substituted"] for it in items], dtype=torch.bool),
        "skip": torch.tensor([it.get("skip", False) for it in items], dtype=torch.bool),
        "quarantined": list(items[0].get("quarantined", ())),
    }
    if "clip_id" in items[0]:
        batch["clip_id"] = torch.tensor([it["clip_id"] for it in items], dtype=torch.long)
    return batch


class IndexedClips(Dataset):
    """Validation view: items are (clip id, (unit, slot)); the clip id survives padding so metrics can dedupe."""

    def __init__(self, base: LongFormClipDataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitems__(self, indices: Sequence[tuple[int, tuple[int, int]]]) -> list[dict[str, Any]]:
        items = self.base.__getitems__([pair for _, pair in indices])
        for item, (cid, _) in zip(items, indices):
            item["clip_id"] = cid
        return items
