"""`tvssl probe --out FILE [--clips N] --config FINETUNE.yaml [...overrides]`: frozen-feature probe of one encoder.

The model and data come from a fine-tuning config exactly as `tvssl fit` reads it (so the clip spec and
preprocessing are the fine-tuning run's); ``--model.init_args.pretrained CKPT`` names the encoder, none means
random initialisation (give ``--model.init_args.arch``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tvssl.commands.arguments import positive
from tvssl.errors import reports_user_errors


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvssl probe",
        description="Linear probe and k-NN on frozen encoder features of one downstream split; writes JSON.",
        epilog="Every other argument is a `tvssl fit` argument: --config FILE, --data.init_args.root DIR, ...",
    )
    parser.add_argument("--out", type=Path, required=True, help="probe.json to write (must not exist)")
    parser.add_argument(
        "--clips", type=positive, default=10, help="evenly spaced clips per file (default 10)"
    )
    return parser


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    args, config_args = _parser().parse_known_args(list(argv or []))
    from tvssl.probe.run import probe_configs

    scores = probe_configs(config_args, args.out, args.clips)
    print(
        f"{args.out}: probe {scores.probe_top1:.1f} ± {scores.probe_se:.1f} %, k-NN {scores.knn_top1:.1f} ± "
        f"{scores.knn_se:.1f} % over {scores.n} test files ({scores.num_classes} classes, {scores.train_files} train)"
    )
    return 0
