"""Device-side preprocessing, defined once for every LightningModule of the suite.

Workers only decode and resize (design §5); once a batch is on the device, video gets its crop, flip and
colour jitter and audio its gain and log-mel, batched. Draws come from ``augment.training_generator`` so a
resumed run augments exactly as the uninterrupted one. The transforms stay attributes of the module
(``video_augment``, ``audio_gain``, ``logmel``) so checkpoints keep their parameter names.
"""

from __future__ import annotations

from typing import Any

import torch

from tvssl.augment import AudioGain, VideoAugment, training_generator
from tvssl.models import LogMel


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
