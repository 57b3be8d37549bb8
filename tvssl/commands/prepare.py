"""``tvssl prepare SRC_MANIFEST DST``: a training copy of a corpus, for near-constant random-access cost.

Video is scaled to the training short side with a keyframe at every slot boundary, audio is re-encoded to AAC,
title time is kept; or, with `--clip-exact`, only the clips of one clip spec are kept (``data_modules.clip_copy``). Titles run in parallel processes; re-running skips verified outputs and redoes broken
ones, so an interrupted run is resumed by running it again. Writes DST/manifest.csv.

On a cluster, `--shard I/N` prepares one shard of the titles into DST (its partial manifest and output list go
to DST/manifest.csv.shards/) and `--merge N` writes DST/manifest.csv from the N finished shards
(``data_modules.prepare_shards``; `experiments/slurm/prepare.sbatch`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from data_modules.clip_spec import ClipSpec
from data_modules.index import summarize
from data_modules.manifest import read_manifest
from data_modules.prepare import FAILED, PrepareSettings, TitleOutcome, prepare_corpus, summarize_outcomes
from data_modules.prepare_shards import merge_prepared
from tvssl.commands.arguments import positive, seconds
from tvssl.commands.index import add_shard_options
from tvssl.errors import UserError, config_checks, reports_user_errors
from tvssl.progress import Reporter


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvssl prepare",
        description="Transcode the usable titles of a manifest for training: short side scaled, a keyframe at "
        "every slot boundary, AAC audio, title time kept; or, with --clip-exact, only the clips of one clip spec. "
        "Resumable; writes DST/manifest.csv.",
    )
    parser.add_argument("manifest", type=Path, metavar="SRC_MANIFEST", help="manifest of the source corpus")
    parser.add_argument(
        "dst",
        type=Path,
        metavar="DST",
        help="folder of the prepared copy (created; must be new, empty or made by tvssl prepare)",
    )
    parser.add_argument(
        "--src-root",
        type=Path,
        default=None,
        help="folder the source manifest's paths are relative to (default: the manifest's folder, or ROOT "
        "for ROOT/.tvssl/manifest.csv)",
    )
    parser.add_argument(
        "--short-side", type=positive, default=128, help="short side in pixels (default: 128)"
    )
    parser.add_argument(
        "--keyframe-every",
        type=seconds,
        default=Fraction(2),
        metavar="SLOT",
        help="slot length in seconds: a keyframe at every slot boundary (default: 2)",
    )
    parser.add_argument("--crf", type=int, default=23, help="x264 quality, lower is better (default: 23)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default: veryfast)")
    parser.add_argument(
        "--audio-rate", type=positive, default=None, help="resample audio to this rate (default: keep)"
    )
    parser.add_argument(
        "--clip-exact",
        action="store_true",
        help="keep only the clips training reads (per slot, --num-frames frames at --frame-rate centred in the "
        "slot, and the slot's audio mono at --audio-rate, default 16000): several times faster random access; "
        "the copy serves only a training config with these clip settings",
    )
    parser.add_argument(
        "--num-frames", type=positive, default=8, help="frames per clip, with --clip-exact (default: 8)"
    )
    parser.add_argument(
        "--frame-rate",
        type=seconds,
        default=Fraction(16),
        help="clip frame rate, with --clip-exact (default: 16)",
    )
    parser.add_argument(
        "--workers",
        type=positive,
        default=None,
        help="titles transcoded in parallel processes (default: one per CPU core)",
    )
    parser.add_argument(
        "--kind",
        choices=("movie", "tv"),
        default=None,
        help="kind of the new manifest (default: the source's)",
    )
    add_shard_options(parser, "its partial manifest", "DST/manifest.csv.shards/")
    return parser


def _settings(args: argparse.Namespace) -> PrepareSettings:
    if not args.clip_exact:
        return PrepareSettings(
            short_side=args.short_side,
            keyframe_every=args.keyframe_every,
            crf=args.crf,
            preset=args.preset,
            audio_rate=args.audio_rate,
        )
    spec = ClipSpec(
        slot_seconds=args.keyframe_every,
        num_frames=args.num_frames,
        frame_rate=args.frame_rate,
        sample_rate=args.audio_rate or ClipSpec.sample_rate,
        short_side=args.short_side,
    )
    return PrepareSettings.clip_exact(spec, crf=args.crf, preset=args.preset)


def _line(outcome: TitleOutcome) -> str:
    took = f" in {outcome.seconds:.1f} s" if outcome.seconds >= 0.05 else ""
    detail = f": {outcome.detail}" if outcome.detail else ""
    return f"{outcome.status:<9} {outcome.path}{took}{detail}"


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with config_checks():
        settings = _settings(args)
        if not args.manifest.is_file():
            raise UserError(f"source manifest {args.manifest} does not exist; make it with `tvssl index`")
        started = time.perf_counter()
        if args.merge is not None:
            return _merge(args, settings, started)
        titles = read_manifest(args.manifest)
        total = sum(args.shard is None or args.shard.holds(r.path) for r in titles)
        done: list[TitleOutcome] = []
        bar = Reporter("titles")

        def outcome(o: TitleOutcome) -> None:
            print(_line(o), flush=True)
            done.append(o)
            bar(len(done), total)

        result = prepare_corpus(
            args.manifest,
            args.dst,
            settings,
            src_root=args.src_root,
            workers=args.workers or os.cpu_count() or 1,
            kind=args.kind,
            on_outcome=outcome,
            shard=args.shard,
        )
    print(
        f"tvssl prepare: {summarize_outcomes(result.outcomes)} in {time.perf_counter() - started:.1f} s; "
        f"wrote {result.manifest}"
    )
    print(summarize(result.records))
    failed = result.count(FAILED)
    if failed:
        print(
            f"tvssl prepare: {failed} title(s) failed (see above); fix or exclude them and run again",
            file=sys.stderr,
        )
        return 1
    return 0


def _merge(args: argparse.Namespace, settings: PrepareSettings, started: float) -> int:
    """``--merge N``: the manifest from the finished shards; exit 1 when titles failed in their shard.

    Takes the shard runs' options (``--src-root`` is not needed but accepted), so one sbatch line serves both.
    """
    result = merge_prepared(
        args.manifest,
        args.dst,
        settings,
        args.merge,
        workers=args.workers or os.cpu_count() or 1,
        kind=args.kind,
    )
    print(
        f"tvssl prepare: merged {args.merge} shard(s), {len(result.records)} output(s), in "
        f"{time.perf_counter() - started:.1f} s; wrote {result.manifest}"
    )
    print(summarize(result.records))
    if result.failed:
        shown = ", ".join(result.failed[:3]) + (
            f" and {len(result.failed) - 3} more" if len(result.failed) > 3 else ""
        )
        print(
            f"tvssl prepare: {len(result.failed)} title(s) failed in their shard ({shown}); fix or exclude "
            "them, run their shards again and merge again",
            file=sys.stderr,
        )
        return 1
    return 0
