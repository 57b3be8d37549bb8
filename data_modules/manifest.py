"""The manifest: one CSV row per file of a corpus, with exact times, that people can read, diff and filter.

Times are exact: durations and starts are written as decimal seconds on a microsecond grid (durations rounded
down, so no slot ever reaches past the content; starts rounded to nearest), and the slot count is computed from
the written duration with ``Fraction`` arithmetic, so a row read back gives the same slots on every machine.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass
from fractions import Fraction
from pathlib import Path

from data_modules.atomic_write import write_atomic

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
    "probe_version",
    "clip_spec",
]

PROBE_VERSION = 2
"""How ``media.probe`` measured a row's start and duration. Bump it whenever that definition changes: re-indexing
probes rows of older versions again, although their files did not change. Version 2 reads both ends from the
packets (late-starting streams, priming, cut files, Matroska and MPEG-PS ends); version 1 trusted the headers."""

PROBED_COLUMNS = COLUMNS[:-1]
"""The header of manifests written before rows said which clips a clip-exact copy holds: they list none."""

LEGACY_COLUMNS = COLUMNS[:-2]
"""The header of manifests written before rows carried their probe version; their rows read as version 1."""

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
VERIFY_FAILED = "verify failed"

_MICRO = 10**6


class ManifestError(ValueError):
    """A file is not a tvssl manifest (wrong header), or one of its rows does not parse."""


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
    probe_version: int = PROBE_VERSION
    clip_spec: str = ""
    """Empty for a source file; for a clip-exact copy (``data_modules.clip_copy``), the spec of its clips."""

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


def floor_micro(seconds: Fraction) -> Fraction:
    """``seconds`` rounded down to the microsecond grid of the manifest (a duration never claims more)."""
    return Fraction(math.floor(seconds * _MICRO), _MICRO)


def nearest_micro(seconds: Fraction) -> Fraction:
    """``seconds`` rounded to the nearest point of the manifest's microsecond grid (for start times)."""
    return Fraction(round(seconds * _MICRO), _MICRO)


def reason_label(reason: str) -> str:
    return reason.split(": ", 1)[0]


def seconds_text(value: Fraction) -> str:
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
            out.append(seconds_text(value))
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
    "probe_version": int,
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
        columns = header if header in (LEGACY_COLUMNS, PROBED_COLUMNS) else COLUMNS
        if header != columns:
            found = ",".join(header or [])
            raise ManifestError(
                f"{p} is not a tvssl manifest: its first line is {found[:60]!r}, not the manifest header "
                f"'{','.join(COLUMNS[:4])},...'"
            )
        records = []
        for row in reader:
            line = reader.line_num
            if len(row) != len(columns):
                raise ManifestError(f"{p} line {line}: expected {len(columns)} fields, found {len(row)}")
            values: dict[str, object] = {"probe_version": 1}
            for name, text in zip(columns, row):
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


def shard_folder(manifest: str | os.PathLike) -> Path:
    """Where the shards of a sharded run keep their partial outputs: ``<manifest>.shards``, beside it.

    Here, not in ``data_modules.sharding``, because every index run skips this folder: a corpus indexed in
    shards and one indexed in a single run must see the same files.
    """
    path = Path(manifest)
    return path.with_name(path.name + ".shards")


def write_manifest(path: str | os.PathLike, records: Iterable[TitleRecord]) -> None:
    """Write the manifest atomically: readers see the old file or the new one, never half of one."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_to_text(r) for r in records)
    write_atomic(path, text.getvalue().encode("utf-8", errors="surrogateescape"))


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
