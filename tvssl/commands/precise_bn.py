"""`tvssl precise-bn --ckpt CKPT --out OUT [--batches N] [--seed S] <tvssl fit arguments>`.

Writes a copy of a pretraining checkpoint whose batch-norm statistics are measured again on the training
batches that the `tvssl fit` arguments describe (``tvssl.precise_bn``): typically a k = 1 config on the
corpus the rows trained on, the same for every row, so that the probe of each copy sees no trace of the batch
composition its row trained with. The weights are the checkpoint's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from tvssl.commands.arguments import positive
from tvssl.errors import UserError, config_checks, reports_user_errors

DEFAULT_BATCHES = 100


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvssl precise-bn",
        description="Copy a pretraining checkpoint with its BatchNorm statistics measured again on other batches.",
        epilog="Every other argument is a `tvssl fit` argument (--config FILE, --data.init_args.root DIR, ...) "
        "and says which batches: e.g. --config experiments/movie_k1.yaml for k = 1 batches of the same titles.",
    )
    parser.add_argument(
        "--ckpt", type=Path, required=True, help="pretraining checkpoint (ContrastiveAVModule)"
    )
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (must not exist)")
    parser.add_argument(
        "--batches",
        type=positive,
        default=DEFAULT_BATCHES,
        help=f"batches to average (default {DEFAULT_BATCHES})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops and jitter (default 0)")
    return parser


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    args, fit_args = _parser().parse_known_args(list(argv or []))
    if args.out.exists():
        raise UserError(f"{args.out} exists; choose a new --out (nothing was written)")
    if not args.ckpt.is_file():
        raise UserError(f"checkpoint {args.ckpt} does not exist (--ckpt)")
    from tvssl.bench.loader import loader_setup
    from tvssl.precise_bn import remeasured_checkpoint

    started = time.perf_counter()
    with config_checks():
        base = loader_setup(fit_args)
        batch_size = int(base.init_args.get("batch_size") or 0)
        if batch_size < 1:
            raise UserError("the fit arguments give no data.init_args.batch_size")
        data = loader_setup([*fit_args, f"--data.clips_per_epoch={batch_size * args.batches}"]).datamodule
        data.prepare_data()
        data.setup("fit")
        used = remeasured_checkpoint(args.ckpt, args.out, data.train_dataloader(), args.seed)
    settings = base.init_args
    print(
        f"tvssl precise-bn: wrote {args.out}: BatchNorm statistics of {args.ckpt} averaged over {used} batches of "
        f"{batch_size} clips (k = {settings.get('k')}, w = {settings.get('w')}, {settings.get('root')}) in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0
