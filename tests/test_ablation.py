"""`make ablation`: the graph skips finished steps, names missing data, and merges resumed loss logs."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tvssl.commands.ablation import main, merge_loss_logs

REPO = Path(__file__).resolve().parents[1]


def make_dry_run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    command = ["make", "-n", "--no-print-directory", "ablation", f"RESULTS={tmp_path}/results", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env or dict(os.environ))


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("done")


def test_the_graph_runs_only_what_is_not_finished(tmp_path: Path) -> None:
    smoke = tmp_path / "smoke"
    for part in ("movie", "downstream"):
        touch(smoke / part / ".tvssl-synth.json")
    args = ("PROFILE=smoke", "ROWS=movie_k1 movie_k16_Mn", f"SMOKE_DATA={smoke}", "SPLITS=1 2")
    planned = make_dry_run(tmp_path, *args).stdout.splitlines()
    steps = [
        line.split("ablation ", 1)[1].split(" --profile")[0] for line in planned if "tvssl ablation" in line
    ]
    assert steps.count("pretrain movie_k1") == 1 and steps.count("pretrain movie_k16_Mn") == 1
    assert len(steps) == 2 * (1 + 2 + 2 + 3)
    assert "finetune movie_k1 esc50 --fold 1 --seed 2" in steps
    assert planned[-1].endswith(f"report {tmp_path}/results --out {tmp_path}/results/report")

    results = tmp_path / "results" / "movie_k1"
    touch(results / "pretrain" / "last.ckpt")
    time.sleep(0.01)
    for name in ("ucf101_split1", "ucf101_split2", "hmdb51_split1", "esc50_fold1_seed0"):
        touch(results / name / "metrics.json")
    planned = make_dry_run(tmp_path, *args).stdout
    assert "pretrain movie_k1 " not in planned
    assert "finetune movie_k1 ucf101 --split 2" not in planned
    assert "finetune movie_k1 hmdb51 --split 2" in planned
    assert "finetune movie_k1 esc50 --fold 1 --seed 1" in planned
    assert "pretrain movie_k16_Mn" in planned


def test_paper_profile_names_the_missing_dataset_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_ROOT")}
    env.update(MOVIE_ROOT=str(tmp_path), UCF101_ROOT=str(tmp_path))
    result = make_dry_run(tmp_path, "ROWS=movie_k1", env=env)
    assert result.returncode != 0 and "HMDB51_ROOT" in result.stderr
    monkeypatch.delenv("TV_ROOT", raising=False)
    assert (
        main(["pretrain", "tv_k1", "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")])
        == 2
    )
    assert "TV_ROOT" in capsys.readouterr().err


def test_unknown_rows_are_refused_with_the_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pretrain", "movie_k3"]) == 2
    assert re.search("unknown row 'movie_k3'.*movie_k16_Mn", capsys.readouterr().err)


def write_log(path: Path, rows: list[dict[str, str]]) -> None:
    path.mkdir(parents=True)
    with (path / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", "step", "train/loss", "val/recall@1_v2a"])
        writer.writeheader()
        writer.writerows(rows)


def test_resumed_attempts_merge_into_one_loss_curve(tmp_path: Path) -> None:
    first = [{"epoch": "0", "step": str(s), "train/loss": str(5 - s * 0.1)} for s in range(6)]
    second = [{"epoch": "0", "step": str(s), "train/loss": str(4 - s * 0.1)} for s in range(4, 9)]
    second.append({"epoch": "0", "step": "8", "val/recall@1_v2a": "0.5"})
    write_log(tmp_path / "version_0", first)
    write_log(tmp_path / "version_1", second)
    out = tmp_path / "merged" / "metrics.csv"
    assert merge_loss_logs([tmp_path / "version_0", tmp_path / "version_1"], out) == 4 + 6
    with out.open() as f:
        merged = list(csv.DictReader(f))
    assert [r["step"] for r in merged] == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "8"]
    assert merged[4]["train/loss"] == "3.6" and merged[-1]["val/recall@1_v2a"] == "0.5"
