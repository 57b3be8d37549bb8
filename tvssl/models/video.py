"""Video encoder f: clip [B, 3, T, H, W] -> feature [B, out_dim].

The paper's f is R(2+1)D-18; we use torchvision's definition (random init) so that parameter counts and layer
layout match what other papers report. The ``tiny`` variant exists only so that configs, CLI and tests can run
a whole training step on a laptop CPU in well under a second.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torchvision.models.video import r2plus1d_18

from tvssl.models.normalization import Norm, apply_norm

VideoArch = Literal["r2plus1d_18", "tiny"]


def _conv_bn_relu(
    in_ch: int,
    out_ch: int,
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int],
) -> list[nn.Module]:
    padding = tuple(k // 2 for k in kernel)
    return [
        nn.Conv3d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm3d(out_ch),
        nn.ReLU(inplace=True),
    ]


class FrameDifference(nn.Module):
    """Frames 1..T-1 beside their differences from the previous frame: [B, 3, T, H, W] -> [B, 6, T-1, H, W].

    The RGB-difference input of two-stream networks. A three-stage CNN trained for a few hundred steps on CPU
    does not find temporal derivatives by itself: on the synthetic sets it fits each actor's look and stays at
    chance on new actors, even supervised. With the differences as input, motion is one layer away.
    """

    def __init__(self, gain: float = 4.0) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        later = clip[:, :, 1:]
        return torch.cat([later, self.gain * (later - clip[:, :, :-1])], dim=1)


def _tiny_r2plus1d(width: int = 16) -> nn.Sequential:
    """RGB + frame differences, then factorised blocks (spatial 1xkxk, temporal kx1x1) with early striding."""
    w1, w2, w3 = width, 2 * width, 4 * width
    layers: list[nn.Module] = [
        FrameDifference(),
        *_conv_bn_relu(6, w1, (1, 5, 5), (1, 4, 4)),
        *_conv_bn_relu(w1, w1, (3, 1, 1), (1, 1, 1)),
        *_conv_bn_relu(w1, w2, (1, 3, 3), (1, 2, 2)),
        *_conv_bn_relu(w2, w2, (3, 1, 1), (2, 1, 1)),
        *_conv_bn_relu(w2, w3, (1, 3, 3), (1, 2, 2)),
        *_conv_bn_relu(w3, w3, (3, 1, 1), (2, 1, 1)),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(1),
    ]
    return nn.Sequential(*layers)


class VideoEncoder(nn.Module):
    """R(2+1)D-18 trunk (512-d) or a tiny (2+1)D CNN (64-d); input: normalised float clip [B, 3, T, H, W]."""

    def __init__(self, arch: VideoArch = "r2plus1d_18", norm: Norm = "batch") -> None:
        super().__init__()
        self.arch = arch
        self.norm = norm
        if arch == "r2plus1d_18":
            trunk = r2plus1d_18(weights=None)
            self.out_dim = trunk.fc.in_features
            trunk.fc = nn.Identity()
            self.trunk: nn.Module = trunk
        elif arch == "tiny":
            self.trunk = _tiny_r2plus1d(width=16)
            self.out_dim = 64
        else:
            raise ValueError(f"VideoEncoder: unknown arch {arch!r}; choose 'r2plus1d_18' or 'tiny'")
        apply_norm(self.trunk, norm)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if clip.ndim != 5 or clip.shape[1] != 3:
            raise ValueError(
                f"VideoEncoder expects a clip batch [B, 3, T, H, W] (channels first, after GPU-side "
                f"augmentation), got shape {tuple(clip.shape)}"
            )
        return self.trunk(clip)
