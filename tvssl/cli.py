"""The `tvssl` command: utility verbs first, then LightningCLI for fit / validate / test.

Every LightningCLI run gets its own directory ``<run.dir>/<run.name>/version_N`` (never reused), holding
the resolved config, the CSV log the report reads, checkpoints and the offline W&B run (``tvssl.run_dirs``).

A user mistake ends any command with one line ``tvssl: <message>`` on stderr and exit code 2; a bug keeps its
traceback and exit code 1 (``tvssl.errors``). ``--debug``, accepted anywhere on the command line, shows the
traceback of a user mistake too; it is passed on to child processes as ``TVSSL_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tvssl.errors import DEBUG_ENV, report
from tvssl.run_dirs import RUN_DIR_ENV, allocate_run_dir

__all__ = ["RUN_DIR_ENV", "VERBS", "allocate_run_dir", "main"]

VERBS = ("index", "synth", "prepare", "report", "bench", "ablation")
DEBUG_FLAG = "--debug"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    args = [a for a in args if a != DEBUG_FLAG]
    with _debug_environment(debug):
        try:
            return _dispatch(args)
        except Exception as exc:
            code = report(exc)
            if code is None:
                raise
            return code


def _dispatch(args: list[str]) -> int:
    if args and args[0] in VERBS:
        module = importlib.import_module(f"tvssl.commands.{args[0]}")
        return int(module.main(args[1:]) or 0)
    from tvssl.lightning_cli import lightning_main

    lightning_main(args)
    return 0


@contextmanager
def _debug_environment(debug: bool) -> Iterator[None]:
    """``--debug`` as the environment variable, so child processes (DDP ranks, ablation steps) see it too."""
    saved = os.environ.get(DEBUG_ENV)
    if debug:
        os.environ[DEBUG_ENV] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(DEBUG_ENV, None)
        else:
            os.environ[DEBUG_ENV] = saved


if __name__ == "__main__":
    sys.exit(main())
