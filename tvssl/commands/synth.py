"""``tvssl synth``: write a synthetic long-form corpus or downstream set, so the suite runs without media.

Parsing and printing only; the folder rules (a marker, foreign folders refused unless ``--force``, stale
files of an earlier run removed) are ``tvssl.synthesis``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from tvssl.errors import reports_user_errors
from tvssl.progress import Reporter
from tvssl.synthesis import (
    DOWNSTREAM_KINDS,
    KINDS,
    MARKER,
    TITLE_KINDS,
    SynthRequest,
    progress_units,
    synthesize,
)

__all__ = ["MARKER", "main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tvssl synth",
        description="Write synthetic titles (movie, tv) or downstream sets (ucf101, hmdb51, esc50, all).",
    )
    p.add_argument("out", type=Path, help="output folder (created; must be empty or made by tvssl synth)")
    p.add_argument("--kind", choices=KINDS, default="movie", help="what to generate (default: movie)")
    p.add_argument("--titles", type=int, default=4, help="movies, or shows for --kind tv (default: 4)")
    p.add_argument("--minutes", type=float, default=1.0, help="length of each movie/episode (default: 1)")
    p.add_argument("--episodes", type=int, default=3, help="episodes per show for --kind tv (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same content (default: 0)")
    p.add_argument("--width", type=int, default=None, help="frame width (default: 160)")
    p.add_argument(
        "--height", type=int, default=None, help="frame height (default: 96 titles, 120 downstream)"
    )
    p.add_argument(
        "--fps",
        type=int,
        default=None,
        help="frame rate (default: 16 for titles; UCF101 25 and HMDB51 30, as the real sets)",
    )
    p.add_argument("--sample-rate", type=int, default=16000, help="audio rate of titles (default: 16000)")
    p.add_argument("--gop-seconds", type=float, default=2.0, help="keyframe interval of titles (default: 2)")
    p.add_argument(
        "--classes", type=int, default=5, help="downstream classes, from the event vocabulary (default: 5)"
    )
    p.add_argument(
        "--clips",
        type=int,
        default=None,
        help="clips per class (hmdb51, esc50, downstream) or per group (ucf101)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="titles (or downstream sets) written in parallel processes (default: 1)",
    )
    p.add_argument(
        "--productions",
        action="store_true",
        help="give every movie (every TV show) a production of its own: a colour grade and film age in the "
        "picture, and a room tone, hiss and lost treble in the sound that follow from them by one rule, as "
        "films differ in how they were shot and mixed (default: none)",
    )
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty folder not made by tvssl synth"
    )
    p.add_argument("--verbose", action="store_true", help="name every file written (default: a progress bar)")
    return p


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    force, verbose = args.pop("force"), args.pop("verbose")
    request = SynthRequest(**args)
    total, unit = progress_units(request)
    report = Reporter(unit)  # a sweep step's bar (tvssl.progress); nothing when run by hand
    # The terminal's bar starts with the first file, so a setting refused before any is written stays one line.
    bar: tqdm | None = None
    done = 0

    def written(path: Path) -> None:
        nonlocal bar, done
        done += 1
        report(done, total)
        if verbose:
            print(f"wrote {path}", flush=True)
            return
        if bar is None:
            bar = tqdm(total=total, desc=f"tvssl synth {request.kind}", unit=f" {unit}", file=sys.stderr)
        bar.update()

    try:
        result = synthesize(request, force=force, on_written=written)
    finally:
        if bar is not None:
            bar.close()
    out, kind = request.out, request.kind
    print(f"tvssl synth: wrote {len(result.files)} {kind} files under {out} in {result.seconds:.1f} s")
    if kind in TITLE_KINDS:
        extra = " --kind tv" if kind == "tv" else ""
        print(f"next: tvssl index {out} --out {out / 'manifest.csv'}{extra}")
    else:
        roots = [(k, out / k) for k in DOWNSTREAM_KINDS] if kind == "downstream" else [(kind, out)]
        for name, root in roots:
            print(f"next: use {root} as the root of the {name} datamodule (data.init_args.root)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
