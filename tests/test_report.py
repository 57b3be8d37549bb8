"""The report rebuilds Table 1 exactly from a results tree and never turns a missing run into a number."""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from tvssl.commands.report import main
from tvssl.report import CSV_COLUMNS, ema, read_loss_curve, write_report
from tvssl.rows import ROWS, Row, load_reference

SHARED_TABLE = Path(__file__).resolve().parents[2] / "shared" / "paper" / "table1.csv"
PACKAGE_TABLE = Path(__file__).resolve().parents[1] / "tvssl" / "reference" / "table1.csv"

# Paper numbers of the rows used below, copied by hand from the paper's Table 1.
PAPER_MOVIE_K1 = {"hmdb51": 60.32, "esc50_mean": 86.50, "esc50_stderr": 0.46, "ucf101": 85.69}
PAPER_MOVIE_K16_MN = {"hmdb51": 62.92, "esc50_mean": 88.33, "esc50_stderr": 0.36, "ucf101": 86.30}

LOSS_ROWS = [  # (step, loss) actually logged; Lightning interleaves rows of other metrics with empty loss cells
    (0, 6.5),
    (50, 6.0),
    (100, 5.25),
    (150, 5.0),
]


def write_lightning_csv(path: Path, points: list[tuple[int, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,lr-Adam,step,train/loss,train/skipped_clips"]
    for step, loss in points:
        lines.append(f"0,,{step},{loss},")
        lines.append(f"0,0.0001,{step},,0")
    lines.append("1,,200,,")
    path.write_text("\n".join(lines) + "\n")


def write_metrics(run_dir: Path, dataset: str, top1: float, split=None, fold=None, seed=0) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "dataset": dataset,
        "split": split,
        "fold": fold,
        "seed": seed,
        "clip_top1": top1 - 3.0,
        "video_top1": top1,
        "pretrained": "runs/x/last.ckpt",
    }
    (run_dir / "metrics.json").write_text(json.dumps(data))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    k1 = root / "movie_k1"
    write_lightning_csv(k1 / "pretrain" / "metrics.csv", LOSS_ROWS)
    write_metrics(k1 / "ucf101_split1", "ucf101", 70.25, split=1)
    write_metrics(k1 / "hmdb51_split1", "hmdb51", 40.0, split=1)
    write_metrics(k1 / "hmdb51_split2", "hmdb51", 43.0, split=2)
    for seed, top1 in enumerate((85.0, 86.0, 88.0)):
        write_metrics(k1 / f"esc50_fold1_seed{seed}", "esc50", top1, fold=1, seed=seed)
    k16 = root / "movie_k16_Mn"
    write_lightning_csv(k16 / "pretrain" / "metrics.csv", [(0, 7.0), (50, 6.75)])
    write_metrics(k16 / "hmdb51_split1", "hmdb51", 55.5, split=1)
    write_metrics(k16 / "esc50_fold1_seed0", "esc50", 88.4, fold=1, seed=0)
    (k16 / "ucf101_split1").mkdir()
    (k16 / "ucf101_split1" / "metrics.json").write_text("{not json")
    write_lightning_csv(root / "tv_k8_w128" / "pretrain" / "metrics.csv", [(0, 6.0), (50, 5.5)])
    (root / "movie_k2_Mn").mkdir()
    return root


def csv_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return {record["row"]: record for record in reader}


def md_line(markdown: str, section: str, k: int, w: str) -> list[str]:
    body = markdown.split(f"## Pretraining dataset: {section}")[1].split("## ")[0]
    prefix = f"| {k} | {w} |"
    (line,) = [line for line in body.splitlines() if line.startswith(prefix)]
    return [cell.strip() for cell in line.strip("|").split("|")]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_table_values_are_exact(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    report = write_report(results, out, smooth=0.9)
    table = csv_rows(out / "table1.csv")
    assert list(table) == [row.name for row in ROWS]

    esc = [85.0, 86.0, 88.0]
    esc_mean = sum(esc) / 3
    esc_stderr = math.sqrt(sum((x - esc_mean) ** 2 for x in esc) / 2) / math.sqrt(3)
    k1 = table["movie_k1"]
    assert (k1["dataset"], k1["k"], k1["w"]) == ("movie", "1", "")
    assert float(k1["hmdb51"]) == pytest.approx(41.5)
    assert k1["hmdb51_n"] == "2"
    assert float(k1["hmdb51_paper"]) == PAPER_MOVIE_K1["hmdb51"]
    assert float(k1["hmdb51_diff"]) == pytest.approx(41.5 - 60.32, abs=1e-4)
    assert float(k1["ucf101"]) == pytest.approx(70.25)
    assert k1["ucf101_n"] == "1"
    assert float(k1["ucf101_diff"]) == pytest.approx(70.25 - 85.69, abs=1e-4)
    assert float(k1["esc50_mean"]) == pytest.approx(esc_mean, abs=1e-4)
    assert float(k1["esc50_stderr"]) == pytest.approx(esc_stderr, abs=1e-4)
    assert k1["esc50_n"] == "3"
    assert float(k1["esc50_paper_mean"]) == PAPER_MOVIE_K1["esc50_mean"]
    assert float(k1["esc50_paper_stderr"]) == PAPER_MOVIE_K1["esc50_stderr"]
    assert float(k1["esc50_diff"]) == pytest.approx(esc_mean - 86.50, abs=1e-4)

    cells = md_line(report.markdown, "Movie", 1, "–")
    assert cells[2:5] == ["41.50 (2 splits)", "60.32", f"{41.5 - 60.32:+.2f}"]
    assert cells[5:8] == [
        f"{esc_mean:.2f} ± {esc_stderr:.2f} (3 seeds)",
        "86.50 ± 0.46",
        f"{esc_mean - 86.50:+.2f}",
    ]
    assert cells[8:11] == ["70.25", "85.69", f"{70.25 - 85.69:+.2f}"]
    assert (out / "table1.md").read_text() == report.markdown


def test_one_seed_has_no_error_bar_and_broken_runs_are_missing(results: Path, tmp_path: Path) -> None:
    report = write_report(results, tmp_path / "report")
    table = csv_rows(tmp_path / "report" / "table1.csv")
    k16 = table["movie_k16_Mn"]
    assert (k16["k"], k16["w"]) == ("16", "Mn")
    assert float(k16["esc50_mean"]) == pytest.approx(88.4)
    assert k16["esc50_stderr"] == ""
    assert k16["esc50_n"] == "1"
    assert float(k16["esc50_diff"]) == pytest.approx(88.4 - PAPER_MOVIE_K16_MN["esc50_mean"], abs=1e-4)
    assert k16["ucf101"] == k16["ucf101_n"] == k16["ucf101_diff"] == ""
    assert float(k16["ucf101_paper"]) == PAPER_MOVIE_K16_MN["ucf101"]

    cells = md_line(report.markdown, "Movie", 16, "Mn")
    assert cells[5] == "88.40 (1 seed)"
    assert "±" not in cells[5]
    assert cells[8:11] == ["—", "86.30", "—"]
    assert any("ucf101_split1" in w and "JSON" in w for w in report.warnings)


def test_missing_rows_are_missing_not_zero(results: Path, tmp_path: Path) -> None:
    report = write_report(results, tmp_path / "report")
    table = csv_rows(tmp_path / "report" / "table1.csv")
    for name in ("movie_k32_Mn", "tv_k1", "tv_k8_w128"):
        record = table[name]
        for column in ("hmdb51", "hmdb51_diff", "esc50_mean", "esc50_n", "esc50_diff", "ucf101", "ucf101_n"):
            assert record[column] == "", (name, column)
        assert float(record["esc50_paper_mean"]) > 0
    cells = md_line(report.markdown, "TV", 8, "128")
    assert cells == ["8", "128", "—", "60.00", "—", "—", "85.66 ± 0.27", "—", "—", "85.77", "—"]
    k32 = md_line(report.markdown, "Movie", 32, "Mn")
    assert [k32[i] for i in (2, 4, 5, 7, 8, 10)] == ["—"] * 6


def test_unknown_row_directories_are_ignored_with_a_warning(results: Path, tmp_path: Path) -> None:
    report = write_report(results, tmp_path / "report")
    assert [w for w in report.warnings if "movie_k2_Mn" in w and "ignored" in w]
    assert "movie_k2_Mn" not in (tmp_path / "report" / "table1.csv").read_text()


def test_figures_are_pngs_and_other_files_are_left_alone(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    report = write_report(results, out)
    width, height = png_size(out / "figure1.png")
    assert width >= 1200 and height >= 400
    assert (out / "figure1.png").stat().st_size > 20_000
    assert png_size(out / "figure1_tv.png")[0] >= 800
    assert set(report.written) == {
        out / n for n in ("table1.md", "table1.csv", "figure1.png", "figure1_tv.png", "probe.csv")
    }
    assert (out / "notes.txt").read_text() == "mine"

    movies_only = tmp_path / "movies_only"
    write_lightning_csv(movies_only / "movie_k1" / "pretrain" / "metrics.csv", LOSS_ROWS)
    again = write_report(movies_only, out)
    assert again.removed == [out / "figure1_tv.png"]
    assert not (out / "figure1_tv.png").exists()
    assert png_size(out / "figure1.png")[0] >= 1200
    assert (out / "notes.txt").read_text() == "mine"


def test_loss_curve_skips_empty_cells(results: Path) -> None:
    curve = read_loss_curve(results / "movie_k1" / "pretrain" / "metrics.csv")
    assert curve.steps.tolist() == [s for s, _ in LOSS_ROWS]
    assert curve.losses.tolist() == [loss for _, loss in LOSS_ROWS]


def test_loss_curve_without_loss_column_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,val/acc\n0,10,0.5\n")
    with pytest.raises(ValueError, match=r"metrics\.csv.*train/loss"):
        read_loss_curve(path)


def test_ema_is_debiased() -> None:
    values = np.array([4.0, 2.0, 6.0])
    smoothed = ema(values, 0.5)
    assert smoothed[0] == pytest.approx(4.0)
    assert smoothed[1] == pytest.approx((0.5 * 2.0 + 0.25 * 4.0) / 0.75)
    assert smoothed[2] == pytest.approx((0.5 * 6.0 + 0.25 * 2.0 + 0.125 * 4.0) / 0.875)
    assert ema(values, 0.0).tolist() == values.tolist()
    assert ema(np.full(50, 3.0), 0.9) == pytest.approx(np.full(50, 3.0))


def test_command_prints_table_and_paths(results: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main([str(results), "--out", str(out), "--smooth", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "## Pretraining dataset: Movie" in captured.out
    assert f"wrote {out / 'figure1.png'}" in captured.out
    assert "movie_k2_Mn" in captured.err


def test_command_errors_are_specific(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--out", str(tmp_path / "out"), "--smooth", "1.0"])
    assert "[0, 1)" in capsys.readouterr().err


def test_a_folder_without_results_is_refused_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    (results / "movie_k1" / "ucf101_split1").mkdir(parents=True)  # a run that never finished
    out = tmp_path / "report"
    assert main([str(results), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tvssl: no results found under {results} "), err
    assert not out.exists()


def test_rows_round_trip_and_names() -> None:
    assert len(ROWS) == 21
    assert len({row.name for row in ROWS}) == 21
    for row in ROWS:
        assert Row.parse(row.name) == row
    assert [r.name for r in ROWS if r.k == 1] == ["movie_k1", "tv_k1"]
    assert Row("movie", 16, None).name == "movie_k16_Mn"
    assert Row("movie", 16, 64).name == "movie_k16_w64"
    assert Row.parse("tv_k8_w128") == Row("tv", 8, 128)
    assert [Row("movie", 1, None).w_label, Row("tv", 8, None).w_label, Row("movie", 16, 64).w_label] == [
        "–",
        "Mn",
        "64",
    ]


@pytest.mark.parametrize(
    "name", ["movie_k04_Mn", "movie_k1_Mn", "movie_k16", "cinema_k4_Mn", "movie_k8_w4", "x"]
)
def test_bad_row_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        Row.parse(name)


def test_k1_rows_have_no_window() -> None:
    with pytest.raises(ValueError, match="unused"):
        Row("movie", 1, 64)


def test_rows_match_the_reference_table() -> None:
    with open(PACKAGE_TABLE, newline="") as handle:
        triples = [(r["dataset"], int(r["k"]), r["w"]) for r in csv.DictReader(handle)]
    ours = [(row.dataset, row.k, "" if row.k == 1 else row.w_label) for row in ROWS]
    assert ours == triples
    reference = load_reference()
    assert list(reference) == [row.name for row in ROWS]
    assert reference["movie_k1"] == PAPER_MOVIE_K1
    assert reference["movie_k16_Mn"] == PAPER_MOVIE_K16_MN


@pytest.mark.skipif(not SHARED_TABLE.is_file(), reason="the paper's table1.csv is not next to this checkout")
def test_packaged_reference_equals_the_paper_table() -> None:
    shared = list(csv.reader(io.StringIO(SHARED_TABLE.read_text())))
    packaged = list(csv.reader(io.StringIO(PACKAGE_TABLE.read_text())))
    assert packaged == shared


def test_figure1_orderings_are_read_from_the_tail_of_each_loss_curve(tmp_path: Path) -> None:
    results = tmp_path / "results"

    def curve(row: str, start: float, end: float) -> None:
        # 20 logged steps falling linearly; the last 10 % (2 steps) set the row's level
        points = [(10 * i, start + (end - start) * i / 19) for i in range(20)]
        write_lightning_csv(results / row / "pretrain" / "metrics.csv", points)

    curve("movie_k1", 5.0, 2.0)
    curve("movie_k4_Mn", 5.0, 2.5)
    curve("movie_k16_Mn", 5.0, 3.0)
    curve("movie_k16_w64", 5.0, 3.4)
    curve("movie_k16_w128", 5.0, 2.9)  # out of order: below w = 256
    curve("movie_k16_w256", 5.0, 3.2)
    curve("movie_k16_w1024", 5.0, 3.0)  # the same curve as Mn: the same batches
    curve("movie_k4_w4", 5.0, 3.5)
    curve("movie_k16_w16", 5.0, 2.8)  # below its w = Mn row
    markdown = write_report(results, tmp_path / "report").markdown
    lines = [line for line in markdown.splitlines() if line.startswith("- Figure 1")]
    assert len(lines) == 3
    a, b, c = lines

    def level(end: float) -> str:  # mean of the last two of the 20 points
        return f"{(5.0 + (end - 5.0) * 18 / 19 + end) / 2:.3f}"

    assert a == (
        "- Figure 1 (a) loss rises with k (w = Mn): HELD (2 of 2 pairs: "
        f"movie_k16_Mn {level(3.0)} > movie_k4_Mn {level(2.5)}; movie_k4_Mn {level(2.5)} > movie_k1 {level(2.0)})."
    )
    assert b.startswith("- Figure 1 (b) loss falls as w grows (k = 16): NOT HELD (2 of 3 pairs:")
    assert f"movie_k16_w128 {level(2.9)} <= movie_k16_w256 {level(3.2)}" in b
    assert b.endswith("identical curves, the same batches, not counted: movie_k16_w1024 = movie_k16_Mn.")
    assert c.startswith("- Figure 1 (c) w = k above w = Mn: NOT HELD (1 of 2 pairs:")
    assert f"movie_k16_w16 {level(2.8)} <= movie_k16_Mn {level(3.0)}" in c


def test_the_console_shows_only_rows_with_results_and_the_file_keeps_them_all(
    results: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert main([str(results), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    kept = (out / "table1.md").read_text()
    assert md_line(kept, "Movie", 4, "Mn")[2:5] == ["—", "61.37", "—"]
    for k, w in ((1, "–"), (16, "Mn")):
        assert md_line(printed, "Movie", k, w) == md_line(kept, "Movie", k, w)
    movie = printed.split("## Pretraining dataset: Movie")[1].split("## ")[0]
    assert sum(line.startswith("| ") for line in movie.splitlines()) == 1 + 2  # header, k1, k16/Mn
    # only movie_k1 and movie_k16_Mn have fine-tuning results; tv_k8_w128 has a loss curve and nothing else
    assert f"The {len(ROWS) - 2} rows without a result of ours are left out here" in printed
    assert "No fine-tuning result yet." in printed.split("## Pretraining dataset: TV")[1]


def test_a_probe_only_sweep_prints_no_empty_table1(tmp_path: Path, capsys) -> None:
    probe = tmp_path / "results" / "movie_k1" / "probe_hmdb51" / "probe.json"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        json.dumps({"probe_top1": 40.0, "probe_se": 4.9, "knn_top1": 38.0, "knn_se": 4.9, "n": 100})
    )
    assert main([str(tmp_path / "results"), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "no row has a fine-tuning result yet" in printed
    assert "## Pretraining dataset" not in printed and "| movie_k1 | 1 |" in printed
    assert "## Pretraining dataset: Movie" in (tmp_path / "out" / "table1.md").read_text()
