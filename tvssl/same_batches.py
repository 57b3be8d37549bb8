"""Rows of a sweep that would train on the very same batches, so that one pretraining serves both.

A window row whose w holds every training title of its corpus (the smoke profile's w = 1024 and 2048 on titles
of 960 slots) samples exactly as the w = Mn row of its k does: ``LongFormBatchSampler.same_batches_as``. When
every other setting of the two fits is equal too (seed, model, schedule, data, the sweep's extra arguments),
the second training repeats the first step for step: the smoke table's w = 1024, w = 2048 and w = Mn rows
logged the same losses to the last digit. So the sweep publishes the first row's checkpoint and loss curve under
the second row's name, with a record that says so (``tvssl.pretrain_results.publish_twin``), instead of spending
a pretraining on a copy; the report marks such rows. Anything short of that proof (another setting differs, a
title longer than w, the twin not trained yet, an earlier attempt of the row to resume) trains the row as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tvssl.rows import Row

PROVENANCE_KEYS = ("config",)
"""Parsed-config keys that say where settings came from rather than what they are."""
NAME_KEYS = (("run", "name"), ("data", "init_args", "w"))
"""The settings two twins may differ in: the run's name, and the window (decided by the samplers)."""


def twin_row(row: Row) -> Row | None:
    """The row a window row could share its batches with: the w = Mn row of its section, k and masking."""
    if row.w is None or row.k == 1:
        return None
    return Row(row.dataset, row.k, None, masked=row.masked)


def _without(settings: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = settings
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _settings(config: Any) -> dict[str, Any]:
    settings = config.as_dict()
    for key in PROVENANCE_KEYS:
        settings.pop(key, None)
    for path in NAME_KEYS:
        _without(settings, path)
    return settings


def same_batches(argv: Sequence[str], twin_argv: Sequence[str]) -> str | None:
    """Why the fits of ``argv`` and ``twin_argv`` would be one and the same training, or None when they might not.

    Both are parsed and their data modules set up exactly as ``tvssl fit`` would (``unrun``; nothing trains). A
    corpus that has not been indexed yet is not indexed here: then the answer is None and the row trains. So
    it is for arguments the parser refuses, which the row's own fit then reports in one line.
    """
    from tvssl.lightning_cli import unrun_or_none  # torch and lightning: only when a row has a twin

    cli, twin = unrun_or_none(argv), unrun_or_none(twin_argv)
    if cli is None or twin is None or _settings(cli.config) != _settings(twin.config):
        return None
    for module in (cli.datamodule, twin.datamodule):
        manifest = getattr(module, "manifest_path", None)
        if manifest is None or not Path(manifest).is_file():
            return None
        module.setup("fit")
    ours, theirs = cli.datamodule.train_sampler, twin.datamodule.train_sampler
    if not ours.same_batches_as(theirs):
        return None
    return (
        f"every training title has at most {int(ours.widths().max())} slots, within w = {ours.w}, and every other "
        "setting is equal: the same batches, so the same training"
    )
