"""Batched clip augmentation that runs on the device, after the batch leaves the DataLoader.

Workers only decode and resize (design §5); crops, flips, colour jitter and gain are drawn per clip here
and applied to the whole batch at once: one affine grid per clip (same box for all its frames, so motion
is preserved), one ``grid_sample`` for the batch.

Every draw comes from a generator seeded by ``batch_generator`` from (seed, epoch, step, rank, the batch's clip
ids), never from torch's global generator, whose state a checkpoint does not hold: a resumed run augments each
batch exactly as the uninterrupted run did, so its losses are the same.
"""

from __future__ import annotations

import hashlib
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

# Kinetics statistics, as used by torchvision's video models.
VIDEO_MEAN = (0.43216, 0.394666, 0.37645)
VIDEO_STD = (0.22803, 0.22145, 0.216989)


def batch_generator(
    device: torch.device,
    *,
    epoch: int,
    step: int,
    rank: int,
    ids: torch.Tensor | None = None,
    seed: int | None = None,
) -> torch.Generator:
    """A generator on ``device`` whose state is a pure function of where training is and what the batch holds.

    ``seed`` defaults to the run's ``seed_everything`` (Lightning exports it as PL_GLOBAL_SEED). The batch's clip
    ids separate micro-batches of one optimizer step (gradient accumulation) and the ranks' shares.
    """
    if seed is None:
        seed = int(os.environ.get("PL_GLOBAL_SEED", "0"))
    digest = hashlib.sha256(f"{seed}:{epoch}:{step}:{rank}:".encode())
    if ids is not None:
        digest.update(ids.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    generator = torch.Generator(device=device)
    generator.manual_seed(int.from_bytes(digest.digest()[:8], "big") >> 1)
    return generator


def training_generator(module: nn.Module, ids: torch.Tensor, device: torch.device) -> torch.Generator | None:
    """The generator for one training batch of a LightningModule, or None outside training (no draws then)."""
    trainer = getattr(module, "_trainer", None)
    if not module.training or trainer is None:
        return None
    return batch_generator(
        device, epoch=trainer.current_epoch, step=trainer.global_step, rank=trainer.global_rank, ids=ids
    )


class VideoAugment(nn.Module):
    """uint8 [B, T, H, W, 3] -> normalised float [B, 3, T, size, size].

    Training: random resized crop (area share in ``scale``, aspect in ``ratio``), horizontal flip, and
    brightness / contrast / saturation jitter. Evaluation: the centred square crop of side
    ``size / crop_share`` scaled to ``size``, which is what a 112 crop of a 128 short side gives.
    """

    def __init__(
        self,
        size: int = 112,
        scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip: float = 0.5,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        eval_crop_share: float = 112 / 128,
    ) -> None:
        super().__init__()
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.flip = flip
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.eval_crop_share = eval_crop_share
        self.register_buffer("mean", torch.tensor(VIDEO_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(VIDEO_STD).view(1, 3, 1, 1, 1), persistent=False)

    def boxes(
        self,
        batch: int,
        height: int,
        width: int,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Crop boxes [B, 4] as (centre x, centre y, half width, half height) in [-1, 1] image coordinates."""
        if not self.training:
            side = self.eval_crop_share * min(height, width)
            half = torch.tensor([side / width, side / height], device=device)
            return torch.cat([torch.zeros(batch, 2, device=device), half.expand(batch, 2)], dim=1)
        area = torch.empty(batch, device=device).uniform_(*self.scale, generator=generator) * height * width
        log_r = torch.empty(batch, device=device).uniform_(
            math.log(self.ratio[0]), math.log(self.ratio[1]), generator=generator
        )
        aspect = torch.exp(log_r)
        w = torch.sqrt(area * aspect).clamp(max=width)
        h = torch.sqrt(area / aspect).clamp(max=height)
        half_w, half_h = w / width, h / height
        cx = (torch.rand(batch, device=device, generator=generator) * 2 - 1) * (1 - half_w)
        cy = (torch.rand(batch, device=device, generator=generator) * 2 - 1) * (1 - half_h)
        return torch.stack([cx, cy, half_w, half_h], dim=1)

    def forward(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b, t, h, w, _ = video.shape
        frames = video.permute(0, 1, 4, 2, 3).reshape(b, t * 3, h, w).float().div_(255)
        box = self.boxes(b, h, w, video.device, generator)
        sx = box[:, 2]
        if self.training and self.flip > 0:
            sx = torch.where(torch.rand(b, device=video.device, generator=generator) < self.flip, -sx, sx)
        theta = torch.zeros(b, 2, 3, device=video.device)
        theta[:, 0, 0] = sx
        theta[:, 0, 2] = box[:, 0]
        theta[:, 1, 1] = box[:, 3]
        theta[:, 1, 2] = box[:, 1]
        grid = F.affine_grid(theta, [b, t * 3, self.size, self.size], align_corners=False)
        out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = out.view(b, t, 3, self.size, self.size).permute(0, 2, 1, 3, 4)
        if self.training:
            out = self.jitter(out, generator)
        return out.sub_(self.mean).div_(self.std)

    def jitter(self, clips: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-clip brightness, contrast and saturation factors; the same for every frame of a clip.

        Works in place on ``clips`` (the sampled batch, which nothing else holds): each step is the same
        arithmetic in the same order as ``(x - m) * f + m``, so the values are bitwise those of the out-of-place
        formulation (tests/test_augment.py), at about two thirds of its time on the CPU.
        """
        b = clips.shape[0]
        shape = (b, 1, 1, 1, 1)

        def factor(amount: float) -> torch.Tensor:
            return torch.empty(shape, device=clips.device).uniform_(
                1 - amount, 1 + amount, generator=generator
            )

        clips.mul_(factor(self.brightness))
        mean = _grey(clips).clamp_(0, 1).mean(dim=(2, 3, 4), keepdim=True)
        clips.sub_(mean).mul_(factor(self.contrast)).add_(mean)
        grey = _grey(clips)
        clips.sub_(grey).mul_(factor(self.saturation)).add_(grey)
        return clips.clamp_(0, 1)


def _grey(clips: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma [B, 1, T, H, W] of RGB clips [B, 3, T, H, W], summed left to right."""
    grey = 0.299 * clips[:, 0:1]
    grey += 0.587 * clips[:, 1:2]
    grey += 0.114 * clips[:, 2:3]
    return grey


class AudioGain(nn.Module):
    """Random gain in decibels per clip during training; identity in evaluation."""

    def __init__(self, max_db: float = 6.0) -> None:
        super().__init__()
        self.max_db = max_db

    def forward(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training or self.max_db <= 0:
            return audio
        db = torch.empty(audio.shape[0], 1, device=audio.device).uniform_(
            -self.max_db, self.max_db, generator=generator
        )
        return audio * torch.pow(10.0, db / 20)
