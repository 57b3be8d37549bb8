"""The report's held-out section reads each row's last validation split of what its encoders tell apart."""

from __future__ import annotations

from pathlib import Path

from tvssl.pretrain_results import publish_twin
from tvssl.report import write_report

COLUMNS = (
    "epoch,step,train/loss,val/clips,val/title_found_v2a,val/title_found_a2v,val/clip_in_title_v2a,"
    "val/clip_in_title_a2v"
)


def _log(path: Path, validations: list[tuple[float, float, float, float]]) -> None:
    """A CSVLogger file: loss rows, then one validation row per entry of ``validations`` (64 clips each)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [COLUMNS, "0,0,4.0,,,,,", "0,1,3.5,,,,,"]
    lines += [f"0,{2 + i},,64.0,{a},{b},{c},{d}" for i, (a, b, c, d) in enumerate(validations)]
    path.write_text("\n".join(lines) + "\n")


def test_held_out_section_shows_each_rows_last_validation(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _log(
        results / "movie_k1" / "pretrain" / "metrics.csv",
        [(0.5, 0.5, 0.5, 0.5), (0.96875, 0.9375, 0.25, 0.3125)],
    )
    _log(results / "movie_k16_Mn" / "pretrain" / "metrics.csv", [(0.78125, 0.8125, 0.5, 0.546875)])
    older = results / "movie_k4_Mn" / "pretrain" / "metrics.csv"  # logged before the split existed
    older.parent.mkdir(parents=True)
    older.write_text("epoch,step,train/loss,val/recall@1_v2a\n0,0,4.0,\n0,1,,0.25\n")
    report = write_report(results, tmp_path / "report")
    section = report.markdown.split("## What the encoders tell apart")[1]
    lines = [line for line in section.splitlines() if line.startswith("| movie")]
    assert lines == [
        "| movie_k1 | 1 | – | 96.9 / 93.8 | 25.0 / 31.2 | 64 |",
        "| movie_k16_Mn | 16 | Mn | 78.1 / 81.2 | 50.0 / 54.7 | 64 |",
    ]
    assert "held-out" in report.console


def test_a_row_that_shares_a_training_is_labelled_in_the_held_out_section(tmp_path: Path) -> None:
    results = tmp_path / "results"
    mn = results / "movie_k16_Mn" / "pretrain"
    _log(mn / "metrics.csv", [(0.78125, 0.8125, 0.5, 0.546875)])
    (mn / "last.ckpt").write_bytes(b"weights")
    publish_twin(results / "movie_k16_w1024" / "pretrain", "movie_k16_Mn", mn, "within w = 1024")
    section = write_report(results, tmp_path / "report").markdown.split("## What the encoders tell apart")[1]
    lines = [line for line in section.splitlines() if line.startswith("| movie")]
    assert lines == [
        "| movie_k16_Mn | 16 | Mn | 78.1 / 81.2 | 50.0 / 54.7 | 64 |",
        "| movie_k16_w1024 *(= movie_k16_Mn: the same batches, trained once)* | 16 | 1024 | 78.1 / 81.2 | "
        "50.0 / 54.7 | 64 |",
    ]


def test_no_held_out_section_without_the_split(tmp_path: Path) -> None:
    results = tmp_path / "results"
    log = results / "movie_k1" / "pretrain" / "metrics.csv"
    log.parent.mkdir(parents=True)
    log.write_text("epoch,step,train/loss\n0,0,4.0\n0,1,3.0\n")
    assert "tell apart" not in write_report(results, tmp_path / "report").markdown
