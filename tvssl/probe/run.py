"""Probe one encoder on one downstream split, built from the same configs as its fine-tuning run."""

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


def probe_module(module: Any, datamodule: Any, clips_per_file: int = 10) -> ProbeScores:
    """Features of every train and test file of ``datamodule``'s split through ``module``'s frozen encoder."""
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
    train = file_features(module, samples.train, **kwargs)
    test = file_features(module, samples.test, **kwargs)
    return probe_scores(train, test, datamodule.num_classes)


def probe_configs(config_args: Sequence[str], out: Path, clips_per_file: int = 10) -> ProbeScores:
    """Build the fine-tuning model and data of ``config_args`` (``tvssl fit`` syntax), probe, write ``out``.

    ``out`` must not exist yet: results are never overwritten.
    """
    if out.exists():
        raise UserError(f"{out} already holds a probe result; move it away or pick another --out")
    from tvssl.lightning_cli import instantiate

    module, datamodule = instantiate(config_args)
    if not hasattr(module, "encoder") or not hasattr(datamodule, "samples"):
        raise UserError(
            "tvssl probe needs a fine-tuning config (model FinetuneModule, a downstream datamodule)"
        )
    scores = probe_module(module, datamodule, clips_per_file)
    hp = module.hparams
    record = {
        **scores.as_dict(),
        "dataset": datamodule.dataset_name.lower().replace("-", ""),
        "partition": datamodule.partition,
        "pretrained": hp.get("pretrained"),
        "arch": module.arch,
        "clips_per_file": clips_per_file,
    }
    write_atomic(out, json.dumps(record, indent=2) + "\n")
    return scores
