"""Which normalisation the encoders and heads use: the paper's BatchNorm, or GroupNorm as a diagnostic.

BatchNorm's statistics come from the batch, and a (k, w) batch is not a random one: at k = 16 and the smoke
profile's 64 clips, every BatchNorm layer normalises over four titles' clips, at k = 1 over 64 titles'. So the
batch policy reaches the features twice, through the loss's negatives and through the normalisation; the masked
control removes the first and keeps the second. GroupNorm normalises each clip on its own (over groups of
channels), so with ``norm="group"`` the batch's titles reach the features only through the loss. The paper's
models, and every shipped config, use ``"batch"``.
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import nn

Norm = Literal["batch", "group"]
NORMS: tuple[str, ...] = get_args(Norm)
# Channels are split into at most this many groups (the GroupNorm paper's 32 is for 64+ channel layers; the
# tiny encoders' first layers have 16).
MAX_GROUPS = 8


def check_norm(norm: str, setting: str = "norm") -> None:
    """Refuse an unknown normalisation by naming the setting that holds it."""
    if norm not in NORMS:
        raise ValueError(f"{setting} must be one of {', '.join(NORMS)}, got {norm!r}")


def group_count(channels: int, most: int = MAX_GROUPS) -> int:
    """The largest number of groups up to ``most`` that divides ``channels`` (R(2+1)D's stem has 45)."""
    return next(g for g in range(min(most, channels), 0, -1) if channels % g == 0)


def apply_norm(module: nn.Module, norm: Norm) -> nn.Module:
    """``module`` itself, with every BatchNorm layer replaced by a fresh GroupNorm when ``norm`` is "group".

    The replacement starts as BatchNorm does (scale 1, shift 0) and has the same channel count, so the layers
    around it and their initialisation are unchanged.
    """
    check_norm(norm)
    if norm == "batch":
        return module
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            channels = child.num_features
            setattr(module, name, nn.GroupNorm(group_count(channels), channels, eps=child.eps))
        else:
            apply_norm(child, norm)
    return module
