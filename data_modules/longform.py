"""Long-form corpora as Lightning data: titles from a manifest, clips by (title, slot), batches by the (k, w) policy.

The datamodules read the manifest, hold titles out for validation, build the sampling units and the batch
sampler, and carry the sampler position in checkpoints; reading clips is ``data_modules.longform_dataset``.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader, Dataset

from data_modules.batching import make_loader
from data_modules.clip_copy import require_clip_spec
from data_modules.decoding import ClipSpec
from data_modules.exact_time import exact_seconds
from data_modules.index import PROBE_VERSION, TitleRecord, build_index, read_manifest
from data_modules.longform_dataset import (
    IndexedClips,
    LongFormClipDataset,
    Unit,
    collate_clips,
    usable_slots,
)
from data_modules.roots import resolve_root
from data_modules.sampling import LongFormBatchSampler

__all__ = [
    "LongFormClipDataset",
    "LongFormDataModule",
    "MovieDataModule",
    "TVDataModule",
    "Unit",
    "collate_clips",
    "usable_slots",
]

log = logging.getLogger(__name__)

# Lightning cannot see that our loaders resume mid-epoch through the datamodule's sampler state, and says
# they do not; the resume test proves they do.
warnings.filterwarnings(
    "ignore", message="You're resuming from a checkpoint that ended before the epoch ended"
)


def _stable_fraction(key: str, seed: int) -> float:
    """A per-title number in [0, 1) that does not change when other titles are added or removed."""
    digest = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class LongFormDataModule(pl.LightningDataModule):
    """Base of the movie and TV datamodules; subclasses say how files form units and which env var names the root."""

    root_env: str = ""
    kind: Literal["movie", "tv"] = "movie"

    def __init__(
        self,
        root: str | None = None,
        manifest: str | None = None,
        batch_size: int = 512,
        k: int = 16,
        w: int | str = "Mn",
        clips_per_epoch: int | None = None,
        seed: int = 0,
        slot_seconds: float = 2.0,
        num_frames: int = 8,
        frame_rate: float = 16.0,
        sample_rate: int = 16000,
        short_side: int = 128,
        skip_head_seconds: float = 0.0,
        skip_tail_seconds: float = 0.0,
        val_titles: float = 0.05,
        val_clips_per_title: int = 8,
        val_max_clips: int = 1024,
        val_batch_size: int = 64,
        num_workers: int = 8,
        prefetch_factor: int = 2,
        persistent_workers: bool = True,
        index_workers: int | None = None,
    ) -> None:
        """
        Args:
            root: folder of the corpus; default from the environment variable of the subclass.
            manifest: CSV from `tvssl index`; default `<root>/.tvssl/manifest.csv`, indexed on first use.
            batch_size: the GLOBAL batch (paper: 512); each device gets batch_size / world_size.
            k: clips per title in a group; w: window in slots, or "Mn" for the whole title.
            clips_per_epoch: clips per epoch (default: every usable slot of the corpus once).
            skip_head_seconds, skip_tail_seconds: credits to drop at the start and end of every file.
            val_titles: held-out titles for validation: a share (< 1) or a count (>= 1).
            val_clips_per_title: evenly spaced validation clips per held-out title.
        """
        super().__init__()
        self.save_hyperparameters()
        self.spec = ClipSpec(
            slot_seconds=slot_seconds,
            num_frames=num_frames,
            frame_rate=frame_rate,
            sample_rate=sample_rate,
            short_side=short_side,
        )
        self.head = exact_seconds(skip_head_seconds, "skip_head_seconds")
        self.tail = exact_seconds(skip_tail_seconds, "skip_tail_seconds")
        self.root_arg = root
        self.manifest_arg = manifest
        self.batch_size = batch_size
        self.k = k
        self.w = w
        self.seed = seed
        self.train_sampler: LongFormBatchSampler | None = None
        self._restored: dict[str, int] | None = None

    @property
    def root(self) -> Path:
        """The corpus folder: ``root``, else the environment variable, else the folder of ``manifest``.

        The manifest's folder comes last because `tvssl index` writes a manifest next to the titles it lists
        (its paths are relative to that folder), so a manifest alone is enough to name the corpus.
        """
        return resolve_root(
            self.root_arg,
            self.root_env,
            type(self).__name__,
            fallback=Path(self.manifest_arg).parent if self.manifest_arg else None,
            fallback_source=f"the folder of the manifest {self.manifest_arg}",
            holding="the corpus",
        )

    @property
    def manifest_path(self) -> Path:
        return Path(self.manifest_arg) if self.manifest_arg else self.root / ".tvssl" / "manifest.csv"

    def prepare_data(self) -> None:
        """Index the corpus on first use; an existing manifest is taken as it is, unless it is the corpus'
        own (``<root>/.tvssl``) and holds rows of an older probe, which re-indexing refreshes (other rows are
        reused): older probes trusted headers that overstate cut files' and some containers' durations.
        """
        if self.manifest_path.exists():
            stale = sum(r.probe_version < PROBE_VERSION for r in read_manifest(self.manifest_path))
            if not stale:
                return
            if self.manifest_arg:
                log.warning(
                    "%s: %d row(s) were probed by an older tvssl whose durations can overstate cut files; "
                    "refresh it with `tvssl index %s --out %s`",
                    self.manifest_path,
                    stale,
                    self.root,
                    self.manifest_path,
                )
                return
        elif self.manifest_arg:
            raise ValueError(
                f"manifest {self.manifest_path} does not exist: run `tvssl index {self.root} --out {self.manifest_path}` "
                "or leave `manifest` unset to index into the corpus folder."
            )
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        build_index(
            self.root,
            self.manifest_path,
            kind=self.kind,
            workers=self.hparams.index_workers,
            slot_seconds=self.spec.slot_seconds,
        )

    def group_key(self, record: TitleRecord) -> str:
        """Titles that share this key are held out together (one movie; for TV, one show)."""
        return record.title_id

    def unit_key(self, record: TitleRecord) -> str:
        """Files that share this key form one sampling unit."""
        return record.title_id

    def setup(self, stage: str | None = None) -> None:
        if not self.manifest_path.exists():
            self.prepare_data()
        records = [r for r in read_manifest(self.manifest_path) if r.status == "ok"]
        if not records:
            raise ValueError(
                f"manifest {self.manifest_path} lists no usable title (see its `reason` column)."
            )
        require_clip_spec(self.manifest_path, [(r.path, r.clip_spec) for r in records], self.spec, self.head)
        if not any((self.root / r.path).is_file() for r in records):
            # One missing file is a title for the quarantine; none found means the root is wrong.
            raise ValueError(
                f"none of the {len(records)} titles of {self.manifest_path} exists under {self.root} (first: "
                f"{records[0].path}): manifest paths are relative to the corpus root; set `data.init_args.root` "
                f"or {self.root_env} to it."
            )
        file_slots = [usable_slots(r, self.spec.slot_seconds, self.head, self.tail) for r in records]
        held_out = self._held_out_groups({self.group_key(r) for r in records})
        train_units = self._units(records, file_slots, lambda r: self.group_key(r) not in held_out)
        val_units = self._units(records, file_slots, lambda r: self.group_key(r) in held_out)
        self.train_set = LongFormClipDataset(self.root, records, train_units, self.spec, self.head, self.seed)
        self.val_set = LongFormClipDataset(
            self.root, records, val_units, self.spec, self.head, self.seed, substitute_other_units=False
        )
        self.val_index = self._val_clip_list(val_units)
        self.train_sampler = self._build_sampler(train_units)

    def _held_out_groups(self, groups: set[str]) -> set[str]:
        share = self.hparams.val_titles
        if share <= 0 or len(groups) < 2:
            return set()
        wanted = int(share) if share >= 1 else round(share * len(groups))
        count = max(1, min(wanted, len(groups) - 1))
        ranked = sorted(groups, key=lambda g: _stable_fraction(g, self.seed))
        return set(ranked[:count])

    def _units(self, records: Sequence[TitleRecord], file_slots: Sequence[int], keep: Any) -> list[Unit]:
        members: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(records):
            if keep(r) and file_slots[i] > 0:
                members[self.unit_key(r)].append(i)
        units = []
        for key in sorted(members):
            files = sorted(members[key], key=lambda i: records[i].path)
            firsts = np.concatenate([[0], np.cumsum([file_slots[i] for i in files])])
            units.append(Unit(key, tuple(files), tuple(int(x) for x in firsts[:-1]), int(firsts[-1])))
        return units

    def _val_clip_list(self, units: Sequence[Unit]) -> list[tuple[int, int]]:
        """A fixed, evenly spaced clip set over the held-out units, capped at val_max_clips."""
        per = self.hparams.val_clips_per_title
        if units:
            per = max(1, min(per, self.hparams.val_max_clips // len(units)))
        clips = []
        for ui, u in enumerate(units):
            n = min(per, u.num_slots)
            for j in range(n):
                clips.append((ui, int((2 * j + 1) * u.num_slots // (2 * n))))
        return clips[: self.hparams.val_max_clips]

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def _build_sampler(self, units: Sequence[Unit]) -> LongFormBatchSampler:
        trainer = self.trainer
        if trainer is not None and trainer._accelerator_connector.use_distributed_sampler:
            raise ValueError(
                f"{type(self).__name__} composes batches itself with the (k, w) sampler: set "
                "`trainer.use_distributed_sampler: false` (the experiments' base config does)."
            )
        world, rank = self._world()
        try:
            sampler = LongFormBatchSampler(
                [u.num_slots for u in units],
                k=self.k,
                w=self.w,
                batch_size=self.batch_size,
                num_replicas=world,
                rank=rank,
                seed=self.seed,
                clips_per_epoch=self.hparams.clips_per_epoch,
            )
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__} (manifest {self.manifest_path}): {exc}") from exc
        if len(sampler.excluded):
            log.warning(
                "%d titles have fewer than k=%d slots and are not sampled", len(sampler.excluded), self.k
            )
        if self._restored is not None:
            sampler.set_position(self._restored["epoch"], self._restored["next_batch"])
        return sampler

    def _loader(self, dataset: Dataset, batch_sampler: Iterable[list[Any]]) -> DataLoader:
        return make_loader(
            dataset,
            collate_fn=collate_clips,
            num_workers=self.hparams.num_workers,
            batch_sampler=batch_sampler,
            persistent_workers=self.hparams.persistent_workers,
            prefetch_factor=self.hparams.prefetch_factor,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_sampler is None:
            raise RuntimeError("call setup('fit') before train_dataloader()")
        return self._loader(self.train_set, self.train_sampler)

    def val_dataloader(self) -> DataLoader:
        """Fixed held-out clips; every rank gets the same number of equal-sized batches (padded by repeats)."""
        world, rank = self._world()
        size = self.hparams.val_batch_size
        clips = list(enumerate(self.val_index))
        if not clips:
            return self._loader(self.val_set, [])
        chunk = size * world
        padded = clips + [clips[i % len(clips)] for i in range((-len(clips)) % chunk)]
        batches = [padded[i : i + size] for i in range(0, len(padded), size)][rank::world]
        return self._loader(IndexedClips(self.val_set), batches)

    def state_dict(self) -> dict[str, Any]:
        """The sampler position training has really consumed (not what workers prefetched)."""
        if self.train_sampler is None or self.trainer is None:
            return {}
        loop = self.trainer.fit_loop
        epoch = loop.epoch_progress.current.processed
        # Batches whose step finished: equal to those fetched in a periodic checkpoint, one fewer when an
        # exception interrupted a step (the checkpoint on exception resumes with that batch).
        done = loop.epoch_loop.batch_progress.current.processed
        if done >= len(self.train_sampler):
            epoch, done = epoch + 1, 0
        return {"sampler": {**self.train_sampler.state_dict(), "epoch": epoch, "next_batch": done}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        sampler_state = state_dict.get("sampler")
        if not sampler_state:
            return
        self._restored = {
            "epoch": int(sampler_state["epoch"]),
            "next_batch": int(sampler_state["next_batch"]),
        }
        if self.train_sampler is not None:
            self.train_sampler.load_state_dict(sampler_state)


class MovieDataModule(LongFormDataModule):
    """A folder of movies: every file is a title. Root from `root` or MOVIE_ROOT."""

    root_env = "MOVIE_ROOT"
    kind = "movie"


class TVDataModule(LongFormDataModule):
    """A folder of shows (`Show/S01E01.mkv`). Root from `root` or TV_ROOT.

    Args:
        title_unit: "episode" (default: each episode is a title, as in the paper) or "show" (all episodes of a
            show form one long title, so a group's k clips and its window can span episodes).
    """

    root_env = "TV_ROOT"
    kind = "tv"

    def __init__(self, *args: Any, title_unit: Literal["episode", "show"] = "episode", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if title_unit not in ("episode", "show"):
            raise ValueError(f"TVDataModule: title_unit must be 'episode' or 'show', got {title_unit!r}")
        self.title_unit = title_unit

    def group_key(self, record: TitleRecord) -> str:
        return record.show or record.title_id

    def unit_key(self, record: TitleRecord) -> str:
        return self.group_key(record) if self.title_unit == "show" else record.title_id
