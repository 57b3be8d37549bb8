"""`tvssl probe --out FILE [--clips N] --config FINETUNE.yaml [...overrides] [--and --out FILE2 ...]`.

Frozen-feature probe of one encoder, or of several on one split in one pass over its files. The model and data
come from a fine-tuning config exactly as `tvssl fit` reads it (so the clip spec and preprocessing are the
fine-tuning run's); ``--model.init_args.pretrained CKPT`` names the encoder, none means random initialisation
(give ``--model.init_args.arch``). Each ``--and`` starts the complete arguments of another encoder; all of them
must read the same split with the same clip settings, and its clips are decoded once for all.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tvssl.commands.arguments import positive
from tvssl.errors import UserError, reports_user_errors

GROUP_SEPARATOR = "--and"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvssl probe",
        description="Linear probe and k-NN on frozen encoder features of one downstream split; writes JSON.",
        epilog="Every other argument is a `tvssl fit` argument: --config FILE, --data.init_args.root DIR, ...; "
        f"`{GROUP_SEPARATOR}` starts the arguments of another encoder probed in the same pass.",
    )
    parser.add_argument("--out", type=Path, required=True, help="probe.json to write (must not exist)")
    parser.add_argument(
        "--clips", type=positive, default=None, help="evenly spaced clips per file (default 10)"
    )
    return parser


def split_groups(argv: Sequence[str]) -> list[list[str]]:
    """The argument groups of ``argv``, one per encoder, cut at each ``--and``."""
    groups: list[list[str]] = [[]]
    for arg in argv:
        if arg == GROUP_SEPARATOR:
            groups.append([])
        else:
            groups[-1].append(arg)
    return groups


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    parsed = [parser.parse_known_args(group) for group in split_groups(list(argv or []))]
    clips = {args.clips for args, _ in parsed if args.clips is not None}
    if len(clips) > 1:
        raise UserError(f"--clips differs between the encoders ({sorted(clips)}); one pass reads one count")
    from tvssl.probe.run import probe_configs

    clips_per_file = clips.pop() if clips else 10
    groups = [(config_args, args.out) for args, config_args in parsed]
    for (_, out), scores in zip(groups, probe_configs(groups, clips_per_file), strict=True):
        print(
            f"{out}: probe {scores.probe_top1:.1f} ± {scores.probe_se:.1f} %, k-NN {scores.knn_top1:.1f} ± "
            f"{scores.knn_se:.1f} % over {scores.n} test files ({scores.num_classes} classes, "
            f"{scores.train_files} train)"
        )
    return 0
