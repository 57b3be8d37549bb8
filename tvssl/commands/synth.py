"""``tvssl synth``: write a synthetic long-form corpus or downstream set, so the suite runs without media.

The output folder gets a marker (``.tvssl-synth.json``) with the parameters; a folder that is not empty and
has no marker is refused unless ``--force``, so user data is never overwritten silently. Re-running into a
folder synth made replaces its titles and removes the ones the previous run listed that this run does not
write.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from data_modules import synthetic
from tvssl.errors import UserError, reports_user_errors

MARKER = ".tvssl-synth.json"
KINDS = ("movie", "tv", "ucf101", "hmdb51", "esc50", "downstream")


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
    p.add_argument("--fps", type=int, default=16, help="frame rate of titles (default: 16)")
    p.add_argument("--sample-rate", type=int, default=16000, help="audio rate of titles (default: 16000)")
    p.add_argument("--gop-seconds", type=float, default=2.0, help="keyframe interval of titles (default: 2)")
    p.add_argument(
        "--classes", type=int, default=5, help="downstream classes, from the event vocabulary (default: 5)"
    )
    p.add_argument(
        "--clips", type=int, default=None, help="clips per class (hmdb51, esc50) or per group (ucf101)"
    )
    p.add_argument("--workers", type=int, default=1, help="titles encoded in parallel processes (default: 1)")
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty folder not made by tvssl synth"
    )
    return p


def _prepare_out(out: Path, force: bool) -> list[str]:
    """Check the folder may be written; return the files a previous synth run listed there."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; pass a folder path")
    marker = out / MARKER
    if marker.is_file():
        try:
            return list(json.loads(marker.read_text()).get("files", []))
        except (json.JSONDecodeError, AttributeError):
            return []
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(
            f"{out} is not empty and was not made by tvssl synth (no {MARKER}); "
            "choose a new or empty folder, or pass --force to write into it (files with the same names "
            "are overwritten, nothing else is touched)"
        )
    return []


def _remove_stale(out: Path, stale: Sequence[str]) -> None:
    """Delete files an earlier synth run listed and this one did not write (only synth's own kinds of file)."""
    root = out.resolve()
    for rel in stale:
        path = (out / rel).resolve()
        if root not in path.parents or path.suffix not in {".mp4", ".avi", ".wav", ".txt", ".csv"}:
            continue
        path.unlink(missing_ok=True)
        folder = path.parent
        while folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


@reports_user_errors
def main(argv: Sequence[str] | None = None) -> int:
    return _run(_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    titles = args.kind in ("movie", "tv")
    args.width = args.width or 160
    args.height = args.height or (96 if titles else 120)
    previous = _prepare_out(out, args.force)
    created = not out.exists()
    marked = (out / MARKER).is_file()
    out.mkdir(parents=True, exist_ok=True)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "force"}
    # Marked before writing, so a run that dies half way can be rerun into the same folder without --force.
    (out / MARKER).write_text(json.dumps({"params": params, "complete": False, "files": previous}, indent=1))

    started = time.perf_counter()
    kind = args.kind
    try:
        if titles:
            paths = synthetic.synthesize_corpus(
                out,
                kind=kind,
                titles=args.titles,
                minutes=args.minutes,
                seed=args.seed,
                width=args.width,
                height=args.height,
                fps=args.fps,
                sample_rate=args.sample_rate,
                episodes_per_show=args.episodes,
                gop_seconds=args.gop_seconds,
                workers=args.workers,
                on_written=lambda p: print(f"wrote {p}", flush=True),
            )
        else:
            common = {"classes": args.classes, "seed": args.seed}
            size = {"width": args.width, "height": args.height}
            if args.clips is not None and kind != "downstream":
                common["clips_per_group" if kind == "ucf101" else "clips_per_class"] = args.clips
            if kind == "ucf101":
                paths = synthetic.synthesize_ucf101(out, **common, **size)
            elif kind == "hmdb51":
                paths = synthetic.synthesize_hmdb51(out, **common, **size)
            elif kind == "esc50":
                paths = synthetic.synthesize_esc50(out, **common)
            else:
                sets = synthetic.synthesize_downstream(out, seed=args.seed, classes=args.classes)
                paths = [p for group in sets.values() for p in group]
    except ValueError as exc:  # a setting was out of range: leave the folder as it was
        if not marked:
            (out / MARKER).unlink(missing_ok=True)
            if created and not any(out.iterdir()):
                out.rmdir()
        raise UserError(str(exc)) from exc

    if kind in ("ucf101", "hmdb51", "esc50"):
        paths += synthetic.split_files(kind, out, args.classes)
    elif kind == "downstream":
        paths += [
            p for k in ("ucf101", "hmdb51", "esc50") for p in synthetic.split_files(k, out / k, args.classes)
        ]
    files = sorted(p.relative_to(out).as_posix() for p in paths)
    _remove_stale(out, sorted(set(previous) - set(files)))
    (out / MARKER).write_text(json.dumps({"params": params, "complete": True, "files": files}, indent=1))
    seconds = time.perf_counter() - started
    print(f"tvssl synth: wrote {len(files)} {kind} files under {out} in {seconds:.1f} s")
    if kind in ("movie", "tv"):
        extra = " --kind tv" if kind == "tv" else ""
        print(f"next: tvssl index {out} --out {out / 'manifest.csv'}{extra}")
    else:
        roots = (
            [(k, out / k) for k in ("ucf101", "hmdb51", "esc50")] if kind == "downstream" else [(kind, out)]
        )
        for name, root in roots:
            print(f"next: use {root} as the root of the {name} datamodule (data.init_args.root)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
