"""User mistakes end every command with one line `tvssl: <message>` and exit code 2; bugs keep their traceback.

The fit cases are the contradictions users met (w < k, a batch that k does not divide, more groups than titles,
no root, a root without a usable title, a missing checkpoint, a malformed ESC-50 csv): each must be refused
before training, in one line, and leave no run directory behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import data_modules.longform as longform
from data_modules.media import MediaError
from tests.media_fixtures import write_media
from tests.overrides import tiny_overrides
from tvssl.cli import RUN_DIR_ENV, main

DEBUG_ENV = "TVSSL_DEBUG"

REPO = Path(__file__).resolve().parents[1]
ROW = str(REPO / "experiments" / "movie_k4_w4.yaml")
ESC50 = str(REPO / "experiments" / "finetune" / "esc50.yaml")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (RUN_DIR_ENV, DEBUG_ENV, "MOVIE_ROOT", "ESC50_ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 8-second titles: 16 slots of 0.5 s each, three of them for training."""
    root = tmp_path_factory.mktemp("titles")
    for i in range(4):
        write_media(root / f"movie_{i}.mp4", seconds=8, width=64, height=48)
    return root


def _fit(root: Path | None, runs: Path, *extra: str, config: str = ROW) -> list[str]:
    args = [a for a in tiny_overrides(root or runs, runs, 8) if root is not None or "init_args.root" not in a]
    return ["fit", "--config", config, *args, *extra]


def _refusal(capsys: pytest.CaptureFixture[str]) -> str:
    """The one `tvssl:` line of stderr (Lightning's own info lines aside)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("tvssl: ")]
    assert len(lines) == 1, err
    return lines[0]


CONTRADICTIONS = {
    "w < k": (["--data.init_args.w=2"], "w=2 < k=4"),
    "batch not a multiple of k": (["--data.init_args.batch_size=10"], "not a multiple of k=4"),
    "more groups than titles": (["--data.init_args.batch_size=32"], "distinct titles"),
    "missing checkpoint": (["--ckpt_path=nowhere/last.ckpt"], "--ckpt_path nowhere/last.ckpt does not exist"),
}


@pytest.mark.parametrize("case", sorted(CONTRADICTIONS))
def test_config_contradictions_are_one_line_exit_2_and_leave_no_run_directory(
    case: str, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, expected = CONTRADICTIONS[case]
    runs = tmp_path / "runs"
    assert main(_fit(corpus, runs, *extra)) == 2
    line = _refusal(capsys)
    assert expected in line, line
    assert not runs.exists(), sorted(runs.rglob("*"))


def test_a_run_directory_that_existed_keeps_its_earlier_runs(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    earlier = runs / "movie_k4_w4" / "version_0"
    earlier.mkdir(parents=True)
    (earlier / "notes.txt").write_text("mine")
    assert main(_fit(corpus, runs, "--data.init_args.w=2")) == 2
    assert "w=2 < k=4" in _refusal(capsys)
    assert sorted(p.relative_to(runs).as_posix() for p in runs.rglob("*")) == [
        "movie_k4_w4",
        "movie_k4_w4/version_0",
        "movie_k4_w4/version_0/notes.txt",
    ]


def test_no_root_and_a_root_without_usable_titles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(_fit(None, runs)) == 2
    assert "MOVIE_ROOT" in _refusal(capsys) and not runs.exists()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.mp4").write_text("not a video")
    assert main(_fit(junk, runs)) == 2
    line = _refusal(capsys)
    assert "lists no usable title" in line and not runs.exists()


def test_a_malformed_esc50_csv_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "esc50"
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text("filename,fold,target\nx.wav,1,0\n")
    runs = tmp_path / "runs"
    args = ["fit", "--config", ESC50, f"--data.init_args.root={root}", "--data.init_args.num_workers=0"]
    args += ["--trainer.accelerator=cpu", f"--run.dir={runs}", "--run.wandb=disabled"]
    assert main(args) == 2
    line = _refusal(capsys)
    assert line.startswith("tvssl: ESC-50 under") and "header must be filename,fold,target,category" in line
    assert not runs.exists()


def test_debug_shows_the_traceback_and_still_exits_2(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _fit(corpus, tmp_path / "runs", "--data.init_args.w=2")
    assert main([*args[:3], "--debug", *args[3:]]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "_check_window" in err
    assert err.rstrip().splitlines()[-1].startswith("tvssl: MovieDataModule")
    assert DEBUG_ENV not in os.environ, "--debug is this command's, not the test process's"
    monkeypatch.setenv(DEBUG_ENV, "1")
    assert main(args) == 2
    assert "Traceback" in capsys.readouterr().err


def test_the_console_command_prints_one_line_and_exits_2(corpus: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (RUN_DIR_ENV, DEBUG_ENV, "MOVIE_ROOT")}
    command = [sys.executable, "-m", "tvssl.cli", *_fit(corpus, tmp_path / "runs", "--data.init_args.w=2")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    tvssl_lines = [line for line in result.stderr.splitlines() if line.startswith("tvssl:")]
    assert len(tvssl_lines) == 1 and "w=2 < k=4" in tvssl_lines[0], result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_bug_in_the_model_keeps_its_traceback(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tvssl.contrastive import ContrastiveAVModule

    def broken(self, batch, batch_idx):
        return torch.zeros(2) + "x"  # TypeError: a bug, not a user mistake

    monkeypatch.setattr(ContrastiveAVModule, "training_step", broken)
    with pytest.raises(TypeError):
        main(_fit(corpus, tmp_path / "runs", "--trainer.max_steps=1"))
    assert "tvssl: " not in capsys.readouterr().err.replace("tvssl: run directory", "")


def test_a_value_error_that_no_check_raised_keeps_its_traceback(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        return int("not a number")  # a ValueError from the library, during setup

    monkeypatch.setattr(longform, "usable_slots", broken)
    with pytest.raises(ValueError, match="invalid literal"):
        main(_fit(corpus, tmp_path / "runs"))


def test_only_deliberate_checks_become_user_errors() -> None:
    from data_modules.index import build_index, read_manifest
    from tvssl.errors import UserError, config_checks

    with pytest.raises(UserError, match="slot_seconds must be a number of seconds"), config_checks():
        build_index(".", "m.csv", slot_seconds="two")
    with pytest.raises(ValueError) as info, config_checks():
        Path("x").with_suffix("no dot")  # raised inside pathlib, not by a check of ours
    assert not isinstance(info.value, UserError)
    with pytest.raises(FileNotFoundError) as missing, config_checks():
        read_manifest("/nonexistent/manifest.csv")  # open() failed in our code, but no check said so
    assert not isinstance(missing.value, UserError)
    with pytest.raises(TypeError), config_checks():
        build_index(".", "m.csv", workers="2")


def test_a_wrapped_check_is_reported_with_its_own_message() -> None:
    """jsonargparse wraps a datamodule's ValueError in its own; the datamodule's message is the one to show."""
    from data_modules.esc50 import ESC50DataModule
    from tvssl.errors import UserError, config_checks

    def instantiate() -> None:
        try:
            ESC50DataModule(root=".", fold=7)
        except ValueError as exc:
            raise ValueError("Does not validate against any of the Union subtypes\nSubtypes: [...]") from exc

    with (
        pytest.raises(UserError, match=r"^ESC50DataModule: fold must be 1, 2, 3, 4 or 5, got 7$"),
        config_checks(),
    ):
        instantiate()


class _BadMedia(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        raise MediaError("/data/title.mkv", "not media", "Invalid data found\nwhen processing input")


def test_a_media_error_in_a_dataloader_worker_is_still_one_line() -> None:
    from tvssl.errors import user_message

    loader = DataLoader(_BadMedia(), batch_size=1, num_workers=1, multiprocessing_context="fork")
    with pytest.raises(Exception) as info:
        next(iter(loader))
    assert "DataLoader worker" in str(info.value)  # torch re-raises it as text of several lines
    assert (
        user_message(info.value) == "/data/title.mkv: not media (Invalid data found; when processing input)"
    )


def test_a_value_error_in_a_dataloader_worker_is_not_a_user_error() -> None:
    from tvssl.errors import user_message

    class Broken(_BadMedia):
        def __getitem__(self, index: int) -> torch.Tensor:
            raise ValueError("shapes do not match")

    with pytest.raises(ValueError) as info:
        next(iter(DataLoader(Broken(), batch_size=1, num_workers=1, multiprocessing_context="fork")))
    assert user_message(info.value) is None


def test_verbs_share_the_convention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ablation", "pretrain", "movie_k3"]) == 2
    assert _refusal(capsys).startswith("tvssl: unknown row 'movie_k3'; rows: movie_k1")
    assert main(["index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.csv")]) == 2
    assert _refusal(capsys) == f"tvssl: corpus root {tmp_path / 'nowhere'} does not exist"
    assert main(["synth", str(tmp_path / "s"), "--workers", "0"]) == 2
    assert _refusal(capsys) == "tvssl: --workers must be >= 1, got 0"


def test_an_unknown_verb_is_one_line_naming_the_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate", "--x"]) == 2
    line = _refusal(capsys)
    assert line.startswith("tvssl: unknown verb 'frobnicate'; verbs: fit, validate, test, index"), line


def test_the_stacks_signal_prints_every_threads_stack_and_the_process_goes_on() -> None:
    """What lets a hung DDP rank or loader worker be read: the signal dumps, it does not kill."""
    script = (
        "import os, sys, time; from data_modules.stack_dumps import STACKS_SIGNAL, dump_stacks_on_signal\n"
        "def waiting_here():\n"
        "    os.kill(os.getpid(), STACKS_SIGNAL); time.sleep(0.2); print('still running')\n"
        "dump_stacks_on_signal(); waiting_here()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "still running\n"
    assert "Current thread" in done.stderr and "waiting_here" in done.stderr
