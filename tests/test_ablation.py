"""`make ablation`: the graph skips finished steps, names missing data, and merges resumed loss logs."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tvssl.commands.ablation import main
from tvssl.pretrain_results import merge_loss_logs
from tvssl.run_names import (
    FinetuneRun,
    finetune_run_name,
    make_assignments,
    parse_run_name,
    seed_run_name,
    split_run_name,
)
from tvssl.sweep import EXPERIMENTS_ENV

REPO = Path(__file__).resolve().parents[1]


def make_dry_run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    command = ["make", "-n", "--no-print-directory", "ablation", f"RESULTS={tmp_path}/results", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env or dict(os.environ))


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("done")


def made_smoke_data(tmp_path: Path, *sections: str) -> Path:
    """A smoke data folder whose ``sections`` are synthesised and whose titles have their clip-exact copy (the
    smoke profile trains from it by default), so that make plans no data step."""
    smoke = tmp_path / "smoke"
    for section in sections:
        touch(smoke / section / ".tvssl-synth.json")
        if section != "downstream":
            touch(smoke / f"{section}-clips" / "manifest.csv")  # after its titles: make sees it up to date
    return smoke


def test_the_graph_runs_only_what_is_not_finished(tmp_path: Path) -> None:
    smoke = made_smoke_data(tmp_path, "movie", "downstream")
    args = (
        "PROFILE=smoke",
        "PROBE=no",
        "FINETUNE=yes",
        "ROWS=movie_k1 movie_k16_Mn",
        f"SMOKE_DATA={smoke}",
        "SPLITS=1 2",
    )
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


def test_run_names_are_built_and_parsed_by_one_definition() -> None:
    assert split_run_name("ucf101", 2) == "ucf101_split2" and seed_run_name(1, 2) == "esc50_fold1_seed2"
    assert finetune_run_name("hmdb51", 3, seed=7) == "hmdb51_split3"
    assert finetune_run_name("esc50", 4, seed=7) == "esc50_fold4_seed7"
    assert parse_run_name("hmdb51_split3") == FinetuneRun("hmdb51", 3)
    assert parse_run_name("esc50_fold4_seed7") == FinetuneRun("esc50", 4, 7)
    assert parse_run_name("esc50_fold4_seed7").recorded() == {"fold": 4, "seed": 7}
    assert parse_run_name("ucf101_split1").recorded() == {"split": 1}
    for name in ("pretrain", "esc50_split1", "ucf101_fold1_seed0", "ucf101_split", "hmdb51_split1x"):
        assert parse_run_name(name) is None, name
    with pytest.raises(ValueError):
        split_run_name("esc50", 1)


def test_the_smoke_profile_probes_instead_of_fine_tuning_unless_asked(tmp_path: Path) -> None:
    smoke = made_smoke_data(tmp_path, "movie", "downstream")
    planned = make_dry_run(tmp_path, "PROFILE=smoke", "ROWS=movie_k1", f"SMOKE_DATA={smoke}").stdout
    assert "ablation finetune" not in planned and planned.count("ablation probe movie_k1 ") == 3
    paper = make_dry_run(tmp_path, "PROFILE=smoke", "FINETUNE=yes", "ROWS=movie_k1", f"SMOKE_DATA={smoke}")
    assert paper.stdout.count("ablation finetune movie_k1 ") == 2 + 3


def test_make_names_its_targets_with_the_python_names(tmp_path: Path) -> None:
    """A row whose every result file exists under the names Python gives leaves make nothing but the report."""
    smoke = made_smoke_data(tmp_path, "movie", "downstream")
    row = tmp_path / "results" / "movie_k4_w4"
    names = [word.split("=", 1)[1] for word in make_assignments([1, 3], [0, 5], fold=2)]
    touch(row / names[0])  # the checkpoint first: the fine-tunes are newer than it
    time.sleep(0.01)
    for name in names[1:]:
        touch(row / name)
    args = (
        "PROFILE=smoke",
        "PROBE=no",
        "FINETUNE=yes",
        "ROWS=movie_k4_w4",
        f"SMOKE_DATA={smoke}",
        "SPLITS=1 3",
        "SEEDS=0 5",
        "ESC_FOLD=2",
    )
    planned = make_dry_run(tmp_path, *args)
    assert planned.returncode == 0, planned.stderr
    assert "tvssl ablation" not in planned.stdout
    assert planned.stdout.splitlines()[-1].endswith(
        f"report {tmp_path}/results --out {tmp_path}/results/report"
    )
    (row / "esc50_fold2_seed5" / "metrics.json").unlink()
    planned = make_dry_run(tmp_path, *args).stdout
    steps = [
        line.split("ablation ", 1)[1].split(" --profile")[0]
        for line in planned.splitlines()
        if "ablation" in line
    ]
    assert steps == ["finetune movie_k4_w4 esc50 --fold 2 --seed 5"]


def test_the_steps_find_experiments_by_option_or_variable_and_say_when_it_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "smoke" / "movie").mkdir(parents=True)
    step = ["pretrain", "movie_k1", "--profile", "smoke", "--smoke-data", str(tmp_path / "smoke")]
    step += ["--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")]
    monkeypatch.delenv(EXPERIMENTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(step) == 2
    err = capsys.readouterr().err
    assert f"experiments folder {tmp_path / 'experiments'} not found" in err and "--experiments DIR" in err
    assert main([*step, "--experiments", str(tmp_path / "nowhere")]) == 2
    assert f"experiments folder {tmp_path / 'nowhere'} not found" in capsys.readouterr().err
    monkeypatch.setenv(EXPERIMENTS_ENV, str(tmp_path / "elsewhere"))
    assert main(step) == 2
    assert f"experiments folder {tmp_path / 'elsewhere'} not found" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists(), "a step refused before it ran leaves no run directory"


def test_a_paper_root_that_is_not_a_folder_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOVIE_ROOT", str(tmp_path / "missing"))
    assert (
        main(["pretrain", "movie_k1", "--results", str(tmp_path / "r"), "--runs", str(tmp_path / "runs")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MOVIE_ROOT" in err[0] and "not an existing folder" in err[0], err


def test_the_probe_graph_probes_every_row_and_random_init_once(tmp_path: Path) -> None:
    """PROFILE=smoke probes by default; FINETUNE=no (the demo) plans pretraining and probes only."""
    smoke = made_smoke_data(tmp_path, "movie", "downstream")
    args = ("PROFILE=smoke", "FINETUNE=no", "ROWS=movie_k1 movie_k16_Mn_masked", f"SMOKE_DATA={smoke}")
    planned = make_dry_run(tmp_path, *args)
    assert planned.returncode == 0, planned.stderr
    steps = [
        line.split("ablation ", 1)[1].split(" --fold")[0].split(" --profile")[0]
        for line in planned.stdout.splitlines()
        if "tvssl ablation" in line
    ]
    rows = ("movie_k1", "movie_k16_Mn_masked")
    tasks = ("hmdb51", "esc50", "ucf101")
    probes = [f"probe {' '.join(rows)} random_init {t}" for t in tasks]
    assert sorted(steps) == sorted([f"pretrain {r}" for r in rows] + probes)
    # one probe per task for all rows and random init, planned after every row's pretraining (their clips are
    # decoded once for all encoders)
    last_pretraining = max(i for i, step in enumerate(steps) if step.startswith("pretrain"))
    assert all(steps.index(probe) > last_pretraining for probe in probes)
    touch(tmp_path / "results" / "movie_k1" / "pretrain" / "last.ckpt")
    again = make_dry_run(tmp_path, *args).stdout
    assert "pretrain movie_k1 " not in again and "pretrain movie_k16_Mn_masked " in again


def test_replicates_run_the_sweep_once_per_seed_and_pool_one_report(tmp_path: Path) -> None:
    smoke = made_smoke_data(tmp_path, "movie", "downstream")
    command = ["make", "-n", "--no-print-directory", "replicates", "PROFILE=smoke", "FINETUNE=no"]
    command += ["ROWS=movie_k1", f"SMOKE_DATA={smoke}", f"RESULTS={tmp_path}/r", "REPLICATES=0 5"]
    planned = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr
    steps = [line for line in planned.stdout.splitlines() if "tvssl ablation" in line]
    tasks = ("esc50", "hmdb51", "ucf101")
    for seed in ("0", "5"):
        mine = [s for s in steps if f"--results {tmp_path}/r/seed{seed} " in s]
        assert len(mine) == 1 + 3  # the pretraining, then one probe per task of the row and random init
        seeded = [s.split("ablation ")[1].split(" --fold")[0].split(" --profile")[0] for s in mine]
        assert all(f"--train-seed {seed}" in s for s in mine)
        assert sorted(seeded) == ["pretrain movie_k1"] + [f"probe movie_k1 random_init {t}" for t in tasks]
    last = planned.stdout.strip().splitlines()[-1]
    assert last.endswith(
        f"report {tmp_path}/r/seed0 --replicate {tmp_path}/r/seed5 --out {tmp_path}/r/report"
    )


def test_a_train_seed_reaches_pretraining_and_the_random_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tvssl.sweep as sweep

    seen: list[list[str]] = []
    monkeypatch.setattr(sweep, "run_fit", lambda args, *rest, **kw: seen.append(args) or 1)
    monkeypatch.setattr(sweep, "run_step", lambda what, command, *rest, **kw: seen.append(command) or 1)
    for part in ("movie", "downstream/hmdb51"):
        (tmp_path / "smoke" / part).mkdir(parents=True)
    common = ["--profile", "smoke", "--smoke-data", str(tmp_path / "smoke"), "--results", str(tmp_path / "r")]
    common += ["--runs", str(tmp_path / "runs"), "--train-seed", "7"]
    main(["pretrain", "movie_k1", *common])
    main(["probe", "random_init", "hmdb51", *common])
    pretrain_args, probe_args = seen
    assert pretrain_args[-4:] == ["--seed_everything", "7", "--data.init_args.seed", "7"]
    assert "--seed_everything" in probe_args and probe_args[probe_args.index("--seed_everything") + 1] == "7"
    assert "--data.init_args.seed" not in probe_args


def test_a_probe_step_probes_the_rows_not_yet_probed_in_one_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tvssl.sweep as sweep

    seen: list[list[str]] = []
    logs: list[Path] = []
    monkeypatch.setattr(
        sweep, "run_step", lambda what, command, log, **kw: seen.append(command) or logs.append(log) or 0
    )
    (tmp_path / "smoke" / "downstream" / "esc50").mkdir(parents=True)
    results = tmp_path / "r"
    for row in ("movie_k1", "movie_k4_Mn", "movie_k16_Mn"):
        touch(results / row / "pretrain" / "last.ckpt")
    touch(results / "movie_k4_Mn" / "probe_esc50" / "probe.json")
    common = ["--profile", "smoke", "--smoke-data", str(tmp_path / "smoke"), "--results", str(results)]
    assert main(["probe", "movie_k1", "movie_k4_Mn", "movie_k16_Mn", "random_init", "esc50", *common]) == 0
    (command,) = seen
    args = command[command.index("probe") + 1 :]
    outs = [args[i + 1] for i, a in enumerate(args) if a == "--out"]
    assert outs == [
        str(results / r / "probe_esc50" / "probe.json") for r in ("movie_k1", "movie_k16_Mn", "random_init")
    ]
    assert args.count("--and") == 2 and args[0] == "--out"
    groups = " ".join(args).split(" --and ")
    assert [g.count("--model.init_args.pretrained") for g in groups] == [1, 1, 0]
    assert "random-init.yaml" in groups[2] and "--data.init_args.fold 1" in groups[2]
    assert "probe_esc50/probe.json exists, nothing to do" in capsys.readouterr().out
    # a group logs for the task; one encoder beside its result, so that random init's probe of a task, which
    # make may run beside the rows' probe of it, never writes the same log
    assert logs == [results / "probe_esc50.console.log"]
    seen.clear()
    assert main(["probe", "random_init", "esc50", *common, "--seed", "1"]) == 0 and len(seen) == 1
    assert logs[1] == results / "random_init" / "probe_esc50.console.log"
    seen.clear()
    assert main(["probe", "movie_k4_Mn", "esc50", *common]) == 0 and seen == []
    assert main(["probe", "movie_k1", "movie_k99", "esc50", *common]) == 2
    assert "unknown row 'movie_k99'" in capsys.readouterr().err


def test_smoke_window_rows_that_hold_a_whole_title_wait_for_their_whole_title_row(tmp_path: Path) -> None:
    """8-minute smoke titles have 960 slots: w = 1024 waits for w = Mn (tvssl.same_batches may then share its
    training), w = 512 does not; nor does w = 1024 on 9-minute titles, or when Mn is not among the rows. With
    FINETUNE=yes each fine-tuning of w = 1024 waits for the same one of w = Mn, whose result it may then take."""

    def waits(*args: str, target: str = "pretrain/last.ckpt") -> dict[str, bool]:
        planned = subprocess.run(
            ["make", "-n", "-p", "--no-print-directory", "ablation", f"RESULTS={tmp_path}/r", *args],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
        assert planned.returncode == 0, planned.stderr
        rules = {line.split(":", 1)[0]: line for line in planned.stdout.splitlines() if f"/{target}:" in line}
        mn = f"{tmp_path}/r/movie_k16_Mn/{target}"
        return {
            row: mn in rules[f"{tmp_path}/r/{row}/{target}"] for row in ("movie_k16_w512", "movie_k16_w1024")
        }

    rows = "ROWS=movie_k16_Mn movie_k16_w512 movie_k16_w1024"
    assert waits("PROFILE=smoke", rows) == {"movie_k16_w512": False, "movie_k16_w1024": True}
    assert waits("PROFILE=smoke", rows, "SMOKE_MINUTES=9") == {
        "movie_k16_w512": False,
        "movie_k16_w1024": False,
    }
    assert waits("PROFILE=smoke", "ROWS=movie_k16_w512 movie_k16_w1024") == {
        "movie_k16_w512": False,
        "movie_k16_w1024": False,
    }
    for target in (f"{finetune_run_name('esc50', 1, seed=2)}/metrics.json", "hmdb51_split1/metrics.json"):
        assert waits("PROFILE=smoke", rows, "FINETUNE=yes", target=target) == {
            "movie_k16_w512": False,
            "movie_k16_w1024": True,
        }
        assert waits("PROFILE=smoke", rows, "FINETUNE=yes", "SMOKE_MINUTES=9", target=target) == {
            "movie_k16_w512": False,
            "movie_k16_w1024": False,
        }


def test_prepared_rows_wait_for_their_section_copy_made_once(tmp_path: Path) -> None:
    """The smoke profile's default (PREPARED=yes): one copy per section, made after its titles and before any of
    its rows, and every step told so."""
    smoke = tmp_path / "smoke"
    for part in ("movie", "tv", "downstream"):
        touch(smoke / part / ".tvssl-synth.json")
    rows = ("movie_k1", "movie_k16_Mn", "tv_k1")
    args = (
        "PROFILE=smoke",
        "FINETUNE=no",
        "PROBE=no",
        f"ROWS={' '.join(rows)}",
        f"SMOKE_DATA={smoke}",
    )
    planned = make_dry_run(tmp_path, *args)
    assert planned.returncode == 0, planned.stderr
    lines = [line for line in planned.stdout.splitlines() if "tvssl ablation" in line]
    steps = [line.split("ablation ", 1)[1].split(" --profile")[0] for line in lines]
    assert sorted(steps) == sorted(["prepare movie", "prepare tv", *(f"pretrain {r}" for r in rows)])
    assert all(line.rstrip().endswith("--prepared") for line in lines)
    for row in rows:
        assert steps.index(f"prepare {row.split('_')[0]}") < steps.index(f"pretrain {row}")
    assert make_dry_run(tmp_path, *args, "PREPARED=yes").stdout == planned.stdout
    touch(smoke / "movie-clips" / "manifest.csv")
    again = make_dry_run(tmp_path, *args).stdout
    assert "prepare movie " not in again and "prepare tv " in again
    # PREPARED=no: the rows read the titles, no copy, no flag
    plain = make_dry_run(tmp_path, *args, "PREPARED=no").stdout
    assert "ablation prepare" not in plain and "--prepared" not in plain
    assert plain.count("ablation pretrain ") == len(rows)


def test_the_paper_profile_never_trains_from_a_smoke_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pretrain", "movie_k1", "--prepared", "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "smoke profile" in err[0] and "tvssl prepare" in err[0], err
    roots = ("MOVIE_ROOT", "UCF101_ROOT", "HMDB51_ROOT", "ESC50_ROOT")
    planned = make_dry_run(tmp_path, "ROWS=movie_k1", env={**os.environ, **{v: str(tmp_path) for v in roots}})
    assert planned.returncode == 0, planned.stderr
    assert "ablation pretrain movie_k1 " in planned.stdout and "--prepared" not in planned.stdout


def test_a_row_resumed_on_other_data_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attempt begun on the titles and resumed with PREPARED=yes (the same slots, so the sampler accepts it)
    is resumed, with one line on stderr naming both sources; resumed on the same data, nothing is said."""
    import tvssl.sweep as sweep

    seen: list[list[str]] = []
    monkeypatch.setattr(sweep, "run_fit", lambda args, *rest, **kw: seen.append(args) or 1)
    smoke = tmp_path / "smoke"
    for part in ("movie", "movie-clips"):
        (smoke / part).mkdir(parents=True)
    attempt = tmp_path / "runs" / "movie_k1" / "version_0"
    touch(attempt / "checkpoints" / "last.ckpt")
    (attempt / "config.yaml").write_text(
        f"data:\n  init_args:\n    root: {smoke / 'movie'}\n    manifest: null\n"
    )
    common = ["--profile", "smoke", "--smoke-data", str(smoke), "--results", str(tmp_path / "r")]
    common += ["--runs", str(tmp_path / "runs")]

    main(["pretrain", "movie_k1", *common])
    same = capsys.readouterr()
    assert "resuming movie_k1" in same.out and same.err == ""
    assert seen[-1][-2:] == ["--ckpt_path", str(attempt / "checkpoints" / "last.ckpt")]

    main(["pretrain", "movie_k1", *common, "--prepared"])
    captured = capsys.readouterr()
    assert seen[-1][-2:] == ["--ckpt_path", str(attempt / "checkpoints" / "last.ckpt")]
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "resumes on other data" in err[0], err
    assert f"read {smoke / 'movie'}, this one reads {smoke / 'movie-clips'} (manifest" in err[0]
    assert "PREPARED" in err[0]
    # the data can also change through the fit's own arguments, in either of the parser's spellings
    main(["pretrain", "movie_k1", *common, "--", f"--data.init_args.root={smoke / 'movie-clips'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"this one reads {smoke / 'movie-clips'}" in err[0], err
    # or inside a config file given to the fit, which the parser reads in order: here it overrides the titles
    extra = tmp_path / "extra.yaml"
    extra.write_text(f"data:\n  init_args:\n    root: {smoke / 'movie-clips'}\n")
    main(["pretrain", "movie_k1", *common, "--", "--config", str(extra)])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"this one reads {smoke / 'movie-clips'}" in err[0], err
    # and a later override of the same setting wins over it, back to the titles the attempt read
    main(["pretrain", "movie_k1", *common, "--", "--config", str(extra), f"--data.root={smoke / 'movie'}"])
    assert capsys.readouterr().err == ""
    # arguments the parser refuses: no check and no usage text here, the fit runs and says what is wrong itself
    calls = len(seen)
    main(["pretrain", "movie_k1", *common, "--", "--data.init_args.no_such_setting", "3"])
    assert len(seen) == calls + 1 and capsys.readouterr().err == ""


def test_a_row_trained_to_the_end_but_not_published_is_published_on_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step stopped after its fit ended and before publishing: the next run's fit resumes at the last step,
    trains nothing and writes no checkpoint, and the step publishes the attempt's checkpoint and curve."""
    import tvssl.sweep as sweep

    monkeypatch.setattr(sweep, "run_fit", lambda args, *rest, **kw: 0)
    (tmp_path / "smoke" / "movie").mkdir(parents=True)
    attempt = tmp_path / "runs" / "movie_k1" / "version_0"
    touch(attempt / "checkpoints" / "last.ckpt")
    write_log(attempt / "log", [{"epoch": "0", "step": "9", "train/loss": "1.5"}])
    (attempt / "log" / "metrics.csv").rename(attempt / "metrics.csv")
    common = ["--profile", "smoke", "--smoke-data", str(tmp_path / "smoke"), "--results", str(tmp_path / "r")]
    assert main(["pretrain", "movie_k1", *common, "--runs", str(tmp_path / "runs")]) == 0
    published = tmp_path / "r" / "movie_k1" / "pretrain"
    assert (published / "last.ckpt").resolve() == (attempt / "checkpoints" / "last.ckpt").resolve()
    assert "1.5" in (published / "metrics.csv").read_text()
