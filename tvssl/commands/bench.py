"""``tvssl bench decode|loader``: clips/s of the data pipeline, with the ratios that say where time goes.

``tvssl bench decode --make-title /tmp/bench`` first writes the benchmark title (10 minutes of 1280x720 H.264/AAC
at 24 fps with a keyframe every 10 s, like a film) and its manifest, then benchmarks it; later runs reuse it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from tvssl import throughput
from tvssl.commands.arguments import positive, seconds
from tvssl.errors import UserError, config_checks, reports_user_errors

BENCH_TITLE = {"minutes": 10.0, "width": 1280, "height": 720, "fps": 24, "gop_seconds": 10.0}


def _window(text: str) -> int | str:
    try:
        return throughput.parse_window(text)
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
    dec.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")

    load = verbs.add_parser(
        "loader",
        prog="tvssl bench loader",
        description="Clips/s of the training DataLoader of a pretraining config at several worker counts. "
        "Unknown --data.KEY VALUE options override data.init_args.KEY.",
    )
    load.add_argument("--config", type=Path, required=True, help="pretraining YAML (bases are expanded)")
    load.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. data.init_args.batch_size=16 (VALUE is YAML); repeatable",
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
    return parser


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.verb != "loader":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _one_thread()
    with config_checks():
        return _decode(args) if args.verb == "decode" else _loader(args, extra)


def _one_thread() -> None:
    """One decoder thread and one torch thread per process, as in training workers."""
    import torch

    torch.set_num_threads(1)


def _load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def make_title(folder: Path, minutes: float = BENCH_TITLE["minutes"]) -> Path:
    """The benchmark title and ``folder/manifest.csv``; an existing complete pair is reused."""
    from data_modules.index import build_index
    from data_modules.synthetic import synthesize_corpus

    manifest = folder / "manifest.csv"
    video = folder / "movie_000.mp4"
    if not video.is_file():
        if folder.exists() and any(p for p in folder.iterdir() if p.name != "manifest.csv"):
            raise UserError(f"{folder} holds other files; pass an empty or new folder to --make-title")
        print(
            f"writing the benchmark title into {folder} (about a minute per 10 minutes of 720p)", flush=True
        )
        synthesize_corpus(
            folder,
            kind="movie",
            titles=1,
            minutes=minutes,
            width=BENCH_TITLE["width"],
            height=BENCH_TITLE["height"],
            fps=BENCH_TITLE["fps"],
            gop_seconds=BENCH_TITLE["gop_seconds"],
        )
    build_index(folder, manifest, kind="movie", workers=1, progress=False, print_summary=False)
    return manifest


def _decode(args: argparse.Namespace) -> int:
    from data_modules.decoding import ClipSpec

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
    titles = throughput.load_titles(manifest, args.root, spec.slot_seconds, args.title)
    clips = args.clips - args.clips % args.k
    described = ", ".join(
        f"{t.title_id} ({float(t.duration):.1f} s, {t.num_slots} slots)" for t in titles[:3]
    )
    more = f" and {len(titles) - 3} more" if len(titles) > 3 else ""
    print(f"tvssl bench decode: {len(titles)} title(s): {described}{more}")
    print(
        f"clips: k={args.k} w={args.w}, {clips} clips per round ({clips // max(1, args.k)} groups), "
        f"{args.rounds} rounds, seed {args.seed}; clip = {spec.num_frames} frames at {float(spec.frame_rate):g} fps "
        f"+ {float(spec.slot_seconds):g} s of audio at {spec.sample_rate} Hz, short side {spec.short_side}"
    )
    print(f"before: {_load_average()}", flush=True)

    def progress(r: int, measures: dict[str, throughput.Measure]) -> None:
        each = "  ".join(f"{name} {m.clips_per_s:.2f}" for name, m in measures.items())
        print(f"round {r + 1}/{args.rounds}: clips/s  {each}", flush=True)

    bench = throughput.bench_decode(
        titles,
        spec,
        args.k,
        args.w,
        clips=args.clips,
        rounds=args.rounds,
        seed=args.seed,
        torchcodec=not args.no_torchcodec,
        on_round=progress,
    )
    print(f"after: {_load_average()}")
    print()
    print(throughput.decode_table(bench))
    decode, augment = throughput.augment_cost(titles, spec, args.k, args.w, args.clips, args.seed)
    print(
        f"worker CPU per clip: decode + scale {decode * 1000:.1f} ms; crops, flips, jitter, gain and log-mel "
        f"would add {augment * 1000:.1f} ms per clip in a worker (the suite runs them batched on the device)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(bench.as_dict(), indent=1))
    return 0


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _overrides(sets: Sequence[str], extra: Sequence[str]) -> list[tuple[str, Any]]:
    """``--set k=v`` and ``--data.KEY VALUE`` / ``--data.KEY=VALUE`` pairs, in command-line order."""
    pairs: list[tuple[str, Any]] = []
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE (e.g. data.init_args.batch_size=16), got {item!r}")
        pairs.append((key, _yaml_value(value)))
    i = 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--data."):
            raise UserError(f"unknown option {arg!r}; overrides are --data.KEY VALUE or --set KEY=VALUE")
        key, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 >= len(extra):
                raise UserError(f"{arg} needs a value")
            value, i = extra[i + 1], i + 1
        pairs.append((key, _yaml_value(value)))
        i += 1
    return pairs


def _loader(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from tvssl.configs import resolved_settings

    if any(n < 0 for n in args.workers):
        raise UserError(f"--workers must be >= 0, got {args.workers}")
    settings = resolved_settings(args.config)
    for key, value in _overrides(args.set, extra):
        throughput.set_path(settings, key, value)
    init = (settings.get("data") or {}).get("init_args") or {}
    print(
        f"tvssl bench loader: {args.config} -> {(settings.get('data') or {}).get('class_path')}, "
        f"batch_size={init.get('batch_size')}, k={init.get('k')}, w={init.get('w')}, "
        f"short_side={init.get('short_side')}; {args.warmup} warm-up + {args.batches} timed batches per run, "
        f"{args.rounds} round(s); epoch sized to those batches"
    )
    print(f"before: {_load_average()}", flush=True)
    runs = throughput.bench_loader(
        settings,
        args.workers,
        batches=args.batches,
        warmup=args.warmup,
        rounds=args.rounds,
        calibrate_seconds=args.calibrate_seconds,
        on_run=lambda run: print(
            f"  {run.workers} worker(s): {run.clips_per_s:.2f} clips/s "
            f"(machine: {run.machine:.2f}x the work of one busy process)",
            flush=True,
        ),
    )
    print(f"after: {_load_average()}")
    print()
    print(throughput.loader_table(runs))
    return 0
