"""Index a corpus on a cluster: one shard of its files per job, then one merge that writes the manifest.

A file's shard is a stable hash of its path relative to the corpus root, modulo the number of shards, not its
position in a sorted listing: adding or removing an episode never moves other files between shards, so every
finished shard stays finished. Each shard writes its rows atomically to ``<manifest>.shards/shard-III-of-NNN.csv``
beside the manifest, and reuses them (and the rows of an existing manifest) when it runs again, so a requeued
or resubmitted job probes only what it had not done. The merge is an ordinary index run that reuses the rows of
every shard: it walks the corpus, judges every row under its own thresholds and makes title ids unique over the
whole corpus (uniqueness cannot be decided inside a shard), so its manifest is byte for byte the one a single
process would write. It refuses to run while a shard is missing, naming the shards to run.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_modules.index import IndexResult, build_index
from data_modules.manifest import ManifestError, TitleRecord, read_manifest, shard_folder

__all__ = [
    "SHARD_FILE",
    "MissingShardsError",
    "Shard",
    "index_shard",
    "merge_index",
    "require_shards",
    "shard_file",
    "shard_of",
]

SHARD_FILE = re.compile(r"shard-(\d{4,})-of-(\d{4,})\.(csv|json)")
"""Names of the files shards write into a shard folder (``shard_file``)."""


class MissingShardsError(ManifestError):
    """A merge was asked for before every shard had finished."""


def shard_of(rel: str, count: int) -> int:
    """The shard (1..count) of a file, from a hash of its relative path: the same on every machine and run."""
    digest = hashlib.sha256(rel.encode("utf-8", "surrogateescape")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as ``--shard 3/8`` and SLURM array ids 1..N give it)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"shard must be I/N with 1 <= I <= N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"3/8"`` -> Shard(3, 8)."""
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"shard must be I/N (e.g. 3/8), got {text!r}")
        return cls(int(index), int(count))

    def holds(self, rel: str) -> bool:
        return shard_of(rel, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_file(manifest: str | os.PathLike, index: int, count: int, suffix: str = ".csv") -> Path:
    """``<manifest>.shards/shard-0003-of-0008.csv``: zero-padded, so the folder lists in shard order."""
    return shard_folder(manifest) / f"shard-{index:04d}-of-{count:04d}{suffix}"


def require_shards(
    manifest: str | os.PathLike, count: int, suffixes: tuple[str, ...] = (".csv",)
) -> list[Path]:
    """The ``count`` shard files (first suffix) of ``manifest``; refuse, naming every missing shard, otherwise.

    A shard counts as finished once it has a file of every suffix; the file of the first suffix is the one
    written last, so it is the one whose presence says the shard finished.
    """
    if count < 1:
        raise ValueError(f"the number of shards to merge must be >= 1, got {count}")
    missing = [
        i
        for i in range(1, count + 1)
        if not all(shard_file(manifest, i, count, s).is_file() for s in suffixes)
    ]
    if missing:
        listed = ", ".join(map(str, missing))
        raise MissingShardsError(
            f"cannot merge: {len(missing)} of {count} shard(s) have not finished (missing shard(s) {listed} in "
            f"{shard_folder(manifest)}); run them with --shard I/{count}, then merge again"
        )
    return [shard_file(manifest, i, count, suffixes[0]) for i in range(1, count + 1)]


def read_shard(path: Path, index: int, count: int) -> list[TitleRecord]:
    """Rows of one shard file; refuse rows that belong to another shard (files of another partition)."""
    rows = read_manifest(path)
    stray = [r.path for r in rows if shard_of(r.path, count) != index]
    if stray:
        raise ManifestError(
            f"{path} lists {len(stray)} file(s) of other shards (e.g. {stray[0]}); it was not written by "
            f"--shard {index}/{count}: remove it and run that shard again"
        )
    return rows


def _rows_if_manifest(path: Path) -> list[TitleRecord]:
    """Rows of a manifest that may be absent or not ours: a shard only borrows them, so it never refuses."""
    try:
        return read_manifest(path) if path.is_file() else []
    except (ManifestError, OSError, UnicodeDecodeError):
        return []


def index_shard(root: str | os.PathLike, out: str | os.PathLike, shard: Shard, **options: Any) -> IndexResult:
    """Index the files of ``shard`` into its shard file of the manifest ``out``; ``out`` itself is not written.

    Rows are reused from the shard's earlier file and from an existing manifest at ``out`` (a corpus indexed
    before, to which episodes were added). ``options`` are those of ``build_index``.
    """
    target = shard_file(out, shard.index, shard.count)
    reuse = {r.path: r for r in _rows_if_manifest(Path(out))}
    reuse.update((r.path, r) for r in _rows_if_manifest(target))
    return build_index(root, target, select=shard.holds, skip=[out], reuse=list(reuse.values()), **options)


def merge_index(root: str | os.PathLike, out: str | os.PathLike, count: int, **options: Any) -> IndexResult:
    """Write the manifest ``out`` from the ``count`` finished shards, as a single ``build_index`` run would.

    Files added or changed since their shard ran are probed here (headers only); verification is the shards'
    work (``--verify`` goes to the shard runs), so a merge never verifies. ``options`` are those of
    ``build_index`` except ``verify``.
    """
    if options.get("verify"):
        raise ValueError("--verify is done by the shard runs; merge without it (it reuses their verdicts)")
    files = require_shards(out, count)
    rows = [row for i, path in enumerate(files, 1) for row in read_shard(path, i, count)]
    return build_index(root, out, reuse=rows, **options)
