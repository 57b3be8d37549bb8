"""`tvssl ablation synth`: the smoke data written by `tvssl synth` itself, shown as one console line with a bar."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tvssl.commands import synth
from tvssl.commands.ablation import main
from tvssl.synthesis import SynthRequest, progress_units

TINY_TV = [
    "--kind",
    "tv",
    "--titles",
    "2",
    "--episodes",
    "2",
    "--minutes",
    "0.05",
    "--width",
    "64",
    "--height",
    "48",
]


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_the_step_writes_what_tvssl_synth_writes_and_shows_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    smoke = tmp_path / "smoke"
    assert main(["synth", "tv", "--profile", "smoke", "--smoke-data", str(smoke), "--", *TINY_TV]) == 0
    console = capfd.readouterr()
    lines = console.out.splitlines()
    assert lines[0] == "tvssl ablation: synth tv ..."
    assert len(lines) == 2 and "synth tv [" + "#" * 24 + "] 4/4 titles" in lines[1] and " done " in lines[1]
    assert "next:" not in console.out + console.err  # what synth tells a user by hand goes to the step's log
    log = (smoke / "synth_tv.console.log").read_text()
    assert "tvssl synth: wrote 4 tv files" in log and "next: tvssl index" in log

    assert synth.main([str(tmp_path / "by_hand"), *TINY_TV]) == 0
    made = _digests(smoke / "tv")
    assert len(made) == 4 and made == _digests(tmp_path / "by_hand")


def test_a_bar_counts_titles_or_downstream_sets() -> None:
    assert progress_units(SynthRequest(Path("x"), kind="tv", titles=3, episodes=2)) == (6, "titles")
    assert progress_units(SynthRequest(Path("x"), kind="movie", titles=68)) == (68, "titles")
    assert progress_units(SynthRequest(Path("x"), kind="downstream")) == (3, "sets")
    assert progress_units(SynthRequest(Path("x"), kind="esc50")) == (1, "sets")


def test_the_step_is_for_the_smoke_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "movie", "--smoke-data", str(tmp_path), "--", "--kind", "movie"]) == 2
    assert "PROFILE=paper reads your datasets" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
