"""Top-1 of the probe's classifiers over test files, each with its binomial standard error."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from tvssl.probe.classifiers import knn_predict, linear_probe_predict
from tvssl.probe.features import FileFeatures


def top1_with_se(predicted: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(top-1 %, standard error %) over ``n`` test files: sqrt(p (1 - p) / n), the error of a binomial share."""
    n = len(labels)
    p = float((predicted == labels).double().mean())
    return 100 * p, 100 * math.sqrt(p * (1 - p) / n)


@dataclass(frozen=True)
class ProbeScores:
    """What one probe of one encoder on one split gives (percent), and on how many test files."""

    probe_top1: float
    probe_se: float
    knn_top1: float
    knn_se: float
    n: int
    train_files: int
    num_classes: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def probe_scores(train: FileFeatures, test: FileFeatures, num_classes: int) -> ProbeScores:
    """Fit both classifiers on ``train`` and score them on ``test``."""
    linear = linear_probe_predict(train.features, train.labels, test.features, num_classes)
    knn = knn_predict(train.features, train.labels, test.features, num_classes)
    probe_top1, probe_se = top1_with_se(linear, test.labels)
    knn_top1, knn_se = top1_with_se(knn, test.labels)
    return ProbeScores(
        probe_top1, probe_se, knn_top1, knn_se, len(test.labels), len(train.labels), num_classes
    )
