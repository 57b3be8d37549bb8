"""Synthetic data sets written into a folder that ``tvssl synth`` owns, so user data is never overwritten.

The output folder gets a marker (``.tvssl-synth.json``) with the parameters; a folder that is not empty and
has no marker is refused unless ``force``. Re-running into a folder synth made replaces its titles and
removes the ones the previous run listed that this run does not write. The marker is written before the
first file (incomplete) and again after the last, so a run that dies half way can be rerun without ``force``,
and a setting out of range leaves the folder as it was.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_modules import synthetic
from tvssl.errors import UserError

MARKER = ".tvssl-synth.json"
TITLE_KINDS = ("movie", "tv")
DOWNSTREAM_KINDS = ("ucf101", "hmdb51", "esc50")
KINDS = (*TITLE_KINDS, *DOWNSTREAM_KINDS, "downstream")
"""``downstream`` writes all three downstream sets, each into its own sub-folder."""
SYNTH_SUFFIXES = frozenset({".mp4", ".avi", ".wav", ".txt", ".csv"})
"""The only kinds of file synth writes, hence the only ones it ever removes."""


@dataclass(frozen=True)
class SynthRequest:
    """What to generate; ``width`` / ``height`` None mean 160 and 96 (titles) or 120 (downstream clips), ``fps``
    None 16 for titles and each downstream set's own rate (UCF101 25, HMDB51 30)."""

    out: Path
    kind: str = "movie"
    titles: int = 4
    minutes: float = 1.0
    episodes: int = 3
    seed: int = 0
    width: int | None = None
    height: int | None = None
    fps: int | None = None
    sample_rate: int = 16000
    gop_seconds: float = 2.0
    classes: int = 5
    clips: int | None = None
    workers: int = 1
    productions: bool = False

    def with_frame_size(self) -> SynthRequest:
        titles = self.kind in TITLE_KINDS
        return dataclasses.replace(
            self,
            width=self.width or 160,
            height=self.height or (96 if titles else 120),
            fps=self.fps or (16 if titles else None),
        )

    def params(self) -> dict[str, Any]:
        """The marker's record of this request (paths as text)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class SynthResult:
    files: list[str]
    """Every file written, relative to the output folder, sorted."""
    seconds: float


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
        if root not in path.parents or path.suffix not in SYNTH_SUFFIXES:
            continue
        path.unlink(missing_ok=True)
        folder = path.parent
        while folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def _generate(request: SynthRequest, on_written: Callable[[Path], None]) -> list[Path]:
    """The files of one request, written by the generator of its kind."""
    r, out, kind = request, request.out, request.kind
    if kind in TITLE_KINDS:
        assert r.fps is not None, "with_frame_size gives titles their default rate"
        return synthetic.synthesize_corpus(
            out,
            kind=kind,
            titles=r.titles,
            minutes=r.minutes,
            seed=r.seed,
            width=r.width,
            height=r.height,
            fps=r.fps,
            sample_rate=r.sample_rate,
            episodes_per_show=r.episodes,
            gop_seconds=r.gop_seconds,
            workers=r.workers,
            productions=r.productions,
            on_written=on_written,
        )
    common: dict[str, Any] = {"classes": r.classes, "seed": r.seed}
    size = {"width": r.width, "height": r.height}
    rate = {"fps": r.fps} if r.fps is not None else {}
    if r.clips is not None and kind != "downstream":
        common["clips_per_group" if kind == "ucf101" else "clips_per_class"] = r.clips
    if kind == "downstream":
        sets = synthetic.synthesize_downstream(
            out,
            seed=r.seed,
            classes=r.classes,
            clips=r.clips,
            **size,
            **rate,
            workers=r.workers,
            on_set_written=on_written,
        )
        return [p for group in sets.values() for p in group]
    if kind == "ucf101":
        paths = synthetic.synthesize_ucf101(out, **common, **size, **rate)
    elif kind == "hmdb51":
        paths = synthetic.synthesize_hmdb51(out, **common, **size, **rate)
    else:
        paths = synthetic.synthesize_esc50(out, **common)
    on_written(out)
    return paths


def progress_units(request: SynthRequest) -> tuple[int, str]:
    """How many times ``synthesize`` calls ``on_written`` for ``request``, and what one call stands for: a title
    file (an episode of a show), or a finished downstream set."""
    if request.kind in TITLE_KINDS:
        return request.titles * (request.episodes if request.kind == "tv" else 1), "titles"
    return (len(DOWNSTREAM_KINDS) if request.kind == "downstream" else 1), "sets"


def _split_files(request: SynthRequest) -> list[Path]:
    """The official split lists of the downstream sets just written (none for titles)."""
    out, kind, classes = request.out, request.kind, request.classes
    if kind in DOWNSTREAM_KINDS:
        return synthetic.split_files(kind, out, classes)
    if kind == "downstream":
        return [p for k in DOWNSTREAM_KINDS for p in synthetic.split_files(k, out / k, classes)]
    return []


def synthesize(
    request: SynthRequest, force: bool = False, on_written: Callable[[Path], None] = lambda _: None
) -> SynthResult:
    """Write ``request`` into its folder (see the module docstring for when a folder is refused).

    ``on_written`` gets each title file as it is written, or each downstream set's folder once that set is done
    (``progress_units``)."""
    if request.workers < 1:
        raise UserError(f"--workers must be >= 1, got {request.workers}")
    if request.productions and request.kind not in TITLE_KINDS:
        raise UserError(
            f"--productions gives titles (--kind movie or tv) a production; the {request.kind} clips have none, "
            "so that nothing of it can be used downstream: drop --productions"
        )
    request = request.with_frame_size()
    out = request.out
    previous = _prepare_out(out, force)
    created = not out.exists()
    marked = (out / MARKER).is_file()
    out.mkdir(parents=True, exist_ok=True)
    params = request.params()
    (out / MARKER).write_text(json.dumps({"params": params, "complete": False, "files": previous}, indent=1))
    started = time.perf_counter()
    try:
        paths = _generate(request, on_written)
    except ValueError as exc:  # a setting was out of range: leave the folder as it was
        if not marked:
            (out / MARKER).unlink(missing_ok=True)
            if created and not any(out.iterdir()):
                out.rmdir()
        raise UserError(str(exc)) from exc
    paths += _split_files(request)
    files = sorted(p.relative_to(out).as_posix() for p in paths)
    _remove_stale(out, sorted(set(previous) - set(files)))
    (out / MARKER).write_text(json.dumps({"params": params, "complete": True, "files": files}, indent=1))
    return SynthResult(files, time.perf_counter() - started)
