"""Examining many media files in parallel: probe each one and, on request, decode a few of its clips.

Every file is examined in a worker process of a pool, so a file that crashes FFmpeg costs only itself: when a
worker dies, the files it was holding are examined again one at a time, each in a process of its own, and the
one that kills its process is recorded as such. Workers die with the process that started them: a killed
``tvssl index`` must not leave workers behind that hold its terminal or its pipes. On Linux the kernel is asked
to kill them (``PR_SET_PDEATHSIG``); everywhere, as a second guard, a thread in each worker ends it when its
parent is gone.

Probing reads headers only, so a file whose middle is garbage or whose end is missing can pass it. Verification
decodes a few clips of every usable title exactly as training reads them, chosen at random but always the same
for the same file, so such files are excluded before a run meets them.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import math
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, MutableSequence, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from data_modules.clip_spec import spec_from_key
from data_modules.decoding import ClipDecodeError, ClipSpec, read_clips
from data_modules.manifest import PROBE_FAILED, VERIFY_FAILED, floor_micro
from data_modules.media import MediaError, MediaInfo, probe

log = logging.getLogger(__name__)

_DETAIL_CHARS = 160
_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 0.5


@dataclass(frozen=True)
class Verify:
    """Decode ``clips`` slots of every title at least ``need`` seconds long, as training reads them."""

    clips: int
    spec: ClipSpec
    need: Fraction


@dataclass(frozen=True)
class Task:
    """One file to examine: probe it, or only verify it when its manifest row gives its duration."""

    path: str
    key: str
    known_duration: Fraction | None = None
    known_clip_spec: str = ""


@dataclass(frozen=True)
class Examined:
    """What examining a file found: its probe (None when not probed or unreadable) and why it is excluded."""

    info: MediaInfo | None
    reason: str = ""


CRASHED = Examined(None, f"{PROBE_FAILED}: the probing process died (FFmpeg crash or out of memory)")


def detail(text: str, abs_path: str) -> str:
    """One short line; the absolute path is dropped (the row already names the file, relative to the root)."""
    text = text.replace(repr(abs_path), "").replace(abs_path, "")
    text = re.sub(r"\[Errno -?\d+\]\s*", "", text.strip())
    text = " ".join(text.split()).strip(" :")
    return text[:_DETAIL_CHARS]


def verify_slots(key: str, num_slots: int, clips: int) -> list[int]:
    """``clips`` distinct slots of a title, drawn from a seed that is a function of ``key`` only."""
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()[:8], "big")
    chosen = np.random.default_rng(seed).choice(num_slots, size=min(clips, num_slots), replace=False)
    return sorted(int(s) for s in chosen)


def examine(task: Task, verify: Verify | None) -> Examined:
    """Probe and/or verify one file; never raises, whatever the file holds."""
    info = None
    duration, clip_spec = task.known_duration, task.known_clip_spec
    if duration is None:
        try:
            info = probe(task.path)
        except MediaError as exc:
            text = detail(exc.detail, task.path)
            return Examined(None, f"{exc.reason}: {text}" if text else exc.reason)
        except (
            Exception
        ) as exc:  # any library failure on a hostile file is that file's problem, not the run's
            return Examined(None, f"{PROBE_FAILED}: " + detail(f"{type(exc).__name__}: {exc}", task.path))
        duration, clip_spec = floor_micro(info.duration), info.clip_spec
    if verify is None or duration <= 0 or duration < verify.need:
        return Examined(info)
    # A clip-exact copy holds the clips of one spec only: it is verified with that one.
    spec = spec_from_key(clip_spec) if clip_spec else verify.spec
    return Examined(info, _verify(task, duration, replace(verify, spec=spec)))


def _verify(task: Task, duration: Fraction, verify: Verify) -> str:
    """ "" when the chosen clips decode, else the exclusion reason."""
    slots = verify_slots(task.key, math.floor(duration / verify.spec.slot_seconds), verify.clips)
    try:
        read_clips(task.path, slots, verify.spec)
    except ClipDecodeError as exc:
        return f"{VERIFY_FAILED}: at {exc.time:.1f} s: " + detail(exc.reason, task.path)
    except Exception as exc:  # the reader wraps its failures; anything else is still this file's
        return f"{VERIFY_FAILED}: " + detail(f"{type(exc).__name__}: {exc}", task.path)
    return ""


# In a pool worker: the shared array where it writes the index of the file it is examining, its cell, and what
# verification asks for.
_MARKS: MutableSequence[int] = []
_SLOT = 0
_VERIFY: Verify | None = None


def _init_worker(marks: MutableSequence[int], counter: Any, parent: int, verify: Verify | None) -> None:
    global _MARKS, _SLOT, _VERIFY
    die_with_parent(parent)
    with counter.get_lock():
        _SLOT = counter.value
        counter.value += 1
    _MARKS = marks
    _VERIFY = verify


def die_with_parent(parent: int) -> None:
    """End this process when process ``parent`` ends, however it ends (SIGKILL included)."""
    if sys.platform.startswith("linux"):
        # A libc without prctl leaves only the watchdog below, which still ends this process.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent was gone before the kernel could be asked
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="tvssl-watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


def _examine_chunk(items: list[tuple[int, Task]]) -> list[tuple[int, Examined]]:
    out = []
    for index, task in items:
        _MARKS[_SLOT] = index
        out.append((index, examine(task, _VERIFY)))
    _MARKS[_SLOT] = -1
    return out


def _context() -> multiprocessing.context.BaseContext:
    # fork is cheap and the parent never decodes; elsewhere fork is unsafe or missing.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _pool(ctx: multiprocessing.context.BaseContext, workers: int, verify: Verify | None) -> tuple[Any, Any]:
    marks, counter = ctx.Array("q", [-1] * workers, lock=False), ctx.Value("i", 0)
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(marks, counter, os.getpid(), verify)
    )
    return pool, marks


def _examine_isolated(task: Task, verify: Verify | None) -> Examined:
    """Examine one suspect in a process of its own, so a crash is pinned on the file that caused it."""
    pool, _ = _pool(_context(), 1, verify)
    with pool:
        try:
            return pool.submit(_examine_chunk, [(0, task)]).result()[0][1]
        except BrokenProcessPool:
            return CRASHED


def examine_all(
    tasks: Sequence[Task], workers: int, verify: Verify | None, advance: Callable[[int], None]
) -> list[Examined]:
    """Examine every task; with one worker in this process, else in a pool that survives crashing files."""
    results: dict[int, Examined] = {}
    if workers <= 1:
        for i, task in enumerate(tasks):
            results[i] = examine(task, verify)
            advance(1)
        return [results[i] for i in range(len(tasks))]
    pending = list(range(len(tasks)))
    ctx = _context()
    while pending:
        n_workers = min(workers, len(pending))
        chunk = max(1, min(64, len(pending) // (n_workers * 16)))
        pool, marks = _pool(ctx, n_workers, verify)
        try:
            futures = [
                pool.submit(_examine_chunk, [(i, tasks[i]) for i in pending[k : k + chunk]])
                for k in range(0, len(pending), chunk)
            ]
            for future in as_completed(futures):
                done = future.result()
                results.update(done)
                advance(len(done))
        except BrokenProcessPool:
            suspects = {m for m in marks if m >= 0 and m not in results}
            if not suspects:  # died outside a file: isolate the rest one by one rather than loop
                suspects = {i for i in pending if i not in results}
            log.warning("a probing process died; re-probing %d suspect file(s) one at a time", len(suspects))
            for i in sorted(suspects):
                results[i] = _examine_isolated(tasks[i], verify)
                advance(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        pending = [i for i in pending if i not in results]
    return [results[i] for i in range(len(tasks))]
