"""tvssl bench step and the GPU check's CPU-visible parts: shapes from the config, positive figures, the arithmetic.

Timings are never asserted (they depend on the machine): the tests prove the bench builds what ``tvssl fit``
builds, times a real step on batches of the configured shapes, and turns its clips/s into worker counts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tvssl import gpu_check
from tvssl.bench.step import run_step_bench, step_setup, worker_lines, workers_needed
from tvssl.commands import bench

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "movie_k16_Mn.yaml"
# tests/overrides.py's tiny_overrides without a corpus root: the step bench reads no media.
TINY = [
    "--data.init_args.batch_size=8",
    "--data.init_args.k=4",
    "--data.init_args.slot_seconds=0.5",
    "--data.init_args.num_frames=4",
    "--data.init_args.short_side=32",
    "--model.init_args.video_arch=tiny",
    "--model.init_args.audio_arch=tiny",
    "--model.init_args.head_hidden_dim=32",
    "--model.init_args.crop_size=28",
    "--model.init_args.n_mels=32",
    "--trainer.devices=1",
]


def test_step_bench_times_the_configured_model_on_cpu() -> None:
    lines: list[str] = []
    result = run_step_bench(
        CONFIG, TINY, device="cpu", steps=2, warmup=1, rates={"loader": 2.0}, say=lines.append
    )
    shapes = result.shapes
    assert (shapes.batch, shapes.devices, shapes.k) == (8, 1, 4)
    assert shapes.video == (8, 4, 32, 56, 3)  # 32 * 16 / 9 = 56.9, rounded to an even 56
    assert shapes.audio_samples == 8000  # 0.5 s at 16 kHz
    assert len(result.seconds) == 2 and all(s > 0 for s in result.seconds)
    assert result.clips_per_s > 0 and result.peak_bytes > 0
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert result.precision == "32-true"
    assert any(line.startswith("step: ") and "clips/s per device" in line for line in lines)
    assert any(line.startswith("needs ~") for line in lines)


def test_the_global_batch_is_split_over_the_configured_devices() -> None:
    model, shapes, _ = step_setup(["--config", str(CONFIG), *TINY, "--trainer.devices=2"], "cpu")
    assert (shapes.batch, shapes.devices) == (4, 2)
    assert type(model).__name__ == "ContrastiveAVModule" and model.hparams.video_arch == "tiny"


def test_workers_are_the_step_rate_over_one_workers_rate_rounded_up() -> None:
    assert workers_needed(1000, 10) == 100
    assert workers_needed(1001, 10) == 101
    assert workers_needed(3, 10) == 1
    with pytest.raises(ValueError):
        workers_needed(1000, 0)
    lines = worker_lines(1000, {"source": 10, "prepared": 250})
    assert lines[0].startswith(
        "needs ~100 workers per device reading the source corpus at 10 clips/s per worker"
    )
    assert lines[1].startswith(
        "needs ~4 workers per device reading the prepared corpus at 250 clips/s per worker"
    )


def test_bench_step_command_prints_the_step_and_one_line_per_rate(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench.main(
        ["step", "--config", str(CONFIG), *TINY, "--steps", "1", "--warmup", "0"]
        + ["--loader-clips-per-s", "0.5", "--prepared-clips-per-s", "1000000"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^step: [0-9.]+ clips/s per device .*peak memory [0-9.]+ GiB", out, re.M), out
    assert re.search(r"^needs ~\d+ workers per device with the configured loader at 0.5 clips/s", out, re.M)
    assert re.search(r"^needs ~1 workers per device reading the prepared corpus at 1e\+06", out, re.M)
    assert "reading the source corpus" not in out


def test_bench_step_refuses_cuda_where_there_is_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main(["step", "--config", str(CONFIG), "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_gpu_check_without_cuda_says_so_runs_the_cpu_variant_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    def step(p: gpu_check.Profile) -> str:
        seen.append(p.device)
        return "PASS step bench: 1 clips/s/CPU process, 0.1 GiB peak"

    def fit(p: gpu_check.Profile, work: Path) -> list[str]:
        assert work.is_dir() and not str(work).startswith(str(CONFIG.parents[1]))
        assert "--trainer.precision=32-true" in p.fit_overrides
        return ["PASS fit: stub", "PASS resume: stub"]

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(gpu_check, "check_step", step)
    monkeypatch.setattr(gpu_check, "check_fit_and_resume", fit)
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert "CUDA is absent" in out and seen == ["cpu"]
    assert out.rstrip().splitlines()[-3:] == [
        "PASS step bench: 1 clips/s/CPU process, 0.1 GiB peak",
        "PASS fit: stub",
        "PASS resume: stub",
    ]

    def broken(p: gpu_check.Profile) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(gpu_check, "check_step", broken)
    assert gpu_check.main([]) == 1
    assert "FAIL step bench: RuntimeError: boom" in capsys.readouterr().out


def test_the_cuda_profile_is_the_paper_row_with_bf16_ddp_on_every_gpu() -> None:
    p = gpu_check.profile(cuda=True)
    assert p.step_overrides == ()  # the paper's shapes: R(2+1)D-18, global batch 512
    for option in ("--trainer.devices=-1", "--trainer.strategy=ddp", "--trainer.precision=bf16-mixed"):
        assert option in p.fit_overrides
    assert p.every <= p.resume_at < p.steps_per_epoch * p.epochs and p.resume_at % p.every == 0
