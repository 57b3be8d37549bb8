"""`tvssl index ROOT --out MANIFEST`: probe every file of a corpus once and write the manifest training reads.

On a cluster, `--shard I/N` indexes one shard of the files into `MANIFEST.shards/` and `--merge N` writes the
manifest from the N finished shards (``data_modules.sharding``; `experiments/slurm/index.sbatch`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from fractions import Fraction

from data_modules.index import build_index, describe_index
from data_modules.sharding import Shard, index_shard, merge_index, shard_file
from tvssl.commands.arguments import positive, seconds
from tvssl.errors import config_checks, reports_user_errors


def shard_argument(text: str) -> Shard:
    """``--shard I/N`` for argparse: its own message, not argparse's "invalid value"."""
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_shard_options(parser: argparse.ArgumentParser, what: str, where: str) -> None:
    """``--shard I/N`` and ``--merge N``, which exclude each other; shared with `tvssl prepare`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--shard",
        type=shard_argument,
        default=None,
        metavar="I/N",
        help=f"only the files of shard I of N (1 <= I <= N; by a hash of each path), writing {what} into "
        f"{where} (resumable); e.g. --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT",
    )
    group.add_argument(
        "--merge",
        type=positive,
        default=None,
        metavar="N",
        help="write the manifest from the N finished shards, as one run without --shard would (refused "
        "while a shard is missing)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvssl index",
        description="Probe every media file under ROOT and write one manifest row per file: usable titles with "
        "their duration and slot count, other files with the reason they are excluded. Re-running reuses the "
        "rows of unchanged files.",
    )
    parser.add_argument(
        "root", metavar="ROOT", help="folder holding the movies or shows (searched recursively)"
    )
    parser.add_argument("--out", required=True, metavar="MANIFEST", help="manifest CSV to write or update")
    parser.add_argument(
        "--kind",
        choices=("movie", "tv"),
        default="movie",
        help="tv: read show/season/episode from paths like Show/S01E02.mkv (default: movie)",
    )
    parser.add_argument(
        "--workers",
        type=positive,
        default=None,
        metavar="N",
        help="probing processes (default: one per CPU core)",
    )
    parser.add_argument(
        "--slot-seconds", type=seconds, default=Fraction(2), metavar="S", help="slot length (default: 2)"
    )
    parser.add_argument(
        "--min-seconds",
        type=seconds,
        default=None,
        metavar="S",
        help="exclude titles shorter than this (default: one slot)",
    )
    parser.add_argument(
        "--verify",
        type=positive,
        default=0,
        metavar="N",
        help="also decode N random slots of every usable title, as training reads them (the same slots on "
        "every run), and exclude titles whose clips do not decode (default: headers only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_shard_options(parser, "its rows", "MANIFEST.shards/")
    return parser


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = dict(
        kind=args.kind,
        workers=args.workers,
        slot_seconds=args.slot_seconds,
        min_seconds=args.min_seconds,
        progress=not args.no_progress,
        verify=args.verify,
        print_summary=False,
    )
    written = args.out
    with config_checks():
        if args.shard is not None:
            records = index_shard(args.root, args.out, args.shard, **options)
            written = shard_file(args.out, args.shard.index, args.shard.count)
        elif args.merge is not None:
            records = merge_index(args.root, args.out, args.merge, **options)
        else:
            records = build_index(args.root, args.out, **options)
    print(describe_index(written, records))
    return 0
