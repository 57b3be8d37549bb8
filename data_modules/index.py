"""The corpus index: one manifest row per file under a root, saying whether it can serve as a title and why not.

Probing thousands of hours of media is the slow, failure-prone first step of every run, so it happens once, in
parallel, and its result is a plain CSV that people can read, diff and filter. A file that cannot serve becomes a
row with a reason instead of an error, so one bad file never stops the index. Re-indexing reuses the rows of
files whose size and modification time did not change, so adding an episode to a catalogue costs one probe.

Times are exact: durations and starts are written as decimal seconds on a microsecond grid (durations rounded
down, so no slot ever reaches past the content; starts rounded to nearest), and the slot count is computed from
the written duration with ``Fraction`` arithmetic, so a row read back gives the same slots on every machine.
"""

from __future__ import annotations

import csv
import logging
import math
import multiprocessing
import os
import re
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, MutableSequence, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import astuple, dataclass, replace
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from data_modules.media import MediaError, MediaInfo, probe

log = logging.getLogger(__name__)

COLUMNS = [
    "path",
    "title_id",
    "status",
    "reason",
    "duration",
    "num_slots",
    "start",
    "size",
    "mtime",
    "container",
    "video_codec",
    "fps",
    "width",
    "height",
    "audio_codec",
    "sample_rate",
    "channels",
    "show",
    "season",
    "episode",
]

OK = "ok"
EXCLUDED = "excluded"

# Reason labels: the part of ``reason`` before ": ", stable so summaries and filters can group on them.
EMPTY_FILE = "empty file"
UNREADABLE = "unreadable"
NOT_MEDIA = "not media"
NO_VIDEO = "no video stream"
NO_AUDIO = "no audio stream"
TOO_SHORT = "too short"
NO_DURATION = "zero or unknown duration"
PROBE_FAILED = "probe failed"

# Rows excluded for these reasons are re-probed on every run: the cause may be gone without the file changing
# (a permission fixed, a network share back, a crash that was not the file's fault).
_TRANSIENT = frozenset({UNREADABLE, PROBE_FAILED})
# Rows whose probe succeeded: their status depends only on the stored duration and this run's thresholds.
_MEASURED = frozenset({"", TOO_SHORT, NO_DURATION})

_MICRO = 10**6
_DETAIL_CHARS = 160


class ManifestError(ValueError):
    """A file is not a tvssl manifest (wrong header), or one of its rows does not parse."""


class CorpusError(ValueError):
    """The corpus root is missing, is not a directory, or holds no files to index."""


@dataclass(frozen=True)
class TitleRecord:
    """One manifest row. ``duration``/``start`` are seconds on a microsecond grid; ``mtime`` is in nanoseconds.

    For rows whose probe failed, the stream fields are empty or zero; the ``reason`` says why.
    """

    path: str
    title_id: str
    status: str
    reason: str
    duration: Fraction
    num_slots: int
    start: Fraction
    size: int
    mtime: int
    container: str = ""
    video_codec: str = ""
    fps: float = 0.0
    width: int = 0
    height: int = 0
    audio_codec: str = ""
    sample_rate: int = 0
    channels: int = 0
    show: str = ""
    season: int | None = None
    episode: int | None = None

    def __post_init__(self) -> None:
        if self.status not in (OK, EXCLUDED):
            raise ValueError(f"{self.path}: status must be {OK!r} or {EXCLUDED!r}, got {self.status!r}")
        if (self.status == OK) == bool(self.reason):
            raise ValueError(f"{self.path}: a reason is required exactly when the status is {EXCLUDED!r}")
        for name in ("duration", "start"):
            value = getattr(self, name)
            if not isinstance(value, Fraction) or (value * _MICRO).denominator != 1:
                raise ValueError(
                    f"{self.path}: {name} must be a Fraction of whole microseconds (exact in the CSV), got {value!r}"
                )

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def reason_label(self) -> str:
        """The stable part of the reason ("too short" of "too short: 1.5 s < 2 s")."""
        return reason_label(self.reason)


class IndexResult(list):
    """The rows of a finished index (a ``list[TitleRecord]``) and what the run did to get them."""

    def __init__(self, records: Iterable[TitleRecord], *, reused: int, probed: int, removed: int) -> None:
        super().__init__(records)
        self.reused = reused
        self.probed = probed
        self.removed = removed


def reason_label(reason: str) -> str:
    return reason.split(": ", 1)[0]


def _seconds_text(value: Fraction) -> str:
    micro = value * _MICRO
    if micro.denominator != 1:
        raise ValueError(f"{value} s is not a whole number of microseconds")
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro.numerator), _MICRO)
    return f"{sign}{whole}.{frac:06d}".rstrip("0").rstrip(".")


def _to_text(record: TitleRecord) -> list[str]:
    out: list[str] = []
    for value in astuple(record):
        if value is None:
            out.append("")
        elif isinstance(value, Fraction):
            out.append(_seconds_text(value))
        elif isinstance(value, float):
            out.append(repr(value))
        else:
            out.append(str(value))
    return out


def _optional_int(text: str) -> int | None:
    return int(text) if text else None


_PARSERS: dict[str, Callable[[str], object]] = {
    "duration": Fraction,
    "start": Fraction,
    "num_slots": int,
    "size": int,
    "mtime": int,
    "fps": float,
    "width": int,
    "height": int,
    "sample_rate": int,
    "channels": int,
    "season": _optional_int,
    "episode": _optional_int,
}


def read_manifest(path: str | os.PathLike) -> list[TitleRecord]:
    """Rows of a manifest written by ``write_manifest``/``build_index``, exactly as written."""
    p = Path(path)
    try:
        return _read_rows(p)
    except csv.Error as exc:
        raise ManifestError(f"{p} is not a tvssl manifest: {exc}") from exc


def _read_rows(p: Path) -> list[TitleRecord]:
    with p.open(newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != COLUMNS:
            found = ",".join(header or [])
            raise ManifestError(
                f"{p} is not a tvssl manifest: its first line is {found[:60]!r}, not the manifest header "
                f"'{','.join(COLUMNS[:4])},...'"
            )
        records = []
        for row in reader:
            line = reader.line_num
            if len(row) != len(COLUMNS):
                raise ManifestError(f"{p} line {line}: expected {len(COLUMNS)} fields, found {len(row)}")
            values: dict[str, object] = {}
            for name, text in zip(COLUMNS, row):
                parse = _PARSERS.get(name, str)
                try:
                    values[name] = parse(text)
                except (ValueError, ZeroDivisionError) as exc:
                    raise ManifestError(f"{p} line {line}: bad {name} {text!r} ({exc})") from exc
            try:
                records.append(TitleRecord(**values))  # type: ignore[arg-type]
            except ValueError as exc:
                raise ManifestError(f"{p} line {line}: {exc}") from exc
    return records


def write_manifest(path: str | os.PathLike, records: Iterable[TitleRecord]) -> None:
    """Write the manifest atomically: readers see the old file or the new one, never half of one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(_to_text(r) for r in records)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def _detail(text: str, abs_path: str) -> str:
    """One short line; the absolute path is dropped (the row already names the file, relative to the root)."""
    text = text.replace(repr(abs_path), "").replace(abs_path, "")
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text.strip())
    text = " ".join(text.split()).strip(" :")
    return text[:_DETAIL_CHARS]


def _probe_one(abs_path: str) -> MediaInfo | str:
    """Probe result, or the exclusion reason; never raises, whatever the file holds."""
    try:
        return probe(abs_path)
    except MediaError as exc:
        detail = _detail(exc.detail, abs_path)
        return f"{exc.reason}: {detail}" if detail else exc.reason
    except Exception as exc:  # any library failure on a hostile file is that file's problem, not the run's
        return f"{PROBE_FAILED}: " + _detail(f"{type(exc).__name__}: {exc}", abs_path)


# In a pool worker: the shared array where it writes the index of the file it is probing, and its cell.
_MARKS: MutableSequence[int] = []
_SLOT = 0


def _init_worker(marks: MutableSequence[int], counter: Any) -> None:
    global _MARKS, _SLOT
    with counter.get_lock():
        _SLOT = counter.value
        counter.value += 1
    _MARKS = marks


def _probe_chunk(items: list[tuple[int, str]]) -> list[tuple[int, MediaInfo | str]]:
    out = []
    for index, abs_path in items:
        _MARKS[_SLOT] = index
        out.append((index, _probe_one(abs_path)))
    _MARKS[_SLOT] = -1
    return out


_CRASHED = f"{PROBE_FAILED}: the probing process died (FFmpeg crash or out of memory)"


def _context() -> multiprocessing.context.BaseContext:
    # fork is cheap and the parent never decodes; elsewhere fork is unsafe or missing.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _probe_isolated(abs_path: str) -> MediaInfo | str:
    """Probe one suspect in a process of its own, so a crash is pinned on the file that caused it."""
    ctx = _context()
    marks, counter = ctx.Array("q", [-1], lock=False), ctx.Value("i", 0)
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker, initargs=(marks, counter)) as pool:
        try:
            return pool.submit(_probe_chunk, [(0, abs_path)]).result()[0][1]
        except BrokenProcessPool:
            return _CRASHED


def _probe_all(paths: Sequence[str], workers: int, advance: Callable[[int], None]) -> list[MediaInfo | str]:
    """Probe every path; with one worker in this process, else in a pool that survives crashing probes."""
    results: dict[int, MediaInfo | str] = {}
    if workers <= 1:
        for i, p in enumerate(paths):
            results[i] = _probe_one(p)
            advance(1)
        return [results[i] for i in range(len(paths))]
    pending = list(range(len(paths)))
    ctx = _context()
    while pending:
        n_workers = min(workers, len(pending))
        chunk = max(1, min(64, len(pending) // (n_workers * 16)))
        marks, counter = ctx.Array("q", [-1] * n_workers, lock=False), ctx.Value("i", 0)
        pool = ProcessPoolExecutor(
            n_workers, mp_context=ctx, initializer=_init_worker, initargs=(marks, counter)
        )
        try:
            futures = [
                pool.submit(_probe_chunk, [(i, paths[i]) for i in pending[k : k + chunk]])
                for k in range(0, len(pending), chunk)
            ]
            for future in as_completed(futures):
                done = future.result()
                results.update(done)
                advance(len(done))
        except BrokenProcessPool:
            suspects = {m for m in marks if m >= 0 and m not in results}
            if not suspects:  # died outside a probe: isolate the rest one by one rather than loop
                suspects = {i for i in pending if i not in results}
            log.warning("a probing process died; re-probing %d suspect file(s) one at a time", len(suspects))
            for i in sorted(suspects):
                results[i] = _probe_isolated(paths[i])
                advance(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        pending = [i for i in pending if i not in results]
    return [results[i] for i in range(len(paths))]


def _seconds(value: float | int | str | Fraction, name: str) -> Fraction:
    try:
        return value if isinstance(value, Fraction) else Fraction(str(value))
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from exc


def _judge(record: TitleRecord, slot: Fraction, need: Fraction) -> TitleRecord:
    """Status, reason and slot count of a row whose probe succeeded, under this run's thresholds."""
    if record.duration <= 0:
        return replace(record, status=EXCLUDED, reason=NO_DURATION, num_slots=0)
    if record.duration < need:
        why = f"{TOO_SHORT}: {_seconds_text(record.duration)} s < {float(need):g} s"
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


def _from_probe(rel: str, size: int, mtime: int, outcome: MediaInfo | str) -> TitleRecord:
    title_id = str(PurePosixPath(rel).with_suffix(""))
    base = TitleRecord(rel, title_id, EXCLUDED, NOT_MEDIA, Fraction(0), 0, Fraction(0), size, mtime)
    if isinstance(outcome, str):
        return replace(base, reason=outcome)
    return replace(
        base,
        reason=NO_DURATION,
        duration=Fraction(math.floor(outcome.duration * _MICRO), _MICRO),
        start=Fraction(round(outcome.start * _MICRO), _MICRO),
        container=outcome.container,
        video_codec=outcome.video_codec,
        fps=round(float(outcome.fps), 6),
        width=int(outcome.width),
        height=int(outcome.height),
        audio_codec=outcome.audio_codec,
        sample_rate=int(outcome.sample_rate),
        channels=int(outcome.channels),
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


def build_index(
    root: str | os.PathLike,
    out: str | os.PathLike,
    kind: str = "movie",
    workers: int | None = None,
    slot_seconds: float | str | Fraction = 2,
    min_seconds: float | str | Fraction | None = None,
    progress: bool = True,
) -> IndexResult:
    """Index every file under ``root`` into the manifest ``out`` and return its rows (sorted by path).

    Rows of an existing manifest at ``out`` are reused, without probing, for files whose size and mtime did not
    change; their status and ``num_slots`` are still recomputed for this run's ``slot_seconds``/``min_seconds``.
    A title is excluded when shorter than ``max(slot_seconds, min_seconds)``.
    """
    if kind not in ("movie", "tv"):
        raise ValueError(f"kind must be 'movie' or 'tv', got {kind!r}")
    slot = _seconds(slot_seconds, "slot_seconds")
    if slot <= 0:
        raise ValueError(f"slot_seconds must be > 0, got {slot_seconds!r}")
    need = slot if min_seconds is None else max(slot, _seconds(min_seconds, "min_seconds"))
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    root_path, out_path = Path(root), Path(out)
    if not root_path.exists():
        raise CorpusError(f"corpus root {root_path} does not exist")
    if not root_path.is_dir():
        raise CorpusError(f"corpus root {root_path} is not a directory")
    previous = {r.path: r for r in _check_replaceable(out_path)}

    skip_inodes = set()
    if out_path.exists():
        ost = out_path.stat()
        skip_inodes.add((ost.st_dev, ost.st_ino))
    found = _walk(root_path, {os.path.abspath(out_path)}, skip_inodes)
    if not found:
        raise CorpusError(f"no files under {root_path} (hidden files and folders are skipped)")

    records: dict[str, TitleRecord] = {}
    to_probe: list[_Found] = []
    for f in found:
        old = previous.get(f.rel)
        if f.error:
            records[f.rel] = _from_probe(f.rel, f.size, f.mtime, f.error)
        elif old and (old.size, old.mtime) == (f.size, f.mtime) and old.reason_label not in _TRANSIENT:
            records[f.rel] = old
        else:
            to_probe.append(f)
    reused = len(found) - len(to_probe) - sum(1 for f in found if f.error)

    show_bar = progress and bool(to_probe) and sys.stderr is not None and sys.stderr.isatty()
    with tqdm(total=len(to_probe), desc="probing", unit="file", file=sys.stderr, disable=not show_bar) as bar:
        outcomes = _probe_all([f.abs for f in to_probe], min(workers, max(1, len(to_probe))), bar.update)
    for f, outcome in zip(to_probe, outcomes):
        records[f.rel] = _from_probe(f.rel, f.size, f.mtime, outcome)

    rows = _unique_title_ids([_finish(records[f.rel], kind, slot, need) for f in found])
    write_manifest(out_path, rows)
    removed = sum(1 for p in previous if p not in records)
    return IndexResult(rows, reused=reused, probed=len(to_probe), removed=removed)


def _span_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def summarize(records: Sequence[TitleRecord]) -> str:
    """One line: "12 titles: 10 ok, 2 excluded (1 empty file, 1 no audio stream); 5,400 slots, 3.0 h"."""
    ok = [r for r in records if r.ok]
    reasons = Counter(r.reason_label for r in records if not r.ok)
    noun = "title" if len(records) == 1 else "titles"
    text = f"{len(records):,} {noun}: {len(ok):,} ok, {len(records) - len(ok):,} excluded"
    if reasons:
        text += (
            " (" + ", ".join(f"{n:,} {label}" for label, n in sorted(reasons.items(), key=_by_count)) + ")"
        )
    slots = sum(r.num_slots for r in ok)
    seconds = float(sum((r.duration for r in ok), Fraction(0)))
    return f"{text}; {slots:,} slots, {_span_text(seconds)}"


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]
