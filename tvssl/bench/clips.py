"""Which clips the decode bench reads: titles from a manifest, groups drawn by the training sampler.

The bench must time the clips training asks for, so groups come from the real ``LongFormBatchSampler`` with
the run's k and w, not from a look-alike; ``make_title`` writes the film-like title the README's figures are for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from data_modules.index import TitleRecord, build_index, read_manifest
from data_modules.prepare import manifest_root
from data_modules.sampling import LongFormBatchSampler
from data_modules.synthetic import synthesize_corpus
from tvssl.bench import echo
from tvssl.errors import UserError

BENCH_TITLE = {"minutes": 10.0, "width": 1280, "height": 720, "fps": 24, "gop_seconds": 10.0}
"""The benchmark title: 10 minutes of 1280x720 H.264/AAC at 24 fps with a keyframe every 10 s, like a film."""

Group = tuple[int, list[int]]
"""(index into the title list, ascending slots): the clips of one title read together."""


@dataclass(frozen=True)
class Title:
    """One manifest row ready to read: absolute path and slot count at the bench's slot length."""

    path: Path
    title_id: str
    duration: Fraction
    num_slots: int


def load_titles(
    manifest: str | os.PathLike,
    root: str | os.PathLike | None,
    slot_seconds: Fraction,
    title: str | None = None,
) -> list[Title]:
    """Usable titles of a manifest (or the one named by ``title``: its title_id or path), with their slots."""
    manifest_path = Path(manifest)
    if not manifest_path.is_file():
        raise ValueError(
            f"manifest {manifest_path} does not exist; make one with `tvssl index ROOT --out MANIFEST`"
        )
    base = Path(root) if root is not None else manifest_root(manifest_path)
    records: list[TitleRecord] = read_manifest(manifest_path)
    if title is not None:
        records = [r for r in records if title in (r.title_id, r.path)]
        if not records:
            raise ValueError(f"no row of {manifest_path} has title_id or path {title!r}")
    titles = [
        Title(base / r.path, r.title_id, r.duration, int(r.duration // slot_seconds)) for r in records if r.ok
    ]
    titles = [t for t in titles if t.num_slots > 0]
    if not titles:
        raise ValueError(
            f"{manifest_path} lists no usable title at least {float(slot_seconds):g} s long (status 'ok')"
        )
    missing = [t.path for t in titles if not t.path.is_file()]
    if missing:
        raise ValueError(
            f"{missing[0]} (from {manifest_path}) does not exist: pass --root, the folder the manifest's paths "
            "are relative to"
        )
    return titles


def parse_window(text: str | int) -> int | str:
    """``w`` as the sampler takes it: a slot count or ``Mn`` (the whole title)."""
    if isinstance(text, int) or str(text).strip().lower() != "mn":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"w must be a whole number of slots or Mn, got {text!r}") from None
    return "Mn"


def plan_groups(
    titles: Sequence[Title], k: int, w: int | str, clips: int, seed: int, round_index: int
) -> list[Group]:
    """``clips // k`` groups of (title index, ascending slots), drawn by the real (k, w) sampler.

    A sampler whose global batch is one group (batch_size = k) yields exactly one group per batch: titles in
    proportion to their slots, window and slots as in training. Round ``r`` is epoch ``r`` of that sampler.
    """
    if clips < k:
        raise ValueError(
            f"--clips {clips} is fewer than one group of k={k} clips; raise --clips or lower --k"
        )
    sampler = LongFormBatchSampler(
        [t.num_slots for t in titles], k=k, w=w, batch_size=k, seed=seed, clips_per_epoch=clips
    )
    if sampler.excluded.size == len(titles):
        raise ValueError(sampler.exclusion_note)
    groups = []
    for i in range(clips // k):
        plan = sampler.plan_batch(round_index, i)
        groups.append((int(plan[0, 0]), sorted(int(s) for s in plan[:, 1])))
    return groups


def sequential_span(
    titles: Sequence[Title], groups: Sequence[Group], clips: int, seed: int, round_index: int
) -> Group:
    """A contiguous run of as many slots as the round has clips, in the title of the round's first group."""
    title = groups[0][0]
    count = min(clips, titles[title].num_slots)
    rng = np.random.default_rng([seed, round_index, 7])
    first = int(rng.integers(0, titles[title].num_slots - count + 1))
    return title, list(range(first, first + count))


def make_title(
    folder: Path,
    minutes: float = BENCH_TITLE["minutes"],
    say: Callable[[str], None] = echo,
) -> Path:
    """The benchmark title and ``folder/manifest.csv``; an existing complete pair is reused."""
    manifest = folder / "manifest.csv"
    video = folder / "movie_000.mp4"
    if not video.is_file():
        if folder.exists() and any(p for p in folder.iterdir() if p.name != "manifest.csv"):
            raise UserError(f"{folder} holds other files; pass an empty or new folder to --make-title")
        say(f"writing the benchmark title into {folder} (about a minute per 10 minutes of 720p)")
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
