"""Audio encoder g: log-mel spectrogram [B, 1, n_mels, frames] -> feature [B, out_dim].

The paper's g is a ResNet-18-style 2D CNN over the spectrogram treated as a one-channel image; we take
torchvision's ResNet-18 and replace only its first convolution (3 -> 1 input channel), so everything after the
stem is the standard, well-understood definition. Global average pooling makes it indifferent to the number of
frames, so the same encoder serves 2 s pretraining clips and 5 s ESC-50 clips.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torchvision.models import resnet18

from tvssl.models.normalization import Norm, apply_norm

AudioArch = Literal["resnet18", "tiny"]


def _tiny_cnn(width: int = 16) -> nn.Sequential:
    """Three strided conv-BN-ReLU stages and a global pool: 4*width-d output, for CPU smoke runs."""
    layers: list[nn.Module] = []
    in_ch = 1
    for out_ch in (width, 2 * width, 4 * width):
        layers += [
            nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        ]
        in_ch = out_ch
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
    return nn.Sequential(*layers)


class AudioEncoder(nn.Module):
    """ResNet-18 on a 1-channel log-mel (512-d) or a tiny 2D CNN (64-d)."""

    def __init__(self, arch: AudioArch = "resnet18", norm: Norm = "batch") -> None:
        super().__init__()
        self.arch = arch
        self.norm = norm
        if arch == "resnet18":
            trunk = resnet18(weights=None)
            old = trunk.conv1
            trunk.conv1 = nn.Conv2d(
                1,
                old.out_channels,
                kernel_size=old.kernel_size,
                stride=old.stride,
                padding=old.padding,
                bias=False,
            )
            # Same initialisation torchvision applies to every conv of the ResNet.
            nn.init.kaiming_normal_(trunk.conv1.weight, mode="fan_out", nonlinearity="relu")
            self.out_dim = trunk.fc.in_features
            trunk.fc = nn.Identity()
            self.trunk: nn.Module = trunk
        elif arch == "tiny":
            self.trunk = _tiny_cnn(width=16)
            self.out_dim = 64
        else:
            raise ValueError(f"AudioEncoder: unknown arch {arch!r}; choose 'resnet18' or 'tiny'")
        apply_norm(self.trunk, norm)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if spec.ndim != 4 or spec.shape[1] != 1:
            raise ValueError(
                f"AudioEncoder expects a log-mel batch [B, 1, n_mels, frames] (see tvssl.models.LogMel), "
                f"got shape {tuple(spec.shape)}"
            )
        return self.trunk(spec)
