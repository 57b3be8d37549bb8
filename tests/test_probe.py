"""The frozen-feature probe: classifiers against known answers, standard errors, and features of real clips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from data_modules.ucf101 import UCF101DataModule
from tvssl.finetune import FinetuneModule
from tvssl.probe import file_features, knn_predict, linear_probe_predict, probe_scores, top1_with_se


def test_top1_and_its_binomial_standard_error() -> None:
    top1, se = top1_with_se(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 0]))
    assert top1 == 75.0 and se == pytest.approx(100 * math.sqrt(0.75 * 0.25 / 4))
    assert top1_with_se(torch.tensor([1, 1]), torch.tensor([1, 1])) == (100.0, 0.0)


def _blobs(n: int, classes: int, dim: int, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99)) * 3
    labels = torch.arange(n) % classes
    return centres[labels] + spread * torch.randn(n, dim, generator=g), labels


def test_linear_probe_separates_separable_classes_and_is_at_chance_on_noise() -> None:
    xtr, ytr = _blobs(200, 5, 16, 0.5, 0)
    xte, yte = _blobs(100, 5, 16, 0.5, 1)
    assert torch.equal(linear_probe_predict(xtr, ytr, xte, 5), yte)
    noise = torch.randn(400, 16, generator=torch.Generator().manual_seed(2))
    shuffled = torch.randint(0, 5, (400,), generator=torch.Generator().manual_seed(3))
    top1, se = top1_with_se(linear_probe_predict(noise[:300], shuffled[:300], noise[300:], 5), shuffled[300:])
    assert abs(top1 - 20.0) < 3 * se + 5  # labels carry no signal: chance, within error


def test_knn_votes_by_similarity_weight() -> None:
    # Two class-0 neighbours at 60 degrees, one class-1 neighbour at 10 degrees, k = 3, temperature 0.07:
    # exp(cos 10 / t) outweighs 2 exp(cos 60 / t), so class 1 wins; with a huge temperature the count wins.
    def at(deg: float) -> list[float]:
        return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]

    train = torch.tensor([at(60), at(-60), at(10), at(180)])
    labels = torch.tensor([0, 0, 1, 1])
    test = torch.tensor([at(0)])
    assert knn_predict(train, labels, test, 2, k=3).tolist() == [1]
    assert knn_predict(train, labels, test, 2, k=3, temperature=1e6).tolist() == [0]


@pytest.mark.slow
def test_file_features_are_deterministic_and_one_per_file(downstream_sets: Path) -> None:
    dm = UCF101DataModule(root=str(downstream_sets / "ucf101"), num_frames=4, short_side=32, num_workers=0)
    module = FinetuneModule(modality="video", arch="tiny", crop_size=28)
    samples = dm.samples
    first = file_features(module, samples.test, dm.spec, "video", clips_per_file=3)
    again = file_features(module, samples.test, dm.spec, "video", clips_per_file=3)
    assert first.features.shape == (len(samples.test), module.encoder.out_dim)
    assert torch.equal(first.features, again.features) and first.labels.tolist() == [
        s.label for s in samples.test
    ]
    train = file_features(module, samples.train, dm.spec, "video", clips_per_file=3)
    scores = probe_scores(train, first, dm.num_classes)
    assert scores.n == len(samples.test) and 0 <= scores.probe_top1 <= 100 and scores.probe_se >= 0
