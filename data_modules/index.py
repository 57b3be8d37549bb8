"""The corpus index: one manifest row per file under a root, saying whether it can serve as a title and why not.

Probing thousands of hours of media is the slow, failure-prone first step of every run, so it happens once, in
parallel, and its result is a plain CSV that people can read, diff and filter (``data_modules.manifest``). A
file that cannot serve becomes a row with a reason instead of an error, so one bad file never stops the index.
Re-indexing reuses the rows of files whose size and modification time did not change, so adding an episode to
a catalogue costs one probe. On request every usable title is also verified: a few of its clips are decoded as
training reads them (``data_modules.probing``), which catches files whose headers are fine and content is not.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from data_modules.decoding import ClipSpec
from data_modules.exact_time import exact_seconds
from data_modules.manifest import (
    COLUMNS,
    EMPTY_FILE,
    EXCLUDED,
    NO_AUDIO,
    NO_DURATION,
    NO_VIDEO,
    NOT_MEDIA,
    OK,
    PROBE_FAILED,
    PROBE_VERSION,
    TOO_SHORT,
    UNREADABLE,
    VERIFY_FAILED,
    ManifestError,
    TitleRecord,
    floor_micro,
    nearest_micro,
    read_manifest,
    reason_label,
    seconds_text,
    shard_folder,
    summarize,
    write_manifest,
)
from data_modules.probing import Examined, Task, Verify, examine_all

__all__ = [
    "COLUMNS",
    "EMPTY_FILE",
    "EXCLUDED",
    "NOT_MEDIA",
    "NO_AUDIO",
    "NO_DURATION",
    "NO_VIDEO",
    "OK",
    "PROBE_FAILED",
    "PROBE_VERSION",
    "TOO_SHORT",
    "UNREADABLE",
    "VERIFY_FAILED",
    "CorpusError",
    "IndexResult",
    "ManifestError",
    "TitleRecord",
    "build_index",
    "describe_index",
    "read_manifest",
    "reason_label",
    "summarize",
    "tv_metadata",
    "write_manifest",
]

log = logging.getLogger(__name__)

# Rows excluded for these reasons are re-probed on every run: the cause may be gone without the file changing
# (a permission fixed, a network share back, a crash that was not the file's fault).
_TRANSIENT = frozenset({UNREADABLE, PROBE_FAILED})
# Rows whose probe succeeded: their status depends only on the stored duration and this run's thresholds.
_MEASURED = frozenset({"", TOO_SHORT, NO_DURATION})
# Rows whose probe succeeded but whose clips did not decode: verified again whenever verification is asked for.
_VERIFIABLE = _MEASURED | {VERIFY_FAILED}


class CorpusError(ValueError):
    """The corpus root is missing, is not a directory, or holds no files to index."""


class IndexResult(list):
    """The rows of a finished index (a ``list[TitleRecord]``) and what the run did to get them."""

    def __init__(
        self, records: Iterable[TitleRecord], *, reused: int, probed: int, removed: int, verified: int = 0
    ) -> None:
        super().__init__(records)
        self.reused = reused
        self.probed = probed
        self.removed = removed
        self.verified = verified


def _check_replaceable(out: Path) -> list[TitleRecord]:
    """Rows of the existing manifest at ``out`` (none when absent or empty); refuse to clobber anything else."""
    if out.is_dir():
        raise ManifestError(f"manifest path {out} is a directory; give the path of the CSV file to write")
    if not out.exists() or out.stat().st_size == 0:
        return []
    try:
        return read_manifest(out)
    except ManifestError as exc:
        raise ManifestError(
            f"{exc}; refusing to overwrite it: choose another --out or remove the file"
        ) from exc


_SXXEYY = re.compile(r"(?<![a-z0-9])s(\d{1,3})[ ._-]?e(\d{1,4})(?!\d)", re.IGNORECASE)
_NXMM = re.compile(r"(?<![a-z0-9])(\d{1,2})x(\d{1,3})(?!\d)", re.IGNORECASE)
_EPISODE_ONLY = re.compile(r"(?<![a-z0-9])(?:e|ep|episode)[ ._-]?(\d{1,4})(?!\d)", re.IGNORECASE)
_SEASON_DIR = re.compile(r"^(?:season|series|s)[ ._-]*(\d{1,3})$", re.IGNORECASE)


def tv_metadata(path: str) -> tuple[str, int | None, int | None]:
    """(show, season, episode) from a path relative to the corpus root; blanks where the path says nothing.

    Understands ``Show/S01E02.mp4``, ``Show/Season 1/S01E02.mkv``, ``Show/Show.S01E02.Title.mkv``,
    ``Show/1x02.avi`` and ``Show/Season 2/E05.mkv``; the show is the first directory, or for a file directly
    under the root the part of its name before the episode code.
    """
    parts = PurePosixPath(path).parts
    stem = PurePosixPath(path).stem
    season = episode = None
    found = _SXXEYY.search(stem) or _NXMM.search(stem)
    if found:
        season, episode = int(found.group(1)), int(found.group(2))
    else:
        only = _EPISODE_ONLY.search(stem)
        if only:
            episode = int(only.group(1))
        for folder in reversed(parts[1:-1]):
            match = _SEASON_DIR.match(folder.strip())
            if match:
                season = int(match.group(1))
                break
    if len(parts) > 1:
        show = parts[0]
    else:
        code = found or _EPISODE_ONLY.search(stem)
        show = re.sub(r"[._]+", " ", stem[: code.start()]).strip(" -") if code else ""
    return show, season, episode


def _judge(record: TitleRecord, slot: Fraction, need: Fraction) -> TitleRecord:
    """Status, reason and slot count of a row whose probe succeeded, under this run's thresholds."""
    if record.duration <= 0:
        return replace(record, status=EXCLUDED, reason=NO_DURATION, num_slots=0)
    if record.duration < need:
        why = f"{TOO_SHORT}: {seconds_text(record.duration)} s < {float(need):g} s"
        return replace(record, status=EXCLUDED, reason=why, num_slots=0)
    return replace(record, status=OK, reason="", num_slots=math.floor(record.duration / slot))


def _unique_title_ids(rows: list[TitleRecord]) -> list[TitleRecord]:
    """Files that differ only by extension (``movie.mkv``, ``movie.mp4``) keep their extension in the id.

    Titles are grouped by id downstream, so two files must never share one by accident.
    """
    stems: dict[str, int] = {}
    for row in rows:
        stem = str(PurePosixPath(row.path).with_suffix(""))
        stems[stem] = stems.get(stem, 0) + 1
    return [
        replace(row, title_id=row.path) if stems[str(PurePosixPath(row.path).with_suffix(""))] > 1 else row
        for row in rows
    ]


def _to_judge(record: TitleRecord) -> TitleRecord:
    """A row whose probe succeeded, marked for ``_finish`` to judge under this run's thresholds."""
    return replace(record, status=EXCLUDED, reason=NO_DURATION)


def _from_probe(rel: str, size: int, mtime: int, found: Examined) -> TitleRecord:
    title_id = str(PurePosixPath(rel).with_suffix(""))
    base = TitleRecord(
        rel, title_id, EXCLUDED, found.reason or NOT_MEDIA, Fraction(0), 0, Fraction(0), size, mtime
    )
    info = found.info
    if info is None:
        return base
    return replace(
        base,
        reason=found.reason or NO_DURATION,
        duration=floor_micro(info.duration),
        start=nearest_micro(info.start),
        container=info.container,
        video_codec=info.video_codec,
        fps=round(float(info.fps), 6),
        width=int(info.width),
        height=int(info.height),
        audio_codec=info.audio_codec,
        sample_rate=int(info.sample_rate),
        channels=int(info.channels),
        clip_spec=info.clip_spec,
    )


def _finish(record: TitleRecord, kind: str, slot: Fraction, need: Fraction) -> TitleRecord:
    if record.reason_label in _MEASURED:
        record = _judge(record, slot, need)
    show, season, episode = tv_metadata(record.path) if kind == "tv" else ("", None, None)
    return replace(record, show=show, season=season, episode=episode)


@dataclass(frozen=True)
class _Found:
    rel: str
    abs: str
    size: int
    mtime: int
    error: str = ""


def _walk(root: Path, skip: set[str], skip_inodes: set[tuple[int, int]]) -> list[_Found]:
    """Every non-hidden regular file under ``root`` (symlinks followed, loops cut), sorted by relative path."""
    found: list[_Found] = []
    seen_dirs: set[tuple[int, int]] = set()

    def unreadable_dir(exc: OSError) -> None:
        log.warning("cannot list %s (%s): its files are not indexed", exc.filename, exc.strerror)

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_dir, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            if os.path.abspath(full) in skip:
                continue
            rel = PurePosixPath(*Path(os.path.relpath(full, root)).parts).as_posix()
            try:
                fst = os.stat(full)
            except OSError as exc:
                why = "broken symbolic link" if os.path.islink(full) else (exc.strerror or str(exc))
                found.append(_Found(rel, full, 0, 0, f"{UNREADABLE}: {why}"))
                continue
            if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) in skip_inodes:
                continue
            found.append(_Found(rel, full, fst.st_size, fst.st_mtime_ns))
    found.sort(key=lambda f: f.rel)
    return found


def _verification(clips: int, slot: Fraction, need: Fraction) -> Verify | None:
    if clips < 0:
        raise ValueError(f"verify must be >= 0 clips per title, got {clips}")
    if clips == 0:
        return None
    try:
        spec = ClipSpec(slot_seconds=slot)
    except ValueError as exc:
        raise ValueError(f"cannot verify clips of {float(slot):g} s slots: {exc}") from exc
    return Verify(clips, spec, need)


def build_index(
    root: str | os.PathLike,
    out: str | os.PathLike,
    kind: str = "movie",
    workers: int | None = None,
    slot_seconds: float | str | Fraction = 2,
    min_seconds: float | str | Fraction | None = None,
    progress: bool = True,
    verify: int = 0,
    only: Collection[str] | None = None,
    print_summary: bool = True,
    select: Callable[[str], bool] | None = None,
    skip: Collection[str | os.PathLike] = (),
    reuse: Iterable[TitleRecord] = (),
) -> IndexResult:
    """Index every file under ``root`` into the manifest ``out`` and return its rows (sorted by path).

    Rows of an existing manifest at ``out`` are reused, without probing, for files whose size and mtime did not
    change; their status and ``num_slots`` are still recomputed for this run's ``slot_seconds``/``min_seconds``.
    A title is excluded when shorter than ``max(slot_seconds, min_seconds)``. With ``verify`` > 0, ``verify``
    slots of every usable title (reused rows included) are decoded with the training clip spec, and a title
    whose clips do not decode is excluded ("verify failed: ..."). ``only`` restricts the index to these paths
    (relative to ``root``), for callers that list only files they made. Unless ``print_summary`` is false, the
    summary (``describe_index``) goes to stderr: whoever indexes on first use learns what was left out and why.

    For sharded runs (``data_modules.sharding``): ``select`` keeps the files (relative paths) of one shard, and
    an empty shard is not an error; ``skip`` names more files or folders never to index (the merged manifest, its
    shard folder, which is skipped for every run so that sharded and single runs see the same files); ``reuse``
    offers more rows to reuse, preferred over those of ``out``.
    """
    if kind not in ("movie", "tv"):
        raise ValueError(f"kind must be 'movie' or 'tv', got {kind!r}")
    slot = exact_seconds(slot_seconds, "slot_seconds")
    if slot <= 0:
        raise ValueError(f"slot_seconds must be > 0, got {slot_seconds!r}")
    need = slot if min_seconds is None else max(slot, exact_seconds(min_seconds, "min_seconds"))
    check = _verification(verify, slot, need)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    root_path, out_path = Path(root), Path(out)
    if not root_path.exists():
        raise CorpusError(f"corpus root {root_path} does not exist")
    if not root_path.is_dir():
        raise CorpusError(f"corpus root {root_path} is not a directory")
    previous = {r.path: r for r in _check_replaceable(out_path)}
    previous.update((r.path, r) for r in reuse)

    skipped = {os.path.abspath(p) for p in (out_path, shard_folder(out_path), *skip)}
    skip_inodes = set()
    for path in map(Path, skipped):
        if path.is_file():
            pst = path.stat()
            skip_inodes.add((pst.st_dev, pst.st_ino))
    folders = tuple(p + os.sep for p in skipped)
    found = [
        f for f in _walk(root_path, skipped, skip_inodes) if not os.path.abspath(f.abs).startswith(folders)
    ]
    if only is not None:
        found = [f for f in found if f.rel in only]
    if not found:
        raise CorpusError(f"no files under {root_path} (hidden files and folders are skipped)")
    if select is not None:
        found = [f for f in found if select(f.rel)]

    records: dict[str, TitleRecord] = {}
    tasks: list[Task] = []
    for f in found:
        old = previous.get(f.rel)
        if f.error:
            records[f.rel] = _from_probe(f.rel, f.size, f.mtime, Examined(None, f.error))
        elif (
            old
            and (old.size, old.mtime) == (f.size, f.mtime)
            and old.probe_version == PROBE_VERSION
            and old.reason_label not in _TRANSIENT
        ):
            records[f.rel] = old
            if check is not None and old.reason_label in _VERIFIABLE and old.duration >= need:
                tasks.append(Task(f.abs, f.rel, old.duration, old.clip_spec))
        else:
            tasks.append(Task(f.abs, f.rel))
    probed = sum(t.known_duration is None for t in tasks)
    reused = len(found) - probed - sum(1 for f in found if f.error)

    show_bar = progress and bool(tasks) and sys.stderr is not None and sys.stderr.isatty()
    desc = "probing" if check is None else "probing and verifying"
    with tqdm(total=len(tasks), desc=desc, unit="file", file=sys.stderr, disable=not show_bar) as bar:
        results = examine_all(tasks, min(workers, max(1, len(tasks))), check, bar.update)
    sizes = {f.rel: (f.size, f.mtime) for f in found}
    for task, result in zip(tasks, results):
        if task.known_duration is None:
            records[task.key] = _from_probe(task.key, *sizes[task.key], result)
        elif result.reason:
            records[task.key] = replace(records[task.key], status=EXCLUDED, reason=result.reason, num_slots=0)
        else:
            records[task.key] = _to_judge(records[task.key])

    rows = _unique_title_ids([_finish(records[f.rel], kind, slot, need) for f in found])
    write_manifest(out_path, rows)
    removed = sum(1 for p in previous if p not in records and (select is None or select(p)))
    verified = sum(r.ok or r.reason_label == VERIFY_FAILED for r in rows) if check is not None else 0
    result = IndexResult(rows, reused=reused, probed=probed, removed=removed, verified=verified)
    if print_summary:
        print(describe_index(out_path, result), file=sys.stderr, flush=True)
    return result


def describe_index(out: str | os.PathLike, result: IndexResult) -> str:
    """What an index run did, then its summary: the two lines `tvssl index` prints."""
    verified = f", verified {result.verified:,} title(s)" if result.verified else ""
    return (
        f"wrote {out}: probed {result.probed:,} file(s), reused {result.reused:,} unchanged row(s), "
        f"dropped {result.removed:,} row(s) of removed files{verified}\n{summarize(result)}"
    )
