"""`tvssl ablation prepare <section>`: the clip-exact copy a smoke section's rows train from (PREPARED=yes)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from data_modules.manifest import read_manifest
from tvssl.commands.ablation import main
from tvssl.lightning_cli import instantiate
from tvssl.rows import Row
from tvssl.sweep import Sweep, pretrain_args

REPO = Path(__file__).resolve().parents[1]
# The session corpus is 6 titles: batches of 32 (two titles at k = 16) with one held out, so a row's datamodule can be set up on it.
SMALL = ("--data.init_args.batch_size=32", "--data.init_args.val_titles=1", "--data.init_args.num_workers=0")


def test_the_copy_holds_the_clips_the_rows_read_and_the_rows_train_from_it(
    movie_corpus: Path, tmp_path: Path, capfd
) -> None:
    smoke = tmp_path / "smoke"
    shutil.copytree(movie_corpus, smoke / "movie", ignore=shutil.ignore_patterns(".tvssl"))
    common = ["--profile", "smoke", "--smoke-data", str(smoke), "--experiments", str(REPO / "experiments")]
    assert main(["prepare", "movie", *common, "--prepared", "--", *SMALL]) == 0
    said = capfd.readouterr()
    out = said.out.strip().splitlines()
    assert len(out) == 2 and out[-1].startswith("tvssl ablation: prepare movie (clip-exact copy)"), out
    assert said.err == ""  # the titles' index summary went to the step's log
    assert "probed 6 file(s)" in (smoke / "prepare_movie.console.log").read_text()
    assert "6/6 titles" in out[-1] and out[-1].rstrip().endswith(f"{smoke / 'prepare_movie.console.log'})")

    sweep = Sweep(experiments=str(REPO / "experiments"), profile="smoke", smoke_data=smoke, prepared=True)
    args = pretrain_args(sweep, Row("movie", 16, None))
    _, titles = instantiate([*pretrain_args(replace(sweep, prepared=False), Row("movie", 1, None)), *SMALL])
    _, copied = instantiate([*args, *SMALL])
    assert copied.root == smoke / "movie-clips" and titles.root == smoke / "movie"
    records = read_manifest(smoke / "movie-clips" / "manifest.csv")
    assert len(records) == 6 and all(r.path.endswith(".clips") and r.status == "ok" for r in records)
    # made for exactly the clips the smoke rows read (the loader checks the spec on setup and refuses others)
    assert copied.spec == titles.spec
    copied.setup("fit")
    assert copied.train_sampler is not None and len(copied.train_sampler) > 0
