"""`tvssl index ROOT --out MANIFEST`: probe every file of a corpus once and write the manifest training reads."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from fractions import Fraction

from data_modules.index import build_index, describe_index
from tvssl.commands.arguments import positive, seconds
from tvssl.errors import config_checks, reports_user_errors


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
    return parser


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with config_checks():
        records = build_index(
            args.root,
            args.out,
            kind=args.kind,
            workers=args.workers,
            slot_seconds=args.slot_seconds,
            min_seconds=args.min_seconds,
            progress=not args.no_progress,
            verify=args.verify,
            print_summary=False,
        )
    print(describe_index(args.out, records))
    return 0
