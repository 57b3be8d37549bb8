"""`tvssl fit` for pretraining: every Table 1 row parses and runs, logs land in a fresh run directory, resume is exact."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.overrides import tiny_overrides
from tests.recording import read_records
from tvssl.cli import RUN_DIR_ENV, main
from tvssl.configs import expand_config_args, resolved_settings
from tvssl.rows import EXTRA_ROWS, ROWS

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"


@pytest.fixture(autouse=True)
def _fresh_run_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)


def test_every_table1_row_has_one_config_with_its_k_and_w() -> None:
    files = {p.stem for p in EXPERIMENTS.glob("*.yaml")}
    assert files == {row.name for row in (*ROWS, *EXTRA_ROWS)}
    for row in (*ROWS, *EXTRA_ROWS):
        path = EXPERIMENTS / f"{row.name}.yaml"
        settings = resolved_settings(path)
        data = settings["data"]["init_args"]
        assert data["k"] == row.k
        assert data["w"] == (row.w if row.w is not None else "Mn")
        expected = "MovieDataModule" if row.dataset == "movie" else "TVDataModule"
        assert settings["data"]["class_path"].endswith(expected)
        assert settings["run"]["name"] == row.name and settings["run"]["group"] == row.dataset
        assert data["batch_size"] == 512 and settings["trainer"]["max_epochs"] == 10
        assert settings["model"]["init_args"]["lr_peak"] == 2.0e-3
        assert settings["model"]["init_args"].get("mask_same_title_negatives", False) == row.masked
        header = path.read_text().splitlines()[:3]
        assert header[0].startswith("# Control row" if row.masked else "# Table 1")
        assert any(f"experiments/{row.name}.yaml" in line for line in header[1:])


def test_config_bases_expand_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("trainer:\n  max_epochs: 1\n")
    (tmp_path / "b.yaml").write_text("__base__: a.yaml\ntrainer:\n  max_epochs: 2\n")
    args = expand_config_args(["fit", "--config", str(tmp_path / "b.yaml"), "--x", "1"])
    assert args[0] == "fit" and args[1] == args[3] == "--config"
    assert yaml.safe_load(args[2]) == {"trainer": {"max_epochs": 1}}
    assert yaml.safe_load(args[4]) == {"trainer": {"max_epochs": 2}} and args[5:] == ["--x", "1"]
    (tmp_path / "a.yaml").write_text("__base__: b.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        expand_config_args(["--config", str(tmp_path / "b.yaml")])


def test_print_config_shows_the_resolved_row(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(EXPERIMENTS / "movie_k16_w64.yaml"), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["init_args"]["k"] == 16 and printed["data"]["init_args"]["w"] == 64
    assert printed["trainer"]["use_distributed_sampler"] is False
    assert printed["model"]["class_path"] == "tvssl.contrastive.ContrastiveAVModule"


@pytest.mark.slow
@pytest.mark.parametrize("row", (*ROWS, *EXTRA_ROWS), ids=[r.name for r in (*ROWS, *EXTRA_ROWS)])
def test_every_row_runs_with_fast_dev_run(row, movie_corpus: Path, tv_corpus: Path, tmp_path: Path) -> None:
    root = movie_corpus if row.dataset == "movie" else tv_corpus
    args = [
        "fit",
        "--config",
        str(EXPERIMENTS / f"{row.name}.yaml"),
        *tiny_overrides(root, tmp_path, 2 * row.k),
    ]
    main([*args, "--trainer.fast_dev_run=true"])


@pytest.mark.slow
def test_fit_logs_to_csv_and_offline_wandb_in_a_new_directory(movie_corpus: Path, tmp_path: Path) -> None:
    args = [
        "fit",
        "--config",
        str(EXPERIMENTS / "movie_k16_Mn.yaml"),
        *tiny_overrides(movie_corpus, tmp_path, 32),
    ]
    args = [a for a in args if a != "--run.wandb=disabled"] + [
        "--run.wandb=offline",
        "--trainer.max_steps=3",
        "--trainer.log_every_n_steps=1",
        "--trainer.val_check_interval=3",
        "--data.init_args.val_titles=2",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "tvssl.cli", *args], check=True, env=env, cwd=tmp_path)
    run_dirs = sorted((tmp_path / "movie_k16_Mn").iterdir())
    assert [d.name for d in run_dirs] == ["version_0", "version_1"]
    for run_dir in run_dirs:
        with (run_dir / "metrics.csv").open() as f:
            records = list(csv.DictReader(f))
        losses = [float(r["train/loss"]) for r in records if r.get("train/loss")]
        assert len(losses) == 3
        # The validation at step 3 splits what the encoders tell apart on the 2 held-out titles' clips.
        (val,) = [r for r in records if r.get("val/clips")]
        clips = int(float(val["val/clips"]))
        assert clips == 2 * 8  # val_titles x val_clips_per_title (its default)
        for name in ("title_found_v2a", "title_found_a2v", "clip_in_title_v2a", "clip_in_title_a2v"):
            assert float(val[f"val/{name}"]) * clips in set(range(clips + 1))  # a share of those clips
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["init_args"]["k"] == 16
        assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_resume_sees_exactly_the_batches_of_an_uninterrupted_run(movie_corpus: Path, tmp_path: Path) -> None:
    """3 epochs of 3 steps, 2 workers prefetching; stop after step 5, resume from the step-4 checkpoint."""
    base = [
        "fit",
        "--config",
        str(EXPERIMENTS / "movie_k4_w4.yaml"),
        *tiny_overrides(movie_corpus, tmp_path / "runs", 8),
        "--data.init_args.num_workers=2",
        "--data.init_args.clips_per_epoch=24",
        "--trainer.max_epochs=3",
        "--trainer.limit_val_batches=0",
        "--trainer.callbacks.every_n_train_steps=2",
        "--trainer.callbacks.save_top_k=-1",
    ]

    def run(name: str, *extra: str) -> Path:
        out = tmp_path / name
        record = ["--trainer.callbacks+=tests.recording.RecordBatches", f"--trainer.callbacks.out={out}"]
        main([*base, f"--run.name={name}", *record, *extra])
        return out

    full = read_records(run("full"))
    assert len(full) == 9 and [r["epoch"] for r in full] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert full[0]["titles"] != full[3]["titles"] or full[0]["slots"] != full[3]["slots"]
    cut = read_records(run("cut", "--trainer.max_steps=5"))
    assert cut == full[:5]
    checkpoint = tmp_path / "runs" / "cut" / "version_0" / "checkpoints" / "epoch=1-step=4.ckpt"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["MovieDataModule"]["sampler"]
    assert (saved["epoch"], saved["next_batch"]) == (1, 1)
    resumed = read_records(run("resumed", f"--ckpt_path={checkpoint}"))
    assert resumed == full[4:]


def test_expanded_arguments_expand_to_themselves(tmp_path: Path) -> None:
    """Lightning's DDP launcher re-runs the command line it was given: expanding twice changes nothing."""
    args = expand_config_args(["fit", "--config", str(EXPERIMENTS / "movie_k16_Mn.yaml")])
    assert expand_config_args(args) == args


def test_run_directories_are_new_per_run_and_shared_by_the_ranks_of_a_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tvssl.cli import allocate_run_dir

    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    first = allocate_run_dir(tmp_path, "row")
    assert first == tmp_path / "row" / "version_0" and os.environ[RUN_DIR_ENV] == str(first)
    assert allocate_run_dir(tmp_path, "row") == first  # a re-executed DDP rank inherits rank 0's choice
    monkeypatch.delenv(RUN_DIR_ENV)
    assert allocate_run_dir(tmp_path, "row") == tmp_path / "row" / "version_1"
    monkeypatch.delenv(RUN_DIR_ENV)
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    assert allocate_run_dir(tmp_path, "row") == tmp_path / "row" / "slurm-123_4-r0"
    monkeypatch.delenv(RUN_DIR_ENV)
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "k16mn-1")
    assert allocate_run_dir(tmp_path, "row") == tmp_path / "row" / "torchrun-k16mn-1"


def test_a_failed_run_removes_its_directory_only_when_it_holds_nothing_of_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tvssl.run_dirs import claim_run_dir, discard_if_unused

    monkeypatch.setenv(RUN_DIR_ENV, "")  # claim_run_dir sets it; restored after the test
    for var in ("SLURM_JOB_ID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    runs = tmp_path / "runs"

    def claim() -> tuple[Path, Path | None]:
        monkeypatch.setenv(RUN_DIR_ENV, "")
        return claim_run_dir(runs, "row")

    run_dir, made = claim()
    assert made == runs
    (run_dir / "checkpoints").mkdir()
    (run_dir / "config.yaml").write_text("trainer: {}\n")
    (run_dir / "metrics.csv").write_text("epoch,step,train/loss\n")
    (run_dir / "wandb" / "offline-run-1" / "files").mkdir(parents=True)
    (run_dir / "wandb" / "offline-run-1" / "run-1.wandb").write_bytes(b"\0")
    assert discard_if_unused(run_dir, made) and not runs.exists()

    kept = {
        "checkpoints/last.ckpt": b"weights",
        "metrics.csv": b"epoch,step,train/loss\n0,0,4.1\n",
        "notes.txt": b"mine",
        "metrics.json": b"{}",
    }
    for rel, data in kept.items():
        run_dir, made = claim()
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / rel).write_bytes(data)
        assert not discard_if_unused(run_dir, made), rel
        assert (run_dir / rel).read_bytes() == data
    run_dir, made = claim()
    assert made == run_dir, "runs/row existed: only the version folder is this run's"
    assert discard_if_unused(run_dir, made) and sorted(p.name for p in (runs / "row").iterdir()) == [
        "version_0",
        "version_1",
        "version_2",
        "version_3",
    ]


@pytest.mark.parametrize("argv", [[], ["-h"], ["--help"]], ids=["no arguments", "-h", "--help"])
def test_help_lists_every_verb_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from tvssl.cli import VERBS

    assert main(argv) == 0
    out = capsys.readouterr().out
    expected = (
        "fit",
        "validate",
        "test",
        "index",
        "synth",
        "prepare",
        "report",
        "probe",
        "precise-bn",
        "bench",
        "ablation",
    )
    assert tuple(VERBS) == expected
    for name, verb in VERBS.items():
        (line,) = [line for line in out.splitlines() if line.split()[:1] == [name]]
        assert line.split(None, 1) == [name, verb.summary]
        assert importlib.util.find_spec(verb.module) is not None, verb.module


def test_fit_help_is_lightning_clis(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "--trainer.max_epochs" in out and "--run.name" in out
