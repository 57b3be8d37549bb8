"""`tvssl report RESULTS [--replicate RESULTS2 ...] --out DIR`: Table 1 and Figure 1 of the paper from a sweep.

A sweep may be unfinished; replicates (the same sweep with other training seeds) pool into the probe table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tvssl.errors import UserError, config_checks, reports_user_errors
from tvssl.report import write_report
from tvssl.run_names import run_name_patterns


def _smoothing(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1) (0 = no smoothing), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvssl report",
        description=(
            "Rebuild the paper's Table 1 (with the paper's numbers and the differences) and the training-loss "
            f"curves of its Figure 1 from RESULTS/<row>/{{{','.join(run_name_patterns())}}}. Missing runs are "
            "shown as missing."
        ),
    )
    parser.add_argument("results", type=Path, metavar="RESULTS", help="results tree of an ablation sweep")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="where to write table1.md, table1.csv, figure1.png (other files there are left alone)",
    )
    parser.add_argument(
        "--replicate",
        type=Path,
        action="append",
        default=[],
        metavar="RESULTS2",
        help=(
            "a results tree of the same sweep pretrained with another training seed (make replicates); "
            "repeatable. The probe table, probe.csv and the verdicts pool the runs; Table 1 and Figure 1 "
            "stay RESULTS'"
        ),
    )
    parser.add_argument(
        "--smooth",
        type=_smoothing,
        default=0.9,
        metavar="FACTOR",
        help="EMA factor for the loss curves, in [0, 1) (default: 0.9)",
    )
    return parser


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        raise UserError(f"RESULTS {args.results} is not a directory: pass the results folder of the sweep")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} exists and is not a directory: choose a folder for the report")
    with config_checks():
        report = write_report(args.results, args.out, smooth=args.smooth, replicates=args.replicate)
    for warning in report.warnings:
        print(f"tvssl report: warning: {warning}", file=sys.stderr)
    print(report.console)
    for path in report.removed:
        print(f"removed stale {path}")
    for path in report.written:
        print(f"wrote {path}")
    return 0
