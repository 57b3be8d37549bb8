"""Device-side preprocessing, defined once for every LightningModule of the suite.

Workers only decode and resize (design §5); once a batch is on the device, video gets its crop, flip and
colour jitter and audio its gain and log-mel, batched. Draws come from ``augment.training_generator`` so a
resumed run augments exactly as the uninterrupted one. The transforms stay attributes of the module
(``video_augment``, ``audio_gain``, ``logmel``) so checkpoints keep their parameter names.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tvssl.augment import AudioGain, VideoAugment, training_generator
from tvssl.models import LogMel

TRANSFORMS = ("video_augment", "audio_gain", "logmel")


class DevicePreprocessing:
    """Mixin for a LightningModule: builds the transforms and implements ``on_after_batch_transfer``.

    ``preprocessed`` names the batch keys to transform ("video", "audio" or both); ``clip_ids`` names the
    integer keys that identify the batch's clips, which key the augmentation draws.
    """

    preprocessed: tuple[str, ...] = ("video", "audio")
    clip_ids: tuple[str, ...] = ("title", "slot")

    def init_preprocessing(
        self,
        crop_size: int,
        sample_rate: int,
        n_mels: int,
        gain_db: float,
        crop_scale: tuple[float, float] = (0.3, 1.0),
    ) -> None:
        self.video_augment = VideoAugment(size=crop_size, scale=crop_scale)
        self.audio_gain = AudioGain(gain_db)
        self.logmel = LogMel(sample_rate=sample_rate, n_mels=n_mels)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """uint8 video -> normalised crops [B, 3, T, S, S]; waveforms -> log-mel [B, 1, mels, frames]."""
        with torch.no_grad():
            ids = torch.stack([batch[key] for key in self.clip_ids])
            generator = training_generator(self, ids, ids.device)  # type: ignore[arg-type]
            if "video" in self.preprocessed:
                batch["video"] = self.video_augment(batch["video"], generator)
            if "audio" in self.preprocessed:
                batch["audio"] = self.logmel(self.audio_gain(batch["audio"].float(), generator))
        return batch


def _description(transform: nn.Module) -> list[tuple[str, type, dict[str, Any]]]:
    """Every submodule of a transform with its type and plain settings (sizes, rates, shares; no tensors)."""
    plain = (bool, int, float, str, tuple, type(None))
    return [
        (name, type(m), {k: v for k, v in vars(m).items() if not k.startswith("_") and isinstance(v, plain)})
        for name, m in transform.named_modules()
    ]


def same_evaluation_preprocessing(a: DevicePreprocessing, b: DevicePreprocessing) -> bool:
    """Whether ``a`` and ``b`` turn every batch into the same tensors when neither is training.

    Outside training no draw is made, so the transforms are deterministic functions of their settings and
    buffers (normalisation constants, mel filters, windows): equal settings and equal buffers, equal outputs.
    The probe computes a batch's preprocessing once for all the encoders that share it.
    """
    if a.preprocessed != b.preprocessed or getattr(a, "training", True) or getattr(b, "training", True):
        return False
    for name in TRANSFORMS:
        x, y = getattr(a, name), getattr(b, name)
        if _description(x) != _description(y) or next(x.parameters(), None) is not None:
            return False
        xb, yb = dict(x.named_buffers()), dict(y.named_buffers())
        if xb.keys() != yb.keys() or not all(torch.equal(xb[k], yb[k]) for k in xb):
            return False
    return True
