"""One sweep step as a child process: its whole output in a log, one console line with a bar on the console.

Every step of ``make ablation`` (``tvssl.sweep``, ``tvssl.smoke_copy``) runs the command a user would run, through
``run_step``, with the same environment: glibc's heap kept (``ALLOCATOR_ENV``) and one intra-op thread per step
under ``make -jN``. ``VERBOSE=1`` streams the child's output instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tvssl.progress import PROGRESS_ENV, live_console, parallel_make, read_progress, status_line

VERBOSE_ENV = "VERBOSE"
CONSOLE_LOG = "console.log"
FAILED_TAIL_LINES = 25
POLL_S = 0.5
THREADS_ENV = "OMP_NUM_THREADS"
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),
    "MALLOC_TOP_PAD_": str(256 << 20),
}
"""glibc malloc settings for every step: keep freed memory in the heap instead of handing it back to the kernel.

By default glibc maps and unmaps each large buffer (activations, decoded batches), so every training step pays
page faults for memory it had a moment ago: a smoke pretraining spent a fifth of its CPU time in the kernel. With
these, 80 steps took 52-55 CPU-s instead of 58, with the same losses and bit-identical weights (allocation
placement does not touch the arithmetic). Other allocators ignore them; a value already set is kept.
"""


def verbose() -> bool:
    """``VERBOSE=1`` (make passes it on) shows each step's full output instead of one line per step."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def run_step(what: str, command: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Run one step's child process: its whole output goes to ``log``; the console gets one line per step, with
    the bar the child reports through ``tvssl.progress`` (redrawn in place on a terminal under ``make -j1``),
    and the log's last lines when it failed. ``VERBOSE=1`` streams everything instead."""
    base_env = {**ALLOCATOR_ENV, **(os.environ if env is None else env)}
    if verbose():
        print(f"tvssl ablation: {what} ...", flush=True)
        print("+ tvssl " + " ".join(command[3:]), flush=True)
        return subprocess.run(command, env=base_env).returncode
    live = live_console()
    if not live:
        print(f"tvssl ablation: {what} ...", flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    report = log.parent / f".{log.name}.progress"
    report.unlink(missing_ok=True)
    child_env = {**base_env, PROGRESS_ENV: str(report)}
    if parallel_make():
        # N steps side by side, each with as many intra-op threads as there are cores, oversubscribe the CPU:
        # on 2 cores two smoke pretrainings side by side ran 0.97 steps/s each with two threads, 2.6 with one.
        child_env.setdefault(THREADS_ENV, "1")
    start = time.monotonic()
    with log.open("ab") as out:
        out.write(("+ tvssl " + " ".join(command[3:]) + "\n").encode())
        out.flush()
        child = subprocess.Popen(command, env=child_env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                code = child.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                if live:
                    line = status_line(what, read_progress(report), time.monotonic() - start)
                    print("\r" + line, end="", flush=True)
            except BaseException:
                child.kill()
                raise
    final = status_line(what, read_progress(report), time.monotonic() - start)
    report.unlink(missing_ok=True)
    end = "\r" if live else ""
    if code == 0:
        print(f"{end}{final} done (log: {log})", flush=True)
    else:
        print(f"{end}{final} failed", flush=True)
        tail = log.read_text(errors="replace").splitlines()[-FAILED_TAIL_LINES:]
        print("\n".join(f"  | {line}" for line in tail), file=sys.stderr, flush=True)
    return code
