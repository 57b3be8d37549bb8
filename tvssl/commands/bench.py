"""``tvssl bench decode|loader|step``: the command line of ``tvssl.bench``; it parses arguments and dispatches.

``tvssl bench decode --make-title /tmp/bench`` first writes the benchmark title (10 minutes of 1280x720 H.264/AAC
at 24 fps with a keyframe every 10 s, like a film) and its manifest, then benchmarks it; later runs reuse it.
``tvssl bench loader`` hands ``--config`` and every option it does not know itself (``--data.root /x``) to the
training command line's parser, so the loader it times is the one ``tvssl fit`` would build; ``tvssl bench step``
does the same for the model whose training step it times.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from tvssl.bench.clips import BENCH_TITLE, parse_window
from tvssl.commands.arguments import positive, seconds
from tvssl.errors import UserError, config_checks, reports_user_errors


def _window(text: str) -> int | str:
    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tvssl bench", description="Measure the data pipeline's clips/s.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    dec = verbs.add_parser(
        "decode",
        prog="tvssl bench decode",
        description="Interleaved rounds on the same (k, w) clips: per-clip open+seek+decode (what typical "
        "loaders do), the suite's grouped reader, and sequential decoding of the title (the limit).",
    )
    dec.add_argument("--manifest", type=Path, help="manifest CSV of the titles to read (tvssl index)")
    dec.add_argument(
        "--root",
        type=Path,
        default=None,
        help="folder the manifest's paths are relative to (default: its folder)",
    )
    dec.add_argument(
        "--title", default=None, help="bench only this title (its title_id or path in the manifest)"
    )
    dec.add_argument(
        "--make-title",
        type=Path,
        metavar="DIR",
        help="write the benchmark title (10 min, 1280x720 H.264/AAC, 24 fps, 10 s GOP) and DIR/manifest.csv "
        "if missing, and bench it unless --manifest is given",
    )
    dec.add_argument(
        "--make-title-minutes",
        type=float,
        default=BENCH_TITLE["minutes"],
        help="length of the title --make-title writes (default: 10)",
    )
    dec.add_argument("--k", type=positive, default=16, help="clips per group (default: 16)")
    dec.add_argument("--w", type=_window, default="Mn", help="window in slots, or Mn (default: Mn)")
    dec.add_argument(
        "--clips", type=positive, default=64, help="clips per round, a multiple of k (default: 64)"
    )
    dec.add_argument("--rounds", type=positive, default=5, help="interleaved rounds (default: 5)")
    dec.add_argument("--seed", type=int, default=0, help="seed of the clip choice (default: 0)")
    dec.add_argument("--slot-seconds", type=seconds, default=Fraction(2), help="slot length (default: 2)")
    dec.add_argument("--num-frames", type=positive, default=8, help="frames per clip (default: 8)")
    dec.add_argument("--frame-rate", type=seconds, default=Fraction(16), help="clip frame rate (default: 16)")
    dec.add_argument("--sample-rate", type=positive, default=16000, help="audio rate (default: 16000)")
    dec.add_argument("--short-side", type=positive, default=128, help="scaled short side (default: 128)")
    dec.add_argument("--no-torchcodec", action="store_true", help="leave out the torchcodec column")
    dec.add_argument(
        "--prepared",
        type=Path,
        action="append",
        default=[],
        metavar="MANIFEST",
        help="also read the same clips from this prepared copy (manifest of tvssl prepare, with or without "
        "--clip-exact) and compare them with the source's; repeatable",
    )
    dec.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")

    load = verbs.add_parser(
        "loader",
        prog="tvssl bench loader",
        description="Clips/s of the training DataLoader of a pretraining config at several worker counts. "
        "Other options (--data.KEY VALUE, --trainer.KEY VALUE, ...) go to the training command line's parser, "
        "as for tvssl fit.",
    )
    _add_config_option(load)
    load.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. data.init_args.batch_size=16 (same as --KEY=VALUE); repeatable",
    )
    load.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    load.add_argument("--batches", type=positive, default=20, help="timed batches per run (default: 20)")
    load.add_argument("--warmup", type=int, default=3, help="untimed batches first (default: 3)")
    load.add_argument(
        "--rounds", type=positive, default=1, help="runs per worker count, interleaved (default: 1)"
    )
    load.add_argument(
        "--calibrate-seconds",
        type=float,
        default=1.0,
        help="before each run, spin that many busy processes this long to measure how much parallelism the "
        "machine gives right now (0: skip; default: 1)",
    )

    step = verbs.add_parser(
        "step",
        prog="tvssl bench step",
        description="Clips/s and peak memory of one device's training step (device preprocessing, forward, "
        "backward, optimizer step) of a pretraining config on synthetic inputs of its shapes, and the loader "
        "workers one device needs. Other options (--model.KEY VALUE, --trainer.devices N, ...) go to the "
        "training command line's parser, as for tvssl fit.",
    )
    _add_config_option(step)
    step.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. data.init_args.batch_size=64 (same as --KEY=VALUE); repeatable",
    )
    step.add_argument("--steps", type=positive, default=10, help="timed steps (default: 10)")
    step.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    step.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    step.add_argument(
        "--channels-last-3d", action="store_true", help="video encoder and clips in channels_last_3d"
    )
    step.add_argument("--compile", action="store_true", help="torch.compile the encoders and heads")
    for source, what in (
        ("loader", "one worker of the configured loader, as tvssl bench loader prints"),
        ("source", "one worker reading the source corpus"),
        ("prepared", "one worker reading the prepared corpus (tvssl prepare)"),
    ):
        step.add_argument(
            f"--{source}-clips-per-s",
            type=float,
            default=None,
            metavar="X",
            help=f"clips/s of {what}: print the workers one device needs",
        )
    return parser


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    """`tvssl bench VERB ...`; the loader and step verbs pass the options it does not know on to the training parser."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.verb not in ("loader", "step"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.verb == "step":
        # The step uses every core torch is given, as training does; workers are the loader's business.
        with config_checks():
            return _step(args, extra)
    _one_thread()
    with config_checks():
        return _decode(args) if args.verb == "decode" else _loader(args, extra)


def _one_thread() -> None:
    """One decoder thread and one torch thread per process, as in training workers."""
    import torch

    torch.set_num_threads(1)


def _decode(args: argparse.Namespace) -> int:
    from data_modules.decoding import ClipSpec
    from tvssl.bench.clips import make_title
    from tvssl.bench.decode import run_decode_bench

    manifest = args.manifest
    if args.make_title is not None:
        made = make_title(args.make_title, args.make_title_minutes)
        print(f"benchmark title ready: {made}")
        manifest = manifest or made
    if manifest is None:
        raise UserError("pass --manifest M (from tvssl index) or --make-title DIR")
    spec = ClipSpec(
        slot_seconds=args.slot_seconds,
        num_frames=args.num_frames,
        frame_rate=args.frame_rate,
        sample_rate=args.sample_rate,
        short_side=args.short_side,
    )
    run_decode_bench(
        manifest,
        spec,
        args.k,
        args.w,
        root=args.root,
        title=args.title,
        clips=args.clips,
        rounds=args.rounds,
        seed=args.seed,
        torchcodec=not args.no_torchcodec,
        json_path=args.json,
        prepared=args.prepared,
    )
    return 0


def overrides(sets: Sequence[str], extra: Sequence[str]) -> list[str]:
    """LightningCLI arguments for ``--set KEY=VALUE`` (as ``--KEY=VALUE``) followed by the other options."""
    out = []
    for item in sets:
        key, sep, _ = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE (e.g. data.init_args.batch_size=16), got {item!r}")
        out.append(f"--{item}")
    return [*out, *extra]


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config`` of the benches that build a training run: repeated, it layers YAMLs as ``tvssl fit`` does."""
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        required=True,
        help="pretraining YAML (bases are expanded); repeat to layer one over another, as for tvssl fit",
    )


def _check_configs(configs: Sequence[Path]) -> None:
    for config in configs:
        if not config.is_file():
            raise UserError(
                f"config file {config} does not exist; pass a pretraining YAML such as "
                "experiments/movie_k16_Mn.yaml"
            )


def _loader(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from tvssl.bench.loader import run_loader_bench

    if any(n < 0 for n in args.workers):
        raise UserError(f"--workers must be >= 0, got {args.workers}")
    _check_configs(args.config)
    run_loader_bench(
        args.config,
        overrides(args.set, extra),
        args.workers,
        batches=args.batches,
        warmup=args.warmup,
        rounds=args.rounds,
        calibrate_seconds=args.calibrate_seconds,
    )
    return 0


def _step(args: argparse.Namespace, extra: Sequence[str]) -> int:
    import torch

    from tvssl.bench.step import RATE_SOURCES, run_step_bench

    if args.warmup < 0:
        raise UserError(f"--warmup must be >= 0, got {args.warmup}")
    _check_configs(args.config)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda, but torch sees no CUDA device on this machine; use --device cpu")
    rates = {s: getattr(args, f"{s}_clips_per_s") for s in RATE_SOURCES}
    rates = {s: r for s, r in rates.items() if r is not None}
    bad = {s: r for s, r in rates.items() if r <= 0}
    if bad:
        raise UserError(f"clips/s per worker must be positive, got {bad}")
    run_step_bench(
        args.config,
        overrides(args.set, extra),
        device=args.device,
        steps=args.steps,
        warmup=args.warmup,
        channels_last_3d=args.channels_last_3d,
        compile=args.compile,
        rates=rates,
    )
    return 0
