"""The frozen-feature probe: classifiers against known answers, standard errors, and features of real clips."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from data_modules.ucf101 import UCF101DataModule
from tvssl.finetune import FinetuneModule
from tvssl.probe import file_features, knn_predict, linear_probe_predict, probe_scores, top1_with_se
from tvssl.probe.features import preprocessing_groups


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
    (first,) = file_features([module], samples.test, dm.spec, "video", clips_per_file=3)
    (again,) = file_features([module], samples.test, dm.spec, "video", clips_per_file=3)
    assert first.features.shape == (len(samples.test), module.encoder.out_dim)
    assert torch.equal(first.features, again.features) and first.labels.tolist() == [
        s.label for s in samples.test
    ]
    (train,) = file_features([module], samples.train, dm.spec, "video", clips_per_file=3)
    scores = probe_scores(train, first, dm.num_classes)
    assert scores.n == len(samples.test) and 0 <= scores.probe_top1 <= 100 and scores.probe_se >= 0


@pytest.mark.slow
def test_one_pass_gives_each_encoder_what_probing_it_alone_gives(downstream_sets: Path) -> None:
    """Probing several encoders shares the decoded clips; each still gets exactly its own features."""
    dm = UCF101DataModule(root=str(downstream_sets / "ucf101"), num_frames=4, short_side=32, num_workers=0)
    torch.manual_seed(1)
    first = FinetuneModule(modality="video", arch="tiny", crop_size=28)
    torch.manual_seed(2)
    second = FinetuneModule(modality="video", arch="tiny", crop_size=24)
    torch.manual_seed(3)
    # first's preprocessing, other weights
    third = FinetuneModule(modality="video", arch="tiny", crop_size=28)
    modules = (first, second, third)
    crops = []
    for m in modules:
        m.video_augment.register_forward_hook(lambda mod, args, out: crops.append(out.shape[-1]))
    together = file_features(list(modules), dm.samples.test, dm.spec, "video", clips_per_file=3)
    batches = math.ceil(len(dm.samples.test) * 3 / 64)
    # One crop per batch for first and third together, one for second.
    assert preprocessing_groups(list(modules)) == [0, 1, 0]
    assert sorted(crops) == sorted([28, 24] * batches)
    crops.clear()
    alone = [file_features([m], dm.samples.test, dm.spec, "video", clips_per_file=3)[0] for m in modules]
    assert len(crops) == 3 * batches
    for shared, own in zip(together, alone, strict=True):
        assert torch.equal(shared.features, own.features) and torch.equal(shared.labels, own.labels)
    assert not torch.equal(together[0].features, together[1].features)
    assert not torch.equal(together[0].features, together[2].features)


def _probe_args(root: Path, out: Path, *extra: str) -> list[str]:
    experiments = Path(__file__).resolve().parents[1] / "experiments"
    configs = ["finetune/ucf101.yaml", "smoke/finetune-video.yaml", "smoke/random-init.yaml"]
    args = ["--out", str(out), *[a for c in configs for a in ("--config", str(experiments / c))]]
    return [*args, "--data.init_args.root", str(root / "ucf101"), "--data.init_args.num_workers", "0", *extra]


@pytest.mark.slow
def test_tvssl_probe_writes_one_result_per_encoder_and_refuses_encoders_reading_other_data(
    downstream_sets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tvssl.cli import main

    a, b, c = (tmp_path / f"{name}.json" for name in "abc")
    seed_one = ("--seed_everything", "1")
    assert (
        main(
            ["probe", *_probe_args(downstream_sets, a), "--and", *_probe_args(downstream_sets, b, *seed_one)]
        )
        == 0
    )
    assert main(["probe", *_probe_args(downstream_sets, c, *seed_one)]) == 0
    together, alone = json.loads(b.read_text()), json.loads(c.read_text())
    assert together == alone and json.loads(a.read_text())["n"] == alone["n"]
    capsys.readouterr()
    d, e = tmp_path / "d.json", tmp_path / "e.json"
    other_split = ("--data.init_args.split", "2")
    assert (
        main(
            [
                "probe",
                *_probe_args(downstream_sets, d),
                "--and",
                *_probe_args(downstream_sets, e, *other_split),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(e) in err[0] and "reads other data" in err[0], err
    assert not d.exists() and not e.exists()
    assert main(["probe", *_probe_args(downstream_sets, d), "--and", *_probe_args(downstream_sets, a)]) == 2
    assert "already holds a probe result" in capsys.readouterr().err and not d.exists()
