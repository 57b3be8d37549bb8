"""FinetuneModule: the paper's downstream protocol for one encoder (video on UCF101/HMDB51, audio on ESC-50).

The encoder starts from a ContrastiveAVModule checkpoint (``pretrained``) or from random init (the
baseline). Test clips come 10 per file; clip-level top-1 scores each clip, video-level top-1 averages the
softmax over a file's clips. ``FinetuneResults`` (a callback this module adds) writes them to
``metrics.json`` for the report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.functional.classification import multiclass_accuracy

from tvssl.evaluation import first_occurrences, video_level_predictions
from tvssl.finetune_results import FinetuneResults
from tvssl.models import AudioEncoder, VideoEncoder
from tvssl.models.normalization import check_norm
from tvssl.preprocessing import DevicePreprocessing
from tvssl.schedule import warmup_cosine_scheduler

Modality = Literal["video", "audio"]
ARCH_KEYS = {"video": "video_arch", "audio": "audio_arch"}


@dataclass(frozen=True)
class PretrainedEncoder:
    """What a pretraining checkpoint holds of one modality's encoder: how to build it, and its weights."""

    arch: str
    norm: str
    state: dict[str, torch.Tensor]


def load_pretrained_encoder(path: str | os.PathLike, modality: Modality) -> PretrainedEncoder:
    """One modality's encoder from a ContrastiveAVModule checkpoint (``norm`` "batch" in those older than it)."""
    ckpt_path = Path(path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(
            f"pretrained checkpoint {ckpt_path} does not exist (model.init_args.pretrained)"
        )
    # Our own Lightning checkpoints hold hyper-parameters and loop state next to the tensors.
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    hparams = checkpoint.get("hyper_parameters", {})
    arch = hparams.get(ARCH_KEYS[modality])
    prefix = f"{modality}_encoder."
    state = {k[len(prefix) :]: v for k, v in checkpoint.get("state_dict", {}).items() if k.startswith(prefix)}
    if arch is None or not state:
        raise ValueError(
            f"{ckpt_path} is not a ContrastiveAVModule checkpoint: it has no {prefix}* weights "
            f"or no {ARCH_KEYS[modality]} hyper-parameter"
        )
    return PretrainedEncoder(arch, hparams.get("norm", "batch"), state)


class FinetuneModule(DevicePreprocessing, pl.LightningModule):
    """Classifier on one pretrained (or random) encoder.

    Args:
        modality: "video" (UCF101, HMDB51) or "audio" (ESC-50); must match the data module.
        pretrained: ContrastiveAVModule checkpoint to start from; None = random init (the baseline).
        arch: encoder architecture when not pretrained ("r2plus1d_18"/"resnet18" or "tiny"); with a
            checkpoint, the checkpoint's architecture is used and a different value is an error.
        norm: "batch" or "group" (tvssl.models.normalization) when not pretrained; as ``arch`` otherwise.
        mode: "finetune" trains everything; "linear" freezes the encoder and trains the classifier only.
        lr_start, lr_peak, lr_end, warmup_epochs: SGD learning rate warm-up then cosine (paper: 1e-3 ->
            0.2 over 25 epochs). momentum, weight_decay: SGD settings (paper: 0.9, 1e-4).
        results: where metrics.json goes (default: the run directory); an existing file is never replaced.
    """

    test_after_fit = True
    clip_ids = ("video_index", "clip_index")

    def __init__(
        self,
        modality: Modality = "video",
        pretrained: str | None = None,
        arch: str | None = None,
        norm: str | None = None,
        mode: Literal["finetune", "linear"] = "finetune",
        dropout: float = 0.5,
        lr_start: float = 1e-3,
        lr_peak: float = 0.2,
        lr_end: float = 0.0,
        warmup_epochs: float = 25.0,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        crop_size: int = 112,
        sample_rate: int = 16000,
        n_mels: int = 80,
        gain_db: float = 0.0,
        results: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if modality not in ("video", "audio"):
            raise ValueError(f"modality must be 'video' or 'audio', got {modality!r}")
        if mode not in ("finetune", "linear"):
            raise ValueError(f"mode must be 'finetune' or 'linear', got {mode!r}")
        default_arch = "r2plus1d_18" if modality == "video" else "resnet18"
        state = None
        if pretrained:
            loaded = load_pretrained_encoder(pretrained, modality)
            for setting, given, held in (("arch", arch, loaded.arch), ("norm", norm, loaded.norm)):
                if given is not None and given != held:
                    raise ValueError(
                        f"{setting}={given!r} but the checkpoint {pretrained} holds a {held!r} encoder"
                    )
            arch, norm, state = loaded.arch, loaded.norm, loaded.state
        self.arch = arch or default_arch
        self.norm = norm or "batch"
        check_norm(self.norm, "model.init_args.norm")
        encoder_class = VideoEncoder if modality == "video" else AudioEncoder
        self.encoder: nn.Module = encoder_class(self.arch, self.norm)  # type: ignore[arg-type]
        if state is not None:
            self.encoder.load_state_dict(state)
        if mode == "linear":
            self.encoder.requires_grad_(False)
        self.preprocessed = (modality,)
        self.init_preprocessing(crop_size, sample_rate, n_mels, gain_db)
        self.classifier: nn.Module | None = None
        self.test_scores: dict[str, float] | None = None
        self._test_outputs: list[dict[str, torch.Tensor]] = []

    def setup(self, stage: str) -> None:
        """The class count comes from the data module, so the classifier is built once the data is known."""
        dm = self.trainer.datamodule if self.trainer is not None else None
        if dm is None:
            raise ValueError("FinetuneModule needs a downstream data module (UCF101, HMDB51 or ESC-50)")
        if dm.modality != self.hparams.modality:
            raise ValueError(
                f"model.init_args.modality={self.hparams.modality!r} but {type(dm).__name__} provides "
                f"{dm.modality!r} clips: set model.init_args.modality: {dm.modality}"
            )
        if self.classifier is None:
            self.classifier = nn.Sequential(
                nn.Dropout(self.hparams.dropout), nn.Linear(self.encoder.out_dim, dm.num_classes)
            )
            self.num_classes = dm.num_classes
            self.train_acc = MulticlassAccuracy(num_classes=dm.num_classes, average="micro")

    def configure_callbacks(self) -> list[pl.Callback]:
        """Where the test scores go is the callback's business (default: the run directory)."""
        return [FinetuneResults(self.hparams.results)]

    def train(self, mode: bool = True) -> FinetuneModule:
        """A linear probe keeps its frozen encoder in eval mode (BatchNorm statistics fixed) whatever Lightning sets."""
        super().train(mode)
        if self.hparams.mode == "linear":
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch[self.hparams.modality])
        loss = F.cross_entropy(logits, batch["label"])
        self.train_acc(logits, batch["label"])
        n = logits.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/top1", self.train_acc, on_step=False, on_epoch=True, batch_size=n)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=n)
        return loss

    def _eval_step(self, batch: dict[str, Any]) -> None:
        logits = self(batch[self.hparams.modality])
        self._test_outputs.append(
            {
                "probs": logits.float().softmax(dim=1),
                "label": batch["label"],
                "video": batch["video_index"],
                "clip": batch["clip_index"],
            }
        )

    def _eval_epoch_end(self, stage: str) -> dict[str, float]:
        """Clip- and video-level top-1 over every rank's clips, with the sampler's padding repeats removed."""
        outs = {k: torch.cat([o[k] for o in self._test_outputs]) for k in ("probs", "label", "video", "clip")}
        self._test_outputs = []
        if self.trainer.world_size > 1:
            outs = {k: self.all_gather(v).flatten(0, 1) for k, v in outs.items()}
        keep = first_occurrences(outs["video"] * (int(outs["clip"].max()) + 1) + outs["clip"])
        outs = {k: v[keep] for k, v in outs.items()}
        classes = outs["probs"].shape[1]
        clip_top1 = multiclass_accuracy(outs["probs"], outs["label"], classes, average="micro").item() * 100
        video_probs, video_labels = video_level_predictions(outs["probs"], outs["video"], outs["label"])
        video_top1 = multiclass_accuracy(video_probs, video_labels, classes, average="micro").item() * 100
        self.log(f"{stage}/clip_top1", clip_top1, rank_zero_only=True)
        self.log(f"{stage}/video_top1", video_top1, rank_zero_only=True)
        return {
            "clip_top1": clip_top1,
            "video_top1": video_top1,
            "clips": len(keep),
            "videos": len(video_labels),
        }

    def on_validation_epoch_start(self) -> None:
        self._test_outputs = []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        if self._test_outputs:
            self._eval_epoch_end("val")

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        if self._test_outputs:
            self.test_scores = self._eval_epoch_end("test")

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=hp.lr_peak, momentum=hp.momentum, weight_decay=hp.weight_decay)
        schedule = warmup_cosine_scheduler(
            optimizer, self.trainer, hp.warmup_epochs, hp.lr_start, hp.lr_peak, hp.lr_end
        )
        return {"optimizer": optimizer, "lr_scheduler": schedule}
