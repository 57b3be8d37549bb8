"""Probe encoders on one downstream split, each built from the same configs as its fine-tuning run.

Several encoders probed on one split share one pass over its files (``file_features``); each is still built
from its own complete ``tvssl fit`` arguments, and they must all resolve to the same data (split, clip spec,
batch), so that each gets exactly what probing it alone would give.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_modules.atomic_write import write_atomic
from tvssl.errors import UserError
from tvssl.probe.features import file_features
from tvssl.probe.scores import ProbeScores, probe_scores
from tvssl.progress import Reporter


def probe_modules(modules: Sequence[Any], datamodule: Any, clips_per_file: int = 10) -> list[ProbeScores]:
    """Features of every train and test file of ``datamodule``'s split through each module's frozen encoder."""
    samples = datamodule.samples
    total = (len(samples.train) + len(samples.test)) * clips_per_file
    report = Reporter("clips")
    done = 0

    def on_clips(n: int) -> None:
        nonlocal done
        done += n
        report(done, total)

    kwargs = dict(
        spec=datamodule.spec,
        modality=datamodule.modality,
        clips_per_file=clips_per_file,
        batch_size=datamodule.batch_size,
        num_workers=datamodule.num_workers,
        on_clips=on_clips,
    )
    train = file_features(modules, samples.train, **kwargs)
    test = file_features(modules, samples.test, **kwargs)
    return [probe_scores(a, b, datamodule.num_classes) for a, b in zip(train, test, strict=True)]


def _data_key(datamodule: Any) -> tuple[Any, ...]:
    """What decides the clips a probe reads: the split's files and labels, the clip spec, the batches."""
    samples = datamodule.samples
    return (
        datamodule.dataset_name,
        datamodule.partition,
        datamodule.modality,
        datamodule.spec,
        datamodule.batch_size,
        tuple(samples.train),
        tuple(samples.test),
    )


def probe_configs(
    groups: Sequence[tuple[Sequence[str], Path]], clips_per_file: int = 10
) -> list[ProbeScores]:
    """For each (``tvssl fit`` arguments, out) of ``groups``: build its fine-tuning model and data, probe, write out.

    No ``out`` may exist yet (results are never overwritten), and every group must read the same split the
    same way (checked before any clip is decoded).
    """
    outs = [out for _, out in groups]
    for out in outs:
        if out.exists():
            raise UserError(f"{out} already holds a probe result; move it away or pick another --out")
    if len(set(outs)) != len(outs):
        raise UserError("two probes would write the same --out; give each encoder its own")
    from tvssl.lightning_cli import instantiate

    built = [instantiate(args) for args, _ in groups]
    for module, datamodule in built:
        if not hasattr(module, "encoder") or not hasattr(datamodule, "samples"):
            raise UserError(
                "tvssl probe needs a fine-tuning config (model FinetuneModule, a downstream datamodule)"
            )
    reference = built[0][1]
    for (_, datamodule), out in zip(built[1:], outs[1:], strict=True):
        if _data_key(datamodule) != _data_key(reference):
            raise UserError(
                f"the probe for {out} reads other data than the one for {outs[0]} (split, clip settings or "
                "batch size differ); probe them in separate runs"
            )
    scores = probe_modules([module for module, _ in built], reference, clips_per_file)
    for (module, datamodule), out, score in zip(built, outs, scores, strict=True):
        hp = module.hparams
        record = {
            **score.as_dict(),
            "dataset": datamodule.dataset_name.lower().replace("-", ""),
            "partition": datamodule.partition,
            "pretrained": hp.get("pretrained"),
            "arch": module.arch,
            "clips_per_file": clips_per_file,
        }
        write_atomic(out, json.dumps(record, indent=2) + "\n")
    return scores
