"""What a pretraining step leaves in ``RESULTS/<row>/pretrain`` (names: ``tvssl.run_names``).

``last.ckpt``, a link to the final checkpoint in the run directory; ``metrics.csv``, the loss curve merged over
resumed attempts; and, for a row whose training would repeat another's (``tvssl.same_batches``), that row's
checkpoint and curve with ``same_batches.json`` naming it. The sweep writes these, the report reads them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from data_modules.atomic_write import write_atomic
from tvssl.run_names import CHECKPOINT, LOSS_LOG, SAME_BATCHES

RUN_CONFIG = "config.yaml"
"""The parsed config Lightning's CLI saves in every run directory (``tvssl.lightning_cli.ConfigToWandb``)."""


def merge_loss_logs(run_dirs: Sequence[Path], out: Path) -> int:
    """One metrics.csv from several attempts, oldest first: a resumed attempt replaces the steps it re-ran."""
    fields: list[str] = []
    merged: list[dict[str, str]] = []
    for run_dir in run_dirs:
        path = run_dir / LOSS_LOG
        if not path.is_file():
            continue
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if r.get("step")]
            fields += [c for c in reader.fieldnames or [] if c not in fields]
        if rows:
            first = min(int(r["step"]) for r in rows)
            merged = [r for r in merged if int(r["step"]) < first] + rows
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(merged)
    write_atomic(out, text.getvalue())
    return len(merged)


def link_checkpoint(out: Path, checkpoint: Path) -> None:
    """``out/last.ckpt`` becomes a relative link to ``checkpoint`` (replacing an earlier link there)."""
    link = out / CHECKPOINT
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(checkpoint.resolve(), out.resolve()))


def publish_twin(out: Path, twin: str, twin_out: Path, reason: str) -> None:
    """``out`` (a row's pretrain folder) gets the twin's checkpoint (a link to the same file), a copy of its loss
    curve, and ``same_batches.json`` naming the twin and why; the report reads the last."""
    out.mkdir(parents=True, exist_ok=True)
    target = (twin_out / CHECKPOINT).resolve()
    write_atomic(out / LOSS_LOG, (twin_out / LOSS_LOG).read_bytes())
    record = {"same_batches_as": twin, "reason": reason, "checkpoint": str(target)}
    write_atomic(out / SAME_BATCHES, json.dumps(record, indent=2) + "\n")
    link_checkpoint(out, target)


def read_twin(pretrain_dir: Path) -> str | None:
    """The row whose training a row's pretrain folder holds (``publish_twin``), or None for a row trained itself."""
    path = pretrain_dir / SAME_BATCHES
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text()).get("same_batches_as")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def data_source(run_dir: Path) -> tuple[Path | None, Path | None] | None:
    """The data root and manifest (resolved; None where unset) an attempt trained from, as its saved config says,
    or None when it saved no readable config."""
    try:
        config = yaml.safe_load((run_dir / RUN_CONFIG).read_text(encoding="utf-8")) or {}
        data = config["data"]["init_args"]
        return _resolved(data.get("root")), _resolved(data.get("manifest"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None


def changed_source(run_dir: Path, root: str | None, manifest: str | None) -> str | None:
    """Why resuming the attempt in ``run_dir`` would change the data it trains from, or None when it would not.

    The smoke table's titles and their clip-exact copy (``PREPARED``) have the same slots, so the sampler resumes
    across them without complaint; but their frames differ by codec error, and one loss curve would then mix
    the two unseen."""
    before = data_source(run_dir)
    now = (_resolved(root), _resolved(manifest))
    if before is None or before == now:
        return None
    return f"its attempt {run_dir} read {_shown(before)}, this one reads {_shown(now)}"


def _resolved(path: object) -> Path | None:
    return None if path is None else Path(str(path)).resolve()


def _shown(source: tuple[Path | None, Path | None]) -> str:
    root, manifest = source
    return f"{root}" + ("" if manifest is None else f" (manifest {manifest})")
