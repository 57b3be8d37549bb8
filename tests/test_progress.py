"""A sweep step's console line: the child's progress reports become one bar, whatever the child prints."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tvssl.progress import PROGRESS_ENV, Reporter, bar, parallel_make, read_progress, status_line
from tvssl.step_process import run_step


def test_the_bar_fills_in_proportion_and_never_overflows() -> None:
    assert bar(0, 10, width=10) == "[" + "." * 10 + "]"
    assert bar(5, 10, width=10) == "[" + "#" * 5 + "." * 5 + "]"
    assert bar(10, 10, width=10) == "[" + "#" * 10 + "]"
    assert bar(12, 10, width=10) == "[" + "#" * 10 + "]"
    assert bar(3, 0, width=4) == "[....]"


def test_reports_are_throttled_but_the_last_always_lands(tmp_path: Path) -> None:
    path = tmp_path / "p"
    report = Reporter("steps", str(path))
    report(1, 100)
    report(2, 100)
    assert read_progress(path) == (1, 100, "steps")
    report(100, 100)
    assert read_progress(path) == (100, 100, "steps")
    assert status_line("pretrain x", (50, 100, "steps"), 3.2).endswith("50/100 steps 3 s")
    Reporter("steps", None)(1, 2)
    assert read_progress(tmp_path / "absent") is None


def test_parallel_make_is_told_by_its_jobserver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAKEFLAGS", " -j2 --jobserver-auth=fifo:/tmp/x")
    assert parallel_make()
    monkeypatch.setenv("MAKEFLAGS", "")
    assert not parallel_make()


def test_a_step_prints_one_line_with_the_bar_its_child_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    child = tmp_path / "child.py"
    child.write_text(
        textwrap.dedent(
            f"""
            import os
            from tvssl.progress import Reporter
            report = Reporter("steps")
            assert os.environ["{PROGRESS_ENV}"]
            for i in range(1, 4):
                print("noise that belongs in the log", i)
                report(i, 3)
            """
        )
    )
    log = tmp_path / "run" / "console.log"
    assert run_step("pretrain demo_row", [sys.executable, str(child)], log) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "tvssl ablation: pretrain demo_row ..."
    assert (
        len(out) == 2 and "[" + "#" * 24 + "] 3/3 steps" in out[1] and out[1].endswith(f"done (log: {log})")
    )
    assert "noise that belongs in the log 3" in log.read_text()
    assert list(log.parent.glob(".*progress")) == []


def test_a_failed_step_shows_the_tail_of_its_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "console.log"
    code = run_step(
        "probe x ucf101", [sys.executable, "-c", "print('why it broke'); raise SystemExit(3)"], log
    )
    captured = capsys.readouterr()
    assert code == 3 and captured.out.splitlines()[-1].endswith("failed")
    assert "why it broke" in captured.err


def test_steps_under_parallel_make_take_one_thread_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    show = [sys.executable, "-c", "import os; print('threads=' + os.environ.get('OMP_NUM_THREADS', 'unset'))"]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MAKEFLAGS", " -j2 --jobserver-auth=fifo:/tmp/x")
    run_step("a", show, tmp_path / "a.log")
    assert "threads=1" in (tmp_path / "a.log").read_text()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    run_step("b", show, tmp_path / "b.log")
    assert "threads=3" in (tmp_path / "b.log").read_text()
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("MAKEFLAGS", "")
    run_step("c", show, tmp_path / "c.log")
    assert "threads=unset" in (tmp_path / "c.log").read_text()


def test_steps_keep_freed_memory_in_the_heap_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    show = [
        sys.executable,
        "-c",
        "import os; print('mmap=' + os.environ.get('MALLOC_MMAP_THRESHOLD_', 'unset'))",
    ]
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    run_step("a", show, tmp_path / "a.log")
    assert f"mmap={32 << 20}" in (tmp_path / "a.log").read_text()
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    run_step("b", show, tmp_path / "b.log")
    assert "mmap=65536" in (tmp_path / "b.log").read_text()
    monkeypatch.setenv("VERBOSE", "1")
    code = run_step(
        "c",
        [sys.executable, "-c", "import os, sys; sys.exit(os.environ['MALLOC_TOP_PAD_'] != '268435456')"],
        tmp_path / "c.log",
    )
    assert code == 0


def test_a_fit_reports_its_steps_against_the_total_it_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from tvssl.lightning_cli import TrainingProgress

    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path / "p"))
    callback = TrainingProgress()
    trainer = SimpleNamespace(estimated_stepping_batches=300, is_global_zero=True, global_step=300)
    callback.on_train_start(trainer)
    callback.on_train_batch_end(trainer)
    assert read_progress(tmp_path / "p") == (300, 300, "steps")
    unbounded = TrainingProgress()
    unbounded.report = Reporter("steps", str(tmp_path / "q"))
    trainer.estimated_stepping_batches = float("inf")
    unbounded.on_train_start(trainer)
    unbounded.on_train_batch_end(trainer)
    assert read_progress(tmp_path / "q") is None
