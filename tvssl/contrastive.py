"""ContrastiveAVModule: the pretraining method — encoders, heads, cross-modal loss, schedule and retrieval metrics.

The (k, w) policy lives entirely in the data module's batch sampler; this module only sees batches of
clips with their title ids, which it uses to measure how many negatives are hard (same title) and,
optionally, to mask them out.
"""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch

from tvssl.evaluation import first_occurrences, recall_at_k, title_retrieval
from tvssl.losses import CrossModalInfoNCE
from tvssl.models import AudioEncoder, Norm, ProjectionHead, VideoEncoder
from tvssl.preprocessing import DevicePreprocessing
from tvssl.quarantine_report import QuarantineReport
from tvssl.schedule import warmup_cosine_scheduler


class ContrastiveAVModule(DevicePreprocessing, pl.LightningModule):
    """Audio-visual contrastive pretraining (f on video, g on log-mel audio, heads to a shared space).

    Args:
        video_arch / audio_arch: "r2plus1d_18" / "resnet18" (paper) or "tiny" for CPU runs.
        embed_dim: output of the heads h_f, h_g; head_hidden_dim: their hidden width.
        temperature: of the InfoNCE softmax. mask_same_title_negatives: drop same-title negatives (ablation).
        norm: "batch" (paper) or "group" in encoders and heads; GroupNorm takes the batch's titles out of the
            normalisation (tvssl.models.normalization), a diagnostic beside the masked control.
        lr_start, lr_peak, lr_end: Adam's learning rate warms linearly from start to peak over
            ``warmup_epochs`` epochs of steps, then follows a cosine to lr_end (per step).
        crop_size: side of the square video crop; n_mels: log-mel bands; gain_db: audio gain jitter.
    """

    def __init__(
        self,
        video_arch: Literal["r2plus1d_18", "tiny"] = "r2plus1d_18",
        audio_arch: Literal["resnet18", "tiny"] = "resnet18",
        embed_dim: int = 128,
        head_hidden_dim: int = 512,
        temperature: float = 0.07,
        mask_same_title_negatives: bool = False,
        norm: Norm = "batch",
        lr_start: float = 1e-4,
        lr_peak: float = 2e-3,
        lr_end: float = 0.0,
        warmup_epochs: float = 1.0,
        weight_decay: float = 0.0,
        crop_size: int = 112,
        crop_scale: tuple[float, float] = (0.3, 1.0),
        sample_rate: int = 16000,
        n_mels: int = 80,
        gain_db: float = 6.0,
        retrieval_ks: tuple[int, ...] = (1, 5),
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.video_encoder = VideoEncoder(video_arch, norm)
        self.audio_encoder = AudioEncoder(audio_arch, norm)
        self.video_head = ProjectionHead(self.video_encoder.out_dim, head_hidden_dim, embed_dim, norm)
        self.audio_head = ProjectionHead(self.audio_encoder.out_dim, head_hidden_dim, embed_dim, norm)
        self.init_preprocessing(crop_size, sample_rate, n_mels, gain_db, crop_scale=crop_scale)
        self.loss = CrossModalInfoNCE(
            temperature=temperature, mask_same_title_negatives=mask_same_title_negatives
        )
        self._val_outputs: list[dict[str, torch.Tensor]] = []

    def configure_callbacks(self) -> list[pl.Callback]:
        """Every pretraining run reports the titles its data workers quarantined."""
        return [QuarantineReport()]

    def embed(self, video: torch.Tensor, spectrogram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            self.video_head(self.video_encoder(video)),
            self.audio_head(self.audio_encoder(spectrogram)),
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        v, a = self.embed(batch["video"], batch["audio"])
        terms = self.loss(v, a, batch["title"])
        n = v.shape[0]
        # Each term is a mean over this rank's rows; their mean over ranks is the global-batch value.
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=n, sync_dist=True)
        for name in ("loss_v2a", "loss_a2v", "acc_v2a", "acc_a2v"):
            self.log(f"train/{name}", terms[name], batch_size=n, sync_dist=True)
        self.log(
            "train/same_title_negatives", terms["same_title_negative_share"], batch_size=n, sync_dist=True
        )
        substituted = batch["substituted"].sum().float()
        self.log("train/substituted_clips", substituted, reduce_fx="sum", sync_dist=True, batch_size=n)
        self.log("lr", self.optimizers().param_groups[0]["lr"], prog_bar=True, batch_size=n)
        return terms["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        v, a = self.embed(batch["video"], batch["audio"])
        # Clips of quarantined titles arrive zero-filled and flagged ``skip``: no metric counts them.
        self._val_outputs.append(
            {
                "v": v.float(),
                "a": a.float(),
                "id": batch["clip_id"],
                "title": batch["title"],
                "skip": batch["skip"],
            }
        )

    def on_validation_epoch_start(self) -> None:
        self._val_outputs = []

    def on_validation_epoch_end(self) -> None:
        """Retrieval over the whole fixed clip set: gather every rank's clips, drop padding repeats by clip id.

        Beside recall@k over all clips, ``title_found`` and ``clip_in_title`` split what the encoders tell apart
        into other titles' clips and their own title's (``evaluation.title_retrieval``)."""
        if not self._val_outputs:
            return
        v, a, ids, titles, skip = (
            torch.cat([o[key] for o in self._val_outputs]) for key in ("v", "a", "id", "title", "skip")
        )
        if self.trainer.world_size > 1:
            v, a, ids, titles, skip = (self.all_gather(x).flatten(0, 1) for x in (v, a, ids, titles, skip))
        keep = first_occurrences(ids)
        self.log("val/skipped_clips", float(skip[keep].sum()), rank_zero_only=True)
        keep = keep[~skip[keep]]
        if len(keep) == 0:
            self._val_outputs = []
            return
        v, a, titles = v[keep], a[keep], titles[keep]
        ks = tuple(self.hparams.retrieval_ks)
        for name, (q, key) in {"v2a": (v, a), "a2v": (a, v)}.items():
            for k, value in recall_at_k(q, key, ks).items():
                self.log(f"val/recall@{k}_{name}", value, sync_dist=False, rank_zero_only=True)
            found, within = title_retrieval(q, key, titles)
            self.log(f"val/title_found_{name}", found, sync_dist=False, rank_zero_only=True)
            self.log(f"val/clip_in_title_{name}", within, sync_dist=False, rank_zero_only=True)
        self.log("val/clips", float(v.shape[0]), rank_zero_only=True)
        self._val_outputs = []

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        optimizer = torch.optim.Adam(self.parameters(), lr=hp.lr_peak, weight_decay=hp.weight_decay)
        schedule = warmup_cosine_scheduler(
            optimizer, self.trainer, hp.warmup_epochs, hp.lr_start, hp.lr_peak, hp.lr_end
        )
        return {"optimizer": optimizer, "lr_scheduler": schedule}
