"""``kill -USR2 PID``: a running process writes every thread's Python stack to stderr and goes on.

A run that seems stuck (a DDP rank waiting for a collective, a loader worker that never delivers) can be read
without a debugger or py-spy. The ``tvssl`` command registers it at start and every DataLoader worker of this
package in its ``worker_init_fn``, so workers started by a forkserver (DDP) have it too; the DDP test sends it
to every process of a fit that hangs before it kills them. Not SIGUSR1: Lightning's SLURM requeue handler uses
that one.
"""

from __future__ import annotations

import faulthandler
import signal

STACKS_SIGNAL = getattr(signal, "SIGUSR2", None)
"""The signal, where the platform has one (not on Windows)."""


def dump_stacks_on_signal() -> None:
    """Register the stack dump on ``STACKS_SIGNAL`` for this process (and the children it forks).

    It writes to file descriptor 2, not ``sys.stderr``: that may be a Python object without a descriptor
    (captured output), and the dump runs in the signal handler, below Python.
    """
    if STACKS_SIGNAL is not None:
        faulthandler.register(STACKS_SIGNAL, file=2, all_threads=True)
