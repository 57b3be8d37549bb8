"""FinetuneModule: weights come from the pretraining checkpoint, video-level accuracy averages clips, configs run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.overrides import tiny_overrides
from tvssl.cli import RUN_DIR_ENV, main
from tvssl.evaluation import first_occurrences, video_level_predictions
from tvssl.finetune import FinetuneModule, load_pretrained_encoder

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
TASKS = {"ucf101": "video", "hmdb51": "video", "esc50": "audio"}


@pytest.fixture(autouse=True)
def _fresh_run_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)


@pytest.fixture(scope="module")
def pretrained(movie_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ContrastiveAVModule checkpoint: two steps of movie_k4_w4 with tiny encoders."""
    runs = tmp_path_factory.mktemp("pretrain-runs")
    config = str(EXPERIMENTS / "movie_k4_w4.yaml")
    main(["fit", "--config", config, *tiny_overrides(movie_corpus, runs, 8), "--trainer.max_steps=2"])
    checkpoint = runs / "movie_k4_w4" / "version_0" / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()
    return checkpoint


def test_encoder_weights_are_loaded_from_the_pretraining_checkpoint(pretrained: Path) -> None:
    saved = torch.load(pretrained, map_location="cpu", weights_only=False)["state_dict"]
    for modality in ("video", "audio"):
        module = FinetuneModule(modality=modality, pretrained=str(pretrained))
        assert module.arch == "tiny"
        loaded = module.encoder.state_dict()
        assert loaded.keys() == {k.split(".", 1)[1] for k in saved if k.startswith(f"{modality}_encoder.")}
        for name, tensor in loaded.items():
            torch.testing.assert_close(tensor, saved[f"{modality}_encoder.{name}"], rtol=0, atol=0)
        random_init = FinetuneModule(modality=modality, arch="tiny").encoder.state_dict()
        assert any(
            not torch.equal(random_init[n], loaded[n]) for n in loaded if loaded[n].is_floating_point()
        )


def test_a_groupnorm_pretraining_is_fine_tuned_with_groupnorm(
    movie_corpus: Path, pretrained: Path, tmp_path: Path
) -> None:
    """The checkpoint says which normalisation its encoders have; fine-tuning and the probe build the same."""
    config = str(EXPERIMENTS / "movie_k4_w4.yaml")
    overrides = [*tiny_overrides(movie_corpus, tmp_path, 8), "--trainer.max_steps=2"]
    main(["fit", "--config", config, *overrides, "--model.init_args.norm=group"])
    checkpoint = tmp_path / "movie_k4_w4" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    for modality in ("video", "audio"):
        assert load_pretrained_encoder(checkpoint, modality).norm == "group"
        module = FinetuneModule(modality=modality, pretrained=str(checkpoint))
        assert module.norm == "group"
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.encoder.modules())
        for name, tensor in module.encoder.state_dict().items():
            torch.testing.assert_close(tensor, saved[f"{modality}_encoder.{name}"], rtol=0, atol=0)
        with pytest.raises(ValueError, match="norm='batch' but the checkpoint .* holds a 'group' encoder"):
            FinetuneModule(modality=modality, pretrained=str(checkpoint), norm="batch")
    # Checkpoints written before the option existed (no norm hyper-parameter) hold BatchNorm encoders.
    older = torch.load(pretrained, map_location="cpu", weights_only=False)
    assert older["hyper_parameters"].pop("norm") == "batch"
    torch.save(older, tmp_path / "older.ckpt")
    assert FinetuneModule(modality="video", pretrained=str(tmp_path / "older.ckpt")).norm == "batch"
    assert FinetuneModule(modality="audio", arch="tiny", norm="group").norm == "group"
    with pytest.raises(ValueError, match="model.init_args.norm must be one of"):
        FinetuneModule(modality="audio", arch="tiny", norm="layer")


def test_checkpoint_problems_are_named(pretrained: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds a 'tiny' encoder"):
        FinetuneModule(modality="video", pretrained=str(pretrained), arch="r2plus1d_18")
    with pytest.raises(FileNotFoundError, match="pretrained"):
        FinetuneModule(modality="video", pretrained=str(tmp_path / "missing.ckpt"))
    torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not a ContrastiveAVModule checkpoint"):
        load_pretrained_encoder(tmp_path / "other.ckpt", "audio")


def test_video_level_accuracy_averages_the_softmax_of_a_videos_clips() -> None:
    # Video 7 (label 1): clip votes 0, 0, 1 but the mean favours class 1 -> correct at video level only by mean.
    # Video 3 (label 0): both clips say 0. Video 5 (label 2): one clip, says 1 -> wrong.
    probs = torch.tensor(
        [
            [0.6, 0.4, 0.0],
            [0.55, 0.45, 0.0],
            [0.0, 1.0, 0.0],
            [0.9, 0.1, 0.0],
            [0.8, 0.2, 0.0],
            [0.2, 0.7, 0.1],
        ]
    )
    video = torch.tensor([7, 7, 7, 3, 3, 5])
    labels = torch.tensor([1, 1, 1, 0, 0, 2])
    mean, video_labels = video_level_predictions(probs, video, labels)
    torch.testing.assert_close(mean[2], torch.tensor([1.15, 1.85, 0.0]) / 3)
    assert video_labels.tolist() == [0, 2, 1]
    assert (mean.argmax(1) == video_labels).tolist() == [True, False, True]
    clip_correct = (probs.argmax(1) == labels).float().mean().item()
    assert clip_correct == pytest.approx(3 / 6)


def test_padding_repeats_are_dropped_before_scoring() -> None:
    ids = torch.tensor([4, 1, 4, 2, 1])
    assert first_occurrences(ids).tolist() == [1, 3, 0]


def finetune_args(task: str, root: Path, runs: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "--config",
        str(EXPERIMENTS / "finetune" / f"{task}.yaml"),
        f"--data.init_args.root={root / task}",
        "--data.init_args.batch_size=8",
        "--data.init_args.slot_seconds=0.5",
        "--data.init_args.num_workers=0",
        "--data.init_args.test_clips=3",
        *(
            ["--data.init_args.num_frames=4", "--data.init_args.short_side=32"]
            if TASKS[task] == "video"
            else []
        ),
        "--model.init_args.arch=tiny",
        "--model.init_args.crop_size=28",
        "--model.init_args.n_mels=32",
        "--trainer.accelerator=cpu",
        "--trainer.precision=32-true",
        f"--run.dir={runs}",
        "--run.wandb=disabled",
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_finetune_config_runs_with_fast_dev_run(
    task: str, downstream_sets: Path, tmp_path: Path
) -> None:
    main(finetune_args(task, downstream_sets, tmp_path, "--trainer.fast_dev_run=true"))


@pytest.mark.slow
def test_fit_then_test_writes_metrics_once(pretrained: Path, downstream_sets: Path, tmp_path: Path) -> None:
    results = tmp_path / "results" / "esc50_fold2_seed1" / "metrics.json"
    args = finetune_args(
        "esc50",
        downstream_sets,
        tmp_path / "runs",
        "--data.init_args.fold=2",
        "--data.init_args.seed=1",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        f"--model.init_args.pretrained={pretrained}",
        f"--model.init_args.results={results}",
    )
    args.remove("--model.init_args.arch=tiny")
    main(args)
    record = json.loads(results.read_text())
    assert record["dataset"] == "esc50" and record["fold"] == 2 and record["split"] is None
    assert record["seed"] == 1 and record["pretrained"] == str(pretrained)
    assert 0 <= record["clip_top1"] <= 100 and 0 <= record["video_top1"] <= 100
    assert record["clips"] == 3 * record["videos"] and record["videos"] > 0
    with pytest.raises(FileExistsError, match="already holds results"):
        main(args)
    assert json.loads(results.read_text()) == record


def test_a_linear_probe_keeps_its_encoder_frozen_and_in_eval_mode() -> None:
    probe = FinetuneModule(modality="audio", arch="tiny", mode="linear")
    probe.train()
    assert probe.training and not probe.encoder.training
    assert not any(p.requires_grad for p in probe.encoder.parameters())
    finetune = FinetuneModule(modality="audio", arch="tiny").train()
    assert finetune.encoder.training and all(p.requires_grad for p in finetune.encoder.parameters())
