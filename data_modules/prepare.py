"""A training copy of a corpus: every usable title transcoded, and its manifest.

Two kinds of copy: the title's whole time line at the training short side with a keyframe at every slot
boundary (``data_modules.transcode``), or, with ``PrepareSettings.clip_exact``, only the clips one clip spec
reads (``data_modules.clip_copy``), which random access reads several times faster still.

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
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

import av

from data_modules.atomic_write import write_atomic
from data_modules.clip_copy import CLIP_COPY_SUFFIX
from data_modules.clip_copy_writer import check_clip_copy, write_clip_copy
from data_modules.destination import MANIFEST, foreign_files, list_outputs, refuse_foreign
from data_modules.encoding import AAC_FRAME
from data_modules.index import (
    IndexResult,
    TitleRecord,
    build_index,
    read_manifest,
    write_manifest,
)
from data_modules.media import MediaError, open_media, title_span
from data_modules.sharding import Shard, shard_file
from data_modules.transcode import (
    TAG,
    TAG_VERSION,
    PrepareSettings,
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


def output_name(rel: str, settings: PrepareSettings | None = None) -> str:
    """The prepared copy of ``Show/S01E01.mkv`` is ``Show/S01E01.mp4``, its clip-exact copy ``Show/S01E01.clips``."""
    suffix = CLIP_COPY_SUFFIX if settings is not None and settings.clips is not None else ".mp4"
    return PurePosixPath(rel).with_suffix(suffix).as_posix()


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
    check, make = (
        (check_output, transcode_title) if settings.clips is None else (check_clip_copy, write_clip_copy)
    )
    try:
        problem = check(dst, src, settings)
        if problem is None:
            return TitleOutcome(rel, out_rel, SKIPPED, "verified output", time.perf_counter() - started)
        status = PREPARED if problem == "no output yet" else REDONE
        make(src, dst, settings)
        after = check(dst, src, settings)
        if after is not None:
            Path(dst).unlink(missing_ok=True)
            return TitleOutcome(rel, out_rel, FAILED, f"fresh output failed verification: {after}")
        detail = "" if status == PREPARED else problem
        return TitleOutcome(rel, out_rel, status, detail, time.perf_counter() - started)
    except Exception as exc:  # one bad title must not stop the corpus: it is reported and the rest go on
        return TitleOutcome(
            rel, out_rel, FAILED, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
        )


def prepare_corpus(
    manifest: str | os.PathLike,
    dst: str | os.PathLike,
    settings: PrepareSettings,
    src_root: str | os.PathLike | None = None,
    workers: int = 1,
    kind: str | None = None,
    on_outcome: Callable[[TitleOutcome], None] | None = None,
    shard: Shard | None = None,
) -> PrepareResult:
    """Transcode every usable title of ``manifest`` into ``dst`` and write ``dst/manifest.csv``.

    Refuses (ValueError, before writing anything) a destination that holds files tvssl prepare did not make.

    Titles run in ``workers`` processes; finished, verified outputs are skipped, so an interrupted run is
    resumed by running it again. The new manifest is indexed from the prepared files, with slots of
    ``settings.keyframe_every`` seconds; ``kind`` (movie/tv) defaults to the source's.

    With ``shard``, only the titles of that shard are transcoded (into the same ``dst``, so shards may run at
    once), and instead of the manifest the shard writes its partial manifest and list of outputs into
    ``dst/manifest.csv.shards/``; ``data_modules.prepare_shards.merge_prepared`` then writes the manifest.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    records: list[TitleRecord] = read_manifest(manifest)
    root = Path(src_root) if src_root is not None else manifest_root(manifest)
    out_root = Path(dst)
    if out_root.resolve() == root.resolve():
        raise ValueError(f"the destination {out_root} is the source corpus root; choose another folder")
    refuse_foreign(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    kind = source_kind(records, kind)

    outcomes: list[TitleOutcome] = []

    def report(outcome: TitleOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    tasks = _plan(records, root, out_root, settings, report, None if shard is None else shard.holds)
    _run(tasks, workers, report)

    manifest_out = out_root / MANIFEST
    made = {o.output for o in outcomes if o.status in (PREPARED, REDONE, SKIPPED)}
    if shard is None:
        list_outputs(out_root, made)
    else:
        manifest_out = shard_file(manifest_out, shard.index, shard.count)
        failed = sorted(o.path for o in outcomes if o.status == FAILED)
        facts = {"outputs": sorted(made), "failed": failed, "settings": settings.as_tag()}
        write_atomic(manifest_out.with_suffix(".json"), json.dumps(facts, indent=1))
    indexed = index_outputs(out_root, manifest_out, made, kind, workers, settings)
    order = {r.path: i for i, r in enumerate(records)}
    outcomes.sort(key=lambda o: order.get(o.path, len(order)))
    return PrepareResult(outcomes, manifest_out, indexed)


def source_kind(records: Sequence[TitleRecord], kind: str | None) -> str:
    """The kind of the new manifest: as asked, else the source's (tv when any row names a show)."""
    return kind or ("tv" if any(r.show for r in records) else "movie")


_Task = tuple[str, str, str, str, PrepareSettings]


def _plan(
    records: Sequence[TitleRecord],
    root: Path,
    out_root: Path,
    settings: PrepareSettings,
    report: Callable[[TitleOutcome], None],
    select: Callable[[str], bool] | None,
) -> list[_Task]:
    """The titles to transcode, in manifest order; the others are reported (``select``: this shard's only).

    Which of two sources of one output name wins is decided over the whole manifest, shard or not, so a
    sharded copy keeps the same titles as a single run.
    """
    tasks: list[_Task] = []
    seen: dict[str, str] = {}
    sources = {(root / r.path).resolve() for r in records}
    for r in records:
        mine = select is None or select(r.path)
        out_rel = output_name(r.path, settings)
        if not r.ok:
            if mine:
                report(TitleOutcome(r.path, "", EXCLUDED, f"excluded in the source manifest: {r.reason}"))
            continue
        if out_rel in seen:
            if mine:
                why = f"{out_rel} is also the copy of {seen[out_rel]}; rename one"
                report(TitleOutcome(r.path, "", FAILED, why))
            continue
        if (out_root / out_rel).resolve() in sources:
            if mine:
                report(
                    TitleOutcome(r.path, "", FAILED, f"{out_root / out_rel} would overwrite a source file")
                )
            continue
        seen[out_rel] = r.path
        if mine:
            tasks.append((str(root / r.path), str(out_root / out_rel), r.path, out_rel, settings))
    return tasks


def _run(tasks: Sequence[_Task], workers: int, report: Callable[[TitleOutcome], None]) -> None:
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            report(prepare_one(*task))
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(prepare_one, *task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                report(future.result())
            except BrokenProcessPool as exc:
                report(TitleOutcome(task[2], task[3], FAILED, f"worker process died ({exc}); run again"))


def index_outputs(
    out_root: Path,
    manifest_out: Path,
    made: Collection[str],
    kind: str,
    workers: int,
    settings: PrepareSettings,
    reuse: Iterable[TitleRecord] = (),
) -> IndexResult:
    """Index the outputs ``made`` (relative to ``out_root``) into ``manifest_out``, in slots of the copy."""
    if not made:
        write_manifest(manifest_out, [])
        return IndexResult([], reused=0, probed=0, removed=0)
    return build_index(
        out_root,
        manifest_out,
        kind=kind,
        workers=workers,
        slot_seconds=settings.keyframe_every,
        progress=False,
        only=set(made),
        print_summary=False,
        reuse=reuse,
    )


def summarize_outcomes(outcomes: Sequence[TitleOutcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in (PREPARED, REDONE, SKIPPED, EXCLUDED, FAILED)}
    return ", ".join(f"{n} {s}" for s, n in counts.items())
