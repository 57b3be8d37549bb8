"""A window row that would train on its w = Mn row's very batches shares that training instead of repeating it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tvssl.sweep as sweep
from tests.overrides import tiny_overrides
from tvssl.commands.ablation import main
from tvssl.lightning_cli import instantiate
from tvssl.pretrain_results import read_twin
from tvssl.report.writer import write_report
from tvssl.rows import Row
from tvssl.same_batches import same_batches, twin_row

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
# The session's movie corpus: 6 titles of 80 slots (0.5 s), one held out; w = 128 holds every title, w = 64 not.
TINY_FIT = ("--trainer.max_steps=2", "--trainer.log_every_n_steps=1", "--trainer.limit_val_batches=0")


def row_argv(row: str, root: Path, runs: Path, *extra: str) -> list[str]:
    return ["--config", str(EXPERIMENTS / f"{row}.yaml"), *tiny_overrides(root, runs, 32), *extra]


@pytest.fixture(scope="module")
def indexed(movie_corpus: Path) -> Path:
    """The corpus with its manifest, as the first pretraining of a sweep leaves it."""
    _, data = instantiate(row_argv("movie_k16_Mn", movie_corpus, movie_corpus / "unused-runs"))
    data.prepare_data()
    return movie_corpus


def test_the_twin_of_a_window_row_is_its_whole_title_row() -> None:
    assert twin_row(Row.parse("movie_k16_w1024")) == Row.parse("movie_k16_Mn")
    assert twin_row(Row("movie", 16, 64, masked=True)) == Row("movie", 16, None, masked=True)
    assert twin_row(Row.parse("movie_k16_Mn")) is None and twin_row(Row.parse("tv_k1")) is None


def test_same_batches_needs_a_window_that_holds_every_title_and_all_else_equal(
    indexed: Path, tmp_path: Path
) -> None:
    mn = row_argv("movie_k16_Mn", indexed, tmp_path)
    reason = same_batches(row_argv("movie_k16_w128", indexed, tmp_path), mn)
    assert reason is not None and "at most 80 slots, within w = 128" in reason
    assert same_batches(row_argv("movie_k16_w64", indexed, tmp_path), mn) is None  # 80-slot titles, w = 64
    other_lr = row_argv("movie_k16_w128", indexed, tmp_path, "--model.init_args.lr_peak=0.01")
    assert same_batches(other_lr, mn) is None
    other_seed = row_argv("movie_k16_w128", indexed, tmp_path, "--data.init_args.seed=9")
    assert same_batches(other_seed, mn) is None
    assert same_batches(row_argv("movie_k8_Mn", indexed, tmp_path), mn) is None


def test_arguments_the_parser_refuses_mean_no_claim_and_no_usage_text(
    indexed: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The row then trains, and its own fit reports the mistake in one line; the check prints nothing."""
    mn = row_argv("movie_k16_Mn", indexed, tmp_path)
    wrong = row_argv("movie_k16_w128", indexed, tmp_path, "--data.init_args.no_such_setting=3")
    capfd.readouterr()
    assert same_batches(wrong, mn) is None and same_batches(mn, wrong) is None
    said = capfd.readouterr()
    assert "usage" not in said.err and "no_such_setting" not in said.err + said.out


def test_no_manifest_yet_means_no_claim(movie_corpus: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "manifest.csv"
    extra = f"--data.init_args.manifest={elsewhere}"
    argv = row_argv("movie_k16_w128", movie_corpus, tmp_path, extra)
    assert same_batches(argv, row_argv("movie_k16_Mn", movie_corpus, tmp_path, extra)) is None
    assert not elsewhere.exists()


@pytest.mark.slow
def test_a_sweep_trains_the_whole_title_row_once_and_shares_it(
    indexed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOVIE_ROOT", str(indexed))
    results, runs = tmp_path / "results", tmp_path / "runs"
    common = ["--results", str(results), "--runs", str(runs), "--experiments", str(EXPERIMENTS), "--wandb"]
    common += ["disabled", "--", *tiny_overrides(indexed, runs, 32), *TINY_FIT]
    assert main(["pretrain", "movie_k16_Mn", *common]) == 0
    capfd.readouterr()
    mn = results / "movie_k16_Mn" / "pretrain"
    assert read_twin(mn) is None

    fits: list[list[str]] = []
    real_fit = sweep.run_fit
    monkeypatch.setattr(sweep, "run_fit", lambda args, *rest: fits.append(args) or real_fit(args, *rest))
    assert main(["pretrain", "movie_k16_w128", *common]) == 0
    assert fits == [] and not (runs / "movie_k16_w128").exists()
    shared = results / "movie_k16_w128" / "pretrain"
    assert (shared / "last.ckpt").resolve() == (mn / "last.ckpt").resolve()
    assert (shared / "metrics.csv").read_bytes() == (mn / "metrics.csv").read_bytes()
    assert read_twin(shared) == "movie_k16_Mn"
    record = json.loads((shared / "same_batches.json").read_text())
    assert "within w = 128" in record["reason"]
    said = capfd.readouterr()
    assert "not trained, it would repeat movie_k16_Mn" in said.out
    assert "GPU available" not in said.out + said.err  # the console stays one line per step

    # w = 64 is narrower than the titles: it trains. So does a row with an earlier attempt to resume.
    monkeypatch.setattr(sweep, "run_fit", lambda args, *rest: fits.append(args) or 1)
    assert main(["pretrain", "movie_k16_w64", *common]) == 1 and len(fits) == 1
    (runs / "movie_k16_w2048" / "version_0" / "checkpoints").mkdir(parents=True)
    (runs / "movie_k16_w2048" / "version_0" / "checkpoints" / "last.ckpt").write_text("earlier attempt")
    assert main(["pretrain", "movie_k16_w2048", *common]) == 1 and len(fits) == 2
    assert "--ckpt_path" in fits[1]

    # The probe runs one encoder for the two rows and copies its result; the report says who trained.
    commands: list[list[str]] = []

    def fake_probe(what: str, command: list[str], log: Path, **kw: object) -> int:
        commands.append(command)
        outs = [Path(command[i + 1]) for i, a in enumerate(command) if a == "--out"]
        for n, out in enumerate(outs):
            out.write_text(json.dumps({"probe_top1": 60.0 + n, "probe_se": 2.0, "knn_top1": 30.0,
                                       "knn_se": 2.0, "n": 100}))  # fmt: skip
        return 0

    monkeypatch.setattr(sweep, "run_step", fake_probe)
    probe_args = ["--results", str(results), "--runs", str(runs), "--experiments", str(EXPERIMENTS)]
    monkeypatch.setenv("ESC50_ROOT", str(tmp_path))
    assert main(["probe", "movie_k16_Mn", "movie_k16_w128", "esc50", *probe_args]) == 0
    (command,) = commands
    assert command.count("--out") == 1
    probed = results / "movie_k16_w128" / "probe_esc50" / "probe.json"
    assert probed.read_bytes() == (results / "movie_k16_Mn" / "probe_esc50" / "probe.json").read_bytes()

    # Fine-tuning likewise: the Mn row fine-tunes; w = 128 takes that result for the same fold and seed, and a
    # seed the Mn row has not fine-tuned yet is fine-tuned as usual.
    fits.clear()

    def fake_finetune(args: list[str], *rest: object) -> int:
        fits.append(args)
        out = Path(args[args.index("--model.init_args.results") + 1])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"audio_top1": 70.0 + len(fits)}))
        return 0

    monkeypatch.setattr(sweep, "run_fit", fake_finetune)
    assert main(["finetune", "movie_k16_Mn", "esc50", "--seed", "2", *common]) == 0 and len(fits) == 1
    assert main(["finetune", "movie_k16_w128", "esc50", "--seed", "2", *common]) == 0 and len(fits) == 1
    done = results / "movie_k16_Mn" / "esc50_fold1_seed2" / "metrics.json"
    taken = results / "movie_k16_w128" / "esc50_fold1_seed2" / "metrics.json"
    assert taken.read_bytes() == done.read_bytes()
    assert f"a copy of {done}" in capfd.readouterr().out
    assert main(["finetune", "movie_k16_w128", "esc50", "--seed", "3", *common]) == 0 and len(fits) == 2
    assert "movie_k16_w128" in fits[1][fits[1].index("--model.init_args.results") + 1]

    report = write_report(results, tmp_path / "report")
    assert "| movie_k16_w128 *(= movie_k16_Mn: the same batches, trained once)* |" in report.markdown
    assert "| movie_k16_Mn |" in report.markdown
    assert (
        "| movie_k16_w128 *(= movie_k16_Mn: the same batches, trained once)* | 16 | 128 |" in report.markdown
    )
