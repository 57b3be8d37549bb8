"""Projection heads h_f, h_g: encoder feature -> the L2-normalised embedding that the contrastive loss uses.

Written as two kernel-size-1 Conv1d layers (the paper's description); on a [B, C, 1] view this is an MLP with
BatchNorm. The output lies on the unit sphere so that the loss's dot products are cosine similarities and the
temperature alone sets the logit scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tvssl.models.normalization import Norm, apply_norm


class ProjectionHead(nn.Module):
    """Conv1d(k=1) -> BatchNorm1d -> ReLU -> Conv1d(k=1) -> L2 normalise; [B, in_dim] -> [B, out_dim]."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128, norm: Norm = "batch") -> None:
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        # No bias before BatchNorm: BN's shift makes it redundant.
        self.net = nn.Sequential(
            nn.Conv1d(in_dim, hidden_dim, kernel_size=1, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden_dim, out_dim, kernel_size=1),
        )
        apply_norm(self.net, norm)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        if feature.ndim != 2 or feature.shape[1] != self.in_dim:
            raise ValueError(
                f"ProjectionHead(in_dim={self.in_dim}) expects [B, {self.in_dim}] features, got shape "
                f"{tuple(feature.shape)}; set in_dim to the encoder's out_dim"
            )
        out = self.net(feature.unsqueeze(-1)).squeeze(-1)
        return F.normalize(out, dim=1)
