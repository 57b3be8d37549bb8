"""What in a prepared copy's destination tvssl prepare made, so that nothing anyone else made is overwritten.

A run refuses, before it writes anything, a folder holding any file that tvssl prepare did not make: its tag
(``data_modules.transcode``), its manifest (or a shard's partial one), or its lists of outputs (the marker, and
the lists shards keep), which keep recognising an output whose tag no longer reads, e.g. one cut short by an
interrupted copy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from data_modules.atomic_write import write_atomic
from data_modules.manifest import ManifestError, read_manifest, shard_folder
from data_modules.sharding import SHARD_FILE
from data_modules.transcode import made_by_prepare

__all__ = ["FOREIGN_LISTED", "MANIFEST", "MARKER", "foreign_files", "list_outputs", "refuse_foreign"]

MANIFEST = "manifest.csv"
"""The manifest of the prepared copy, at the top of the destination."""

MARKER = ".tvssl-prepare.json"
"""Hidden list of the outputs tvssl prepare wrote into a destination."""

FOREIGN_LISTED = 3
"""Foreign files named in the refusal; the rest are counted."""


def foreign_files(out_root: Path) -> list[str]:
    """Entries under ``out_root`` (relative, sorted) that tvssl prepare did not make; hidden names are ignored.

    Made by tvssl prepare: a tvssl manifest at the top (or a shard's, in ``manifest.csv.shards/``), an output it listed in its marker, an output carrying
    its tag. A symbolic link counts as foreign: writing through it would write into someone else's file.
    """
    if not out_root.exists():
        return []
    if not out_root.is_dir():
        raise ValueError(f"the destination {out_root} is a file, not a folder; pass a folder for the copy")
    listed = _listed_outputs(out_root)
    foreign = []
    for path in _visible(out_root):
        rel = path.relative_to(out_root).as_posix()
        if path.is_symlink() or not path.is_file():
            foreign.append(rel)
        elif rel == MANIFEST or (_is_shard_file(rel) and rel.endswith(".csv")):
            if not _is_manifest(path):
                foreign.append(rel)
        elif _is_shard_file(rel):
            continue
        elif rel not in listed and not made_by_prepare(path):
            foreign.append(rel)
    return sorted(foreign)


def _listed_outputs(out_root: Path) -> set[str]:
    """Outputs listed in the marker, and in the lists of shards that finished (``prepare_corpus(shard=)``)."""
    listed: set[str] = set()
    for path in [out_root / MARKER, *sorted(shard_folder(out_root / MANIFEST).glob("shard-*.json"))]:
        try:
            outputs = json.loads(path.read_text(encoding="utf-8")).get("outputs", [])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue
        listed.update(o for o in outputs if isinstance(o, str))
    return listed


def _is_shard_file(rel: str) -> bool:
    """A partial manifest or output list of a shard, at ``manifest.csv.shards/shard-III-of-NNN.csv|json``."""
    folder, _, name = rel.rpartition("/")
    return folder == shard_folder(MANIFEST).as_posix() and SHARD_FILE.fullmatch(name) is not None


def list_outputs(out_root: Path, made: set[str]) -> None:
    """Record the outputs of this run and of earlier ones that are still there, atomically."""
    outputs = sorted(o for o in _listed_outputs(out_root) | made if (out_root / o).is_file())
    write_atomic(out_root / MARKER, json.dumps({"outputs": outputs}, indent=1))


def _visible(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        for name in dirnames:
            if not name.startswith(".") and (folder / name).is_symlink():
                yield folder / name
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not (folder / d).is_symlink()]
        yield from (folder / name for name in filenames if not name.startswith("."))


def _is_manifest(path: Path) -> bool:
    try:
        read_manifest(path)
    except (ManifestError, OSError, UnicodeDecodeError):
        return False
    return True


def refuse_foreign(out_root: Path) -> None:
    foreign = foreign_files(out_root)
    if foreign:
        shown = ", ".join(foreign[:FOREIGN_LISTED])
        more = f" and {len(foreign) - FOREIGN_LISTED} more" if len(foreign) > FOREIGN_LISTED else ""
        raise ValueError(
            f"the destination {out_root} holds {len(foreign)} file(s) that tvssl prepare did not make "
            f"({shown}{more}); nothing was written: choose a new or empty folder, or one an earlier "
            "tvssl prepare wrote"
        )
