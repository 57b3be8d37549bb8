"""Symmetric cross-modal InfoNCE between video and audio embeddings, with negatives from the global batch.

Row i of one modality is the anchor, column i of the other modality is its positive, every other column of the
global batch is a negative. loss = (loss_v2a + loss_a2v) / 2.

Normalisation: the inputs are L2-normalised here (``F.normalize``), so the logits are cosine / temperature
whatever the caller passes. On the heads' outputs, which are unit-norm already, this changes neither the value
nor the gradient (the normalisation Jacobian at a unit vector is a projection; projecting twice equals once).
All arithmetic is at least float32 (float64 inputs stay float64) with autocast disabled: at temperature 0.07
the logits reach +-14.3 and bf16 would round them to steps of 1/16.

Distributed (torch.distributed initialised, world W > 1, ``gather=True``): every rank holds b local rows; the
embeddings (and title ids) of all ranks are all-gathered, the gather being differentiable
(``torch.distributed.nn.functional.all_gather``, whose backward sums the gradients that all ranks computed for
each slice). Each rank scores its LOCAL rows against the GLOBAL N = W*b columns, positives at ``rank*b + i``.
Gradient scaling, why no correction factor is needed:
  * rank r returns L_r = mean of its b local rows, so the global loss L (one process, N rows) = mean_r L_r;
  * rank r's embeddings get d(sum_r' L_r')/dx_r = W * dL/dx_r (row use locally + column uses summed by the
    gather's backward), hence parameter gradients W * (rank r's share of dL/dtheta);
  * DDP averages parameter gradients over ranks (divides the sum by W): the result is exactly dL/dtheta.
All returned terms are this rank's local-row means; every row has the same N - 1 negatives, so their mean over
ranks (``self.log(..., sync_dist=True)``) equals the single-process value on the global batch. Every rank must
call forward with the same b (the sampler guarantees it); the gather is a collective.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
import torch.nn.functional as F
from torch import nn


def _world_and_rank() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class CrossModalInfoNCE(nn.Module):
    """Symmetric video<->audio InfoNCE; forward returns a dict of named scalar tensors (see module docstring).

    Keys: ``loss`` (to backpropagate), ``loss_v2a``, ``loss_a2v``, ``acc_v2a``, ``acc_a2v`` (share of
    anchors whose positive scores strictly above every unmasked negative of the global batch; a tie is a miss)
    and, when ``title_ids`` is given, ``same_title_negative_share`` (share of the anchors' global-batch
    negatives that come from the anchor's own title; counted before any masking). Title ids must identify
    titles corpus-wide (e.g. the manifest row index), not per rank. ``mask_same_title_negatives=True`` removes
    those negatives from the softmax (logit -inf), the ablation without hard negatives; it needs
    ``title_ids``.
    """

    def __init__(
        self,
        temperature: float = 0.07,
        mask_same_title_negatives: bool = False,
        gather: bool = True,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"CrossModalInfoNCE: temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.mask_same_title_negatives = mask_same_title_negatives
        self.gather = gather

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, mask_same_title_negatives={self.mask_same_title_negatives}, "
            f"gather={self.gather}"
        )

    def forward(
        self,
        video_emb: torch.Tensor,
        audio_emb: torch.Tensor,
        title_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        self._check_inputs(video_emb, audio_emb, title_ids)
        with torch.autocast(device_type=video_emb.device.type, enabled=False):
            dtype = torch.promote_types(torch.promote_types(video_emb.dtype, audio_emb.dtype), torch.float32)
            v = F.normalize(video_emb.to(dtype), dim=1)
            a = F.normalize(audio_emb.to(dtype), dim=1)
            world, rank = _world_and_rank()
            if self.gather and world > 1:
                v_all = torch.cat(dist_nn.all_gather(v), dim=0)
                a_all = torch.cat(dist_nn.all_gather(a), dim=0)
                t_all = self._gather_ids(title_ids, world)
            else:
                rank = 0
                v_all, a_all, t_all = v, a, title_ids
            b, n = v.shape[0], v_all.shape[0]
            rows = torch.arange(b, device=v.device)
            labels = rows + rank * b
            positive = torch.zeros(b, n, dtype=torch.bool, device=v.device)
            positive[rows, labels] = True
            same_title_negative = None
            if title_ids is not None and t_all is not None:
                same_title_negative = (title_ids[:, None] == t_all[None, :]) & ~positive

            terms: dict[str, torch.Tensor] = {}
            for name, anchors, columns in (("v2a", v, a_all), ("a2v", a, v_all)):
                logits = anchors @ columns.T / self.temperature
                if self.mask_same_title_negatives and same_title_negative is not None:
                    logits = logits.masked_fill(same_title_negative, float("-inf"))
                terms[f"loss_{name}"] = F.cross_entropy(logits, labels)
                best_negative = logits.masked_fill(positive, float("-inf")).amax(dim=1)
                terms[f"acc_{name}"] = (logits[rows, labels] > best_negative).float().mean()
            result = {"loss": (terms["loss_v2a"] + terms["loss_a2v"]) / 2, **terms}
            if same_title_negative is not None:
                result["same_title_negative_share"] = same_title_negative.float().sum() / max(b * (n - 1), 1)
        return result

    def _check_inputs(
        self, video_emb: torch.Tensor, audio_emb: torch.Tensor, title_ids: torch.Tensor | None
    ) -> None:
        if video_emb.ndim != 2 or video_emb.shape != audio_emb.shape:
            raise ValueError(
                "CrossModalInfoNCE: video_emb and audio_emb must both be [b, d] with row i of each from the "
                f"same clip; got {tuple(video_emb.shape)} and {tuple(audio_emb.shape)}"
            )
        if title_ids is not None and (
            title_ids.shape != (video_emb.shape[0],) or title_ids.is_floating_point()
        ):
            raise ValueError(
                f"CrossModalInfoNCE: title_ids must be an integer tensor [b] = [{video_emb.shape[0]}], got "
                f"{title_ids.dtype} {tuple(title_ids.shape)}"
            )
        if self.mask_same_title_negatives and title_ids is None:
            raise ValueError(
                "CrossModalInfoNCE(mask_same_title_negatives=True) needs title_ids: pass the batch's title "
                "index per clip"
            )

    @staticmethod
    def _gather_ids(title_ids: torch.Tensor | None, world: int) -> torch.Tensor | None:
        if title_ids is None:
            return None
        parts = [torch.empty_like(title_ids) for _ in range(world)]
        dist.all_gather(parts, title_ids.contiguous())
        return torch.cat(parts)
