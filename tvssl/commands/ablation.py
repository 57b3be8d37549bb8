"""`tvssl ablation`: the steps that `make ablation` chains, one Table 1 row (a probe: several) and one task at a time.

Parsing only; the steps themselves are ``tvssl.sweep`` (a smoke section's data: ``tvssl.smoke_synth``; its
copy: ``tvssl.smoke_copy``). Arguments after ``--`` go to ``tvssl fit`` unchanged (``synth``: to ``tvssl synth``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tvssl.errors import UserError, reports_user_errors
from tvssl.rows import RANDOM_INIT, ROWS_BY_NAME
from tvssl.run_names import SEED_TASK, TASKS
from tvssl.smoke_copy import prepare_section
from tvssl.smoke_synth import SECTIONS, synth_section
from tvssl.sweep import EXPERIMENTS_ENV, SECTION_ENV, Sweep, finetune, pretrain, probe


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tvssl ablation",
        description=__doc__.splitlines()[0],
        epilog="Arguments after `--` go to `tvssl fit` unchanged (for synth: to `tvssl synth`).",
    )
    sub = p.add_subparsers(dest="step", required=True)
    sub.add_parser("rows", help="print the Table 1 row names")
    for step in ("synth", "prepare", "pretrain", "finetune", "probe"):
        s = sub.add_parser(step)
        if step == "synth":
            s.add_argument("section", choices=SECTIONS, help="the smoke data to write (settings after --)")
        elif step == "prepare":
            s.add_argument("section", choices=sorted(SECTION_ENV), help="the smoke titles to copy")
        elif step == "probe":
            s.add_argument(
                "rows",
                nargs="+",
                metavar="row",
                help=f"Table 1 rows, e.g. movie_k16_Mn, or {RANDOM_INIT} (no pretraining); probed in one pass",
            )
        else:
            s.add_argument("row", help="Table 1 row, e.g. movie_k16_Mn")
        if step in ("finetune", "probe"):
            s.add_argument("task", choices=TASKS)
            s.add_argument("--split", type=int, default=1)
            s.add_argument("--fold", type=int, default=1)
            s.add_argument("--seed", type=int, default=0)
        if step in ("pretrain", "probe"):
            s.add_argument(
                "--train-seed",
                type=int,
                default=None,
                metavar="N",
                help="a replicate's seed: pretraining's weights, batches and validation titles, and random "
                "init's weights (default: the configs')",
            )
        s.add_argument("--profile", default="paper", help="paper (real data from env vars) or smoke")
        s.add_argument("--results", default="results")
        s.add_argument("--runs", default="runs")
        s.add_argument("--smoke-data", default=".tvssl/smoke-data")
        s.add_argument(
            "--prepared",
            action="store_true",
            help="smoke profile: rows train from the clip-exact copy of their section's titles "
            "(`tvssl ablation prepare SECTION` makes it)",
        )
        s.add_argument("--wandb", default="offline", choices=["offline", "online", "disabled"])
        s.add_argument(
            "--experiments",
            default=None,
            metavar="DIR",
            help=f"folder of the row configs (default: ${EXPERIMENTS_ENV}, else ./experiments)",
        )
    return p


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    opts = parser().parse_args(argv[:split])
    if opts.step == "rows":
        print(" ".join(ROWS_BY_NAME))
        return 0
    if opts.step == "synth":
        return synth_section(opts.profile, Path(opts.smoke_data), opts.section, argv[split + 1 :])
    if opts.prepared and opts.profile != "smoke":
        raise UserError(
            "--prepared (PREPARED=yes) is for the smoke profile; with PROFILE=paper point MOVIE_ROOT / TV_ROOT at "
            "a copy made by `tvssl prepare`"
        )
    known = [*ROWS_BY_NAME, RANDOM_INIT] if opts.step == "probe" else list(ROWS_BY_NAME)
    for name in getattr(opts, "rows", None) or ([opts.row] if hasattr(opts, "row") else []):
        if name not in known:
            raise UserError(f"unknown row {name!r}; rows: {' '.join(known)}")
    sweep = Sweep(
        experiments=opts.experiments,
        profile=opts.profile,
        results=Path(opts.results),
        runs=Path(opts.runs),
        smoke_data=Path(opts.smoke_data),
        wandb=opts.wandb,
        fit_args=tuple(argv[split + 1 :]),
        train_seed=getattr(opts, "train_seed", None),
        prepared=opts.prepared,
    )
    if opts.step == "prepare":
        return prepare_section(sweep, opts.section)
    partition = opts.fold if getattr(opts, "task", None) == SEED_TASK else getattr(opts, "split", 1)
    if opts.step == "probe":
        return probe(sweep, opts.rows, opts.task, partition)
    row = ROWS_BY_NAME[opts.row]
    if opts.step == "pretrain":
        return pretrain(sweep, row)
    return finetune(sweep, row, opts.task, partition, opts.seed)
