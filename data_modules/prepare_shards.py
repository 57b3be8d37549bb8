"""The merge of a prepared copy made in shards: the manifest and output list a single ``tvssl prepare`` writes.

Shards (``prepare_corpus(shard=...)``, ``tvssl prepare SRC DST --shard I/N``) transcode their titles into the
same destination and each leave a partial manifest and a list of their outputs in ``DST/manifest.csv.shards/``;
they never touch ``DST/manifest.csv`` or the destination's list of outputs, which several jobs writing at once
would corrupt. The merge, once every shard has finished, writes both from the shards' files. It transcodes
nothing and probes only outputs that changed since their shard indexed them, and it indexes the same outputs
with the same settings as a single run, so the manifest says the same thing about the same files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from data_modules.destination import MANIFEST, list_outputs, refuse_foreign
from data_modules.manifest import read_manifest
from data_modules.prepare import PrepareResult, PrepareSettings, index_outputs, source_kind
from data_modules.sharding import require_shards, shard_file

__all__ = ["MergeResult", "merge_prepared"]


@dataclass
class MergeResult(PrepareResult):
    """A merged copy: no outcomes of its own; ``failed`` lists the titles that failed in their shard."""

    failed: list[str] | None = None


def merge_prepared(
    manifest: str | os.PathLike,
    dst: str | os.PathLike,
    settings: PrepareSettings,
    count: int,
    workers: int = 1,
    kind: str | None = None,
) -> MergeResult:
    """Write ``dst/manifest.csv`` and the output list from the ``count`` finished shards of ``dst``.

    Refuses (naming them) while shards are missing, and refuses shards made with other ``settings``: their
    outputs would be skipped by none of the runs that follow and redone by all of them.
    """
    out_root = Path(dst)
    manifest_out = out_root / MANIFEST
    refuse_foreign(out_root)
    files = require_shards(manifest_out, count, (".csv", ".json"))
    made: set[str] = set()
    failed: list[str] = []
    rows = []
    for i, path in enumerate(files, 1):
        facts_path = shard_file(manifest_out, i, count, ".json")
        try:
            facts = json.loads(facts_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {facts_path} ({exc}); run shard {i}/{count} again") from exc
        if facts.get("settings") != settings.as_tag():
            raise ValueError(
                f"shard {i}/{count} was prepared with other settings ({facts.get('settings')}); merge with "
                "the settings the shards used, or run the shards again with these"
            )
        made.update(facts.get("outputs", []))
        failed.extend(facts.get("failed", []))
        rows.extend(read_manifest(path))  # outputs: named after their sources, not partitioned by name
    list_outputs(out_root, made)
    kind = source_kind(read_manifest(manifest), kind)
    indexed = index_outputs(out_root, manifest_out, made, kind, workers, settings, reuse=rows)
    return MergeResult([], manifest_out, indexed, failed=sorted(failed))
