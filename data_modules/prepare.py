"""A training copy of a corpus: every usable title transcoded (``data_modules.transcode``), and its manifest.

Work is resumable: a later run skips an output that carries the tvssl prepare tag and is verified (both streams,
duration within a frame of the source, decodable to the end), and redoes one that fails. The destination is the
copy's alone: a run refuses, before it writes anything, a folder holding any file that tvssl prepare did not
make (its tag, its manifest, or its list of outputs in ``.tvssl-prepare.json``, which keeps recognising an
output whose tag no longer reads, e.g. one cut short by an interrupted copy), and the manifest it writes lists
only the outputs of that run, so no file of someone else's is ever overwritten or indexed.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

import av

from data_modules.atomic_write import write_atomic
from data_modules.encoding import AAC_FRAME
from data_modules.index import (
    IndexResult,
    ManifestError,
    TitleRecord,
    build_index,
    read_manifest,
    write_manifest,
)
from data_modules.media import MediaError, open_media, title_span
from data_modules.transcode import (
    TAG,
    TAG_VERSION,
    PrepareSettings,
    made_by_prepare,
    read_tag,
    source_facts,
    transcode_title,
)

__all__ = [
    "EXCLUDED",
    "FAILED",
    "MANIFEST",
    "PREPARED",
    "REDONE",
    "SKIPPED",
    "TAG",
    "PrepareResult",
    "PrepareSettings",
    "TitleOutcome",
    "check_output",
    "foreign_files",
    "manifest_root",
    "output_name",
    "prepare_corpus",
    "prepare_one",
    "summarize_outcomes",
    "transcode_title",
]

PREPARED = "prepared"
SKIPPED = "skipped"
REDONE = "redone"
EXCLUDED = "excluded"
FAILED = "failed"

MANIFEST = "manifest.csv"
"""The manifest of the prepared copy, at the top of the destination."""

MARKER = ".tvssl-prepare.json"
"""Hidden list of the outputs tvssl prepare wrote into a destination."""

FOREIGN_LISTED = 3
"""Foreign files named in the refusal; the rest are counted."""


@dataclass(frozen=True)
class TitleOutcome:
    """What happened to one manifest row."""

    path: str
    output: str
    status: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class PrepareResult:
    outcomes: list[TitleOutcome]
    manifest: Path
    records: IndexResult

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


def manifest_root(manifest: str | os.PathLike) -> Path:
    """Paths of a manifest are relative to the corpus root: its folder, or the corpus of ``ROOT/.tvssl/``."""
    folder = Path(manifest).resolve().parent
    return folder.parent if folder.name == ".tvssl" else folder


def output_name(rel: str) -> str:
    """The prepared copy of ``Show/S01E01.mkv`` is ``Show/S01E01.mp4``."""
    return PurePosixPath(rel).with_suffix(".mp4").as_posix()


def check_output(dst: str | os.PathLike, src: str | os.PathLike, settings: PrepareSettings) -> str | None:
    """None when ``dst`` is a complete copy of ``src`` made with ``settings``; otherwise why it must be redone."""
    path = Path(dst)
    if not path.is_file():
        return "no output yet"
    if path.stat().st_size == 0:
        return "empty output"
    try:
        with open_media(path) as container:
            tag = read_tag(container)
            if tag is None:
                return "output has no tvssl prepare tag (not made by tvssl prepare)"
            if tag.get("version") != TAG_VERSION or tag.get("settings") != settings.as_tag():
                return f"output was made with other settings ({tag.get('settings')})"
            source = tag.get("source", {})
            if {k: source.get(k) for k in ("size", "mtime_ns")} != source_facts(Path(src)):
                return "the source changed since the output was made"
            origin, duration = title_span(container)
            expected = Fraction(source["duration"])
            # One video frame, or one AAC frame: the encoder pads its last frame and MP4 keeps the padding.
            slack = max(
                Fraction(source["frame"]), Fraction(AAC_FRAME, container.streams.audio[0].sample_rate)
            )
            if abs(duration - expected) > slack or abs(origin) > slack:
                return (
                    f"output spans [{float(origin):.3f}, {float(origin + duration):.3f}) s, the source title "
                    f"[0, {float(expected):.3f}) s (incomplete or corrupt)"
                )
            height, width = (
                container.streams.video[0].codec_context.height,
                container.streams.video[0].codec_context.width,
            )
            if min(width, height) != settings.short_side:
                return f"output is {width}x{height}, not short side {settings.short_side}"
            for stream in (container.streams.video[0], container.streams.audio[0]):
                if not _decodes_near(container, stream, origin + duration - min(duration, Fraction(1))):
                    return f"the {stream.type} stream does not decode to the end (truncated or corrupt)"
    except (av.error.FFmpegError, MediaError, OSError, ValueError, KeyError) as exc:
        return f"unreadable output ({type(exc).__name__}: {exc})"
    return None


def _decodes_near(
    container: av.container.InputContainer, stream: av.stream.Stream, seconds: Fraction
) -> bool:
    """Whether a frame decodes from ``seconds`` (container time) onwards: the file's tail is intact."""
    container.seek(max(0, math.floor(seconds / stream.time_base)), stream=stream, backward=True)
    return any(packet.decode() for packet in container.demux(stream))  # the final empty packet flushes


def prepare_one(src: str, dst: str, rel: str, out_rel: str, settings: PrepareSettings) -> TitleOutcome:
    """Skip a verified output, otherwise (re)make it and verify it; errors become a failed outcome."""
    started = time.perf_counter()
    try:
        problem = check_output(dst, src, settings)
        if problem is None:
            return TitleOutcome(rel, out_rel, SKIPPED, "verified output", time.perf_counter() - started)
        status = PREPARED if problem == "no output yet" else REDONE
        transcode_title(src, dst, settings)
        after = check_output(dst, src, settings)
        if after is not None:
            Path(dst).unlink(missing_ok=True)
            return TitleOutcome(rel, out_rel, FAILED, f"fresh output failed verification: {after}")
        detail = "" if status == PREPARED else problem
        return TitleOutcome(rel, out_rel, status, detail, time.perf_counter() - started)
    except Exception as exc:  # one bad title must not stop the corpus: it is reported and the rest go on
        return TitleOutcome(
            rel, out_rel, FAILED, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
        )


def foreign_files(out_root: Path) -> list[str]:
    """Entries under ``out_root`` (relative, sorted) that tvssl prepare did not make; hidden names are ignored.

    Made by tvssl prepare: a tvssl manifest at the top, an output it listed in its marker, an output carrying
    its tag. A symbolic link counts as foreign: writing through it would write into someone else's file.
    """
    if not out_root.exists():
        return []
    if not out_root.is_dir():
        raise ValueError(f"the destination {out_root} is a file, not a folder; pass a folder for the copy")
    listed = _listed_outputs(out_root)
    foreign = []
    for path in _visible(out_root):
        rel = path.relative_to(out_root).as_posix()
        if path.is_symlink() or not path.is_file():
            foreign.append(rel)
        elif rel == MANIFEST:
            if not _is_manifest(path):
                foreign.append(rel)
        elif rel not in listed and not made_by_prepare(path):
            foreign.append(rel)
    return sorted(foreign)


def _listed_outputs(out_root: Path) -> set[str]:
    try:
        outputs = json.loads((out_root / MARKER).read_text(encoding="utf-8")).get("outputs", [])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return set()
    return {o for o in outputs if isinstance(o, str)}


def _list_outputs(out_root: Path, made: set[str]) -> None:
    """Record the outputs of this run and of earlier ones that are still there, atomically."""
    outputs = sorted(o for o in _listed_outputs(out_root) | made if (out_root / o).is_file())
    write_atomic(out_root / MARKER, json.dumps({"outputs": outputs}, indent=1))


def _visible(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        for name in dirnames:
            if not name.startswith(".") and (folder / name).is_symlink():
                yield folder / name
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not (folder / d).is_symlink()]
        yield from (folder / name for name in filenames if not name.startswith("."))


def _is_manifest(path: Path) -> bool:
    try:
        read_manifest(path)
    except (ManifestError, OSError, UnicodeDecodeError):
        return False
    return True


def _refuse_foreign(out_root: Path) -> None:
    foreign = foreign_files(out_root)
    if foreign:
        shown = ", ".join(foreign[:FOREIGN_LISTED])
        more = f" and {len(foreign) - FOREIGN_LISTED} more" if len(foreign) > FOREIGN_LISTED else ""
        raise ValueError(
            f"the destination {out_root} holds {len(foreign)} file(s) that tvssl prepare did not make "
            f"({shown}{more}); nothing was written: choose a new or empty folder, or one an earlier "
            "tvssl prepare wrote"
        )


def prepare_corpus(
    manifest: str | os.PathLike,
    dst: str | os.PathLike,
    settings: PrepareSettings,
    src_root: str | os.PathLike | None = None,
    workers: int = 1,
    kind: str | None = None,
    on_outcome: Callable[[TitleOutcome], None] | None = None,
) -> PrepareResult:
    """Transcode every usable title of ``manifest`` into ``dst`` and write ``dst/manifest.csv``.

    Refuses (ValueError, before writing anything) a destination that holds files tvssl prepare did not make.

    Titles run in ``workers`` processes; finished, verified outputs are skipped, so an interrupted run is
    resumed by running it again. The new manifest is indexed from the prepared files, with slots of
    ``settings.keyframe_every`` seconds; ``kind`` (movie/tv) defaults to the source's.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    records: list[TitleRecord] = read_manifest(manifest)
    root = Path(src_root) if src_root is not None else manifest_root(manifest)
    out_root = Path(dst)
    if out_root.resolve() == root.resolve():
        raise ValueError(f"the destination {out_root} is the source corpus root; choose another folder")
    _refuse_foreign(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    kind = kind or ("tv" if any(r.show for r in records) else "movie")

    outcomes: list[TitleOutcome] = []
    tasks: list[tuple[str, str, str, str, PrepareSettings]] = []
    seen: dict[str, str] = {}
    sources = {(root / r.path).resolve() for r in records}

    def report(outcome: TitleOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    for r in records:
        out_rel = output_name(r.path)
        if not r.ok:
            report(TitleOutcome(r.path, "", EXCLUDED, f"excluded in the source manifest: {r.reason}"))
            continue
        if out_rel in seen:
            report(
                TitleOutcome(r.path, "", FAILED, f"{out_rel} is also the copy of {seen[out_rel]}; rename one")
            )
            continue
        if (out_root / out_rel).resolve() in sources:
            report(TitleOutcome(r.path, "", FAILED, f"{out_root / out_rel} would overwrite a source file"))
            continue
        seen[out_rel] = r.path
        tasks.append((str(root / r.path), str(out_root / out_rel), r.path, out_rel, settings))

    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            report(prepare_one(*task))
    else:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)), mp_context=get_context("spawn")
        ) as pool:
            futures = {pool.submit(prepare_one, *task): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    report(future.result())
                except BrokenProcessPool as exc:
                    report(TitleOutcome(task[2], task[3], FAILED, f"worker process died ({exc}); run again"))

    manifest_out = out_root / MANIFEST
    made = {o.output for o in outcomes if o.status in (PREPARED, REDONE, SKIPPED)}
    _list_outputs(out_root, made)
    if made:
        indexed = build_index(
            out_root,
            manifest_out,
            kind=kind,
            workers=workers,
            slot_seconds=settings.keyframe_every,
            progress=False,
            only=made,
            print_summary=False,
        )
    else:
        write_manifest(manifest_out, [])
        indexed = IndexResult([], reused=0, probed=0, removed=0)
    order = {r.path: i for i, r in enumerate(records)}
    outcomes.sort(key=lambda o: order.get(o.path, len(order)))
    return PrepareResult(outcomes, manifest_out, indexed)


def summarize_outcomes(outcomes: Sequence[TitleOutcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in (PREPARED, REDONE, SKIPPED, EXCLUDED, FAILED)}
    return ", ".join(f"{n} {s}" for s, n in counts.items())
