"""A pretrained model's batch-norm statistics, measured again on other batches (precise BN).

Why: a BatchNorm layer normalises each training batch by that batch's own mean and variance, and keeps a running
average of them for evaluation. At k = 16 a batch of 64 clips holds four titles, so the running averages of a
k = 16 row (and of its control, which has the same batches) describe clips four titles at a time; at k = 1 they
describe sixty-four. Frozen features, which the probe reads, are normalised by those running averages. Measuring
them again for every row on one and the same stream of batches, k = 1 batches of the training titles, leaves
every weight as trained and removes the batch composition from what the probe sees. Probing a row before and
after then says how much of its result rests on the statistics its batches left behind, rather than on its
weights.

The new statistics are the plain average over ``batches`` of each layer's per-batch statistics (``momentum =
None``), computed with the training preprocessing (crops, jitter, gain) in training mode, without gradients.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from data_modules.atomic_write import write_atomic
from tvssl.contrastive import ContrastiveAVModule


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """Every batch-norm layer of ``model`` that keeps running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def remeasure(model: ContrastiveAVModule, batches: Iterable[dict[str, Any]], seed: int = 0) -> int:
    """Replace the running statistics of every batch-norm layer of ``model`` (encoders and heads) by their
    average over ``batches``; returns how many batches were used. Weights and every other buffer stay as they
    were; the model is left in evaluation mode. The preprocessing draws from torch's generator seeded with
    ``seed``, so the same batches give the same statistics."""
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError("the model has no BatchNorm layer with running statistics (norm: group?)")
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average: every batch counts the same
    torch.manual_seed(seed)
    model.train()
    used = 0
    try:
        with torch.no_grad():
            for batch in batches:
                batch = model.on_after_batch_transfer(batch, 0)
                model.embed(batch["video"], batch["audio"])
                used += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.eval()
    if used == 0:
        raise ValueError("no batch to measure the statistics on")
    return used


def remeasured_checkpoint(
    checkpoint: str | os.PathLike, out: str | os.PathLike, batches: Iterable[dict[str, Any]], seed: int = 0
) -> int:
    """Write ``out``: the checkpoint ``checkpoint`` with its batch-norm statistics measured again on ``batches``
    (``remeasure``), everything else (hyper-parameters, loop state, weights) as it was. Returns the batches used.
    Refuses an ``out`` that exists: it may be someone's result."""
    source, target = Path(checkpoint), Path(out)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new --out (nothing was written)")
    if not source.is_file():
        raise FileNotFoundError(f"checkpoint {source} does not exist")
    model = ContrastiveAVModule.load_from_checkpoint(source, map_location="cpu")
    state = torch.load(source, map_location="cpu", weights_only=False)
    used = remeasure(model, batches, seed)
    state["state_dict"] = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    state["precise_bn"] = {"source": str(source.resolve()), "batches": used, "seed": seed}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(target, buffer.getvalue())
    return used
