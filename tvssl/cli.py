"""The `tvssl` command: parses the verb and dispatches to the module that implements it, nothing else.

``fit``, ``validate`` and ``test`` are LightningCLI (``tvssl.lightning_cli``); every other verb is a
module under ``tvssl.commands`` with ``main(argv) -> exit code``. A verb's module is imported only when the
verb runs, so ``tvssl report`` does not load Lightning. Every LightningCLI run gets its own directory
``<run.dir>/<run.name>/version_N`` (``tvssl.run_dirs``).

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
from dataclasses import dataclass

from data_modules.stack_dumps import dump_stacks_on_signal
from tvssl.errors import DEBUG_ENV, UserError, reports_user_errors
from tvssl.run_dirs import RUN_DIR_ENV, allocate_run_dir

__all__ = ["RUN_DIR_ENV", "VERBS", "Verb", "allocate_run_dir", "main"]

DEBUG_FLAG = "--debug"
HELP_FLAGS = ("-h", "--help")


@dataclass(frozen=True)
class Verb:
    """Where a verb is implemented and what it does, in the one line that ``tvssl --help`` prints."""

    module: str
    summary: str
    subcommand: bool = False
    """The module's parser takes the verb itself as its subcommand (LightningCLI), so it is passed on."""


LIGHTNING = "tvssl.lightning_cli"
VERBS: dict[str, Verb] = {
    "fit": Verb(LIGHTNING, "train one experiment YAML: pretraining, or fine-tuning with its test", True),
    "validate": Verb(LIGHTNING, "run the validation loop of a config on a checkpoint", True),
    "test": Verb(LIGHTNING, "run the test loop of a config on a checkpoint", True),
    "index": Verb("tvssl.commands.index", "probe a corpus and write its manifest (--verify N decodes slots)"),
    "synth": Verb("tvssl.commands.synth", "write a synthetic long-form corpus or downstream set"),
    "prepare": Verb(
        "tvssl.commands.prepare", "transcode a corpus into a copy that is cheap to read at random"
    ),
    "report": Verb("tvssl.commands.report", "Table 1 and Figure 1 from a results tree, beside the paper's"),
    "probe": Verb(
        "tvssl.commands.probe", "linear probe and k-NN on frozen encoder features of a downstream set"
    ),
    "precise-bn": Verb(
        "tvssl.commands.precise_bn",
        "copy a pretraining checkpoint with BatchNorm statistics of other batches",
    ),
    "bench": Verb("tvssl.commands.bench", "measure decoding, DataLoader and training-step throughput"),
    "ablation": Verb("tvssl.commands.ablation", "one step of the Table 1 sweep that `make ablation` chains"),
}


def usage() -> str:
    """What ``tvssl``, ``tvssl -h`` and ``tvssl --help`` print: every verb with its line."""
    width = max(map(len, VERBS))
    lines = [
        "usage: tvssl [--debug] VERB [ARGS...]",
        "",
        "verbs:",
        *(f"  {name:<{width}}  {verb.summary}" for name, verb in VERBS.items()),
        "",
        "`tvssl VERB --help` describes a verb (fit, validate and test: LightningCLI's help).",
        f"{DEBUG_FLAG}: show the traceback of a user mistake too. Exit codes: 0 done, 1 failed, 2 user mistake.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    dump_stacks_on_signal()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    args = [a for a in args if a != DEBUG_FLAG]
    with _debug_environment(debug):
        return _dispatch(args)


@reports_user_errors
def _dispatch(args: Sequence[str] | None) -> int:
    args = list(args or [])
    if not args or args[0] in HELP_FLAGS:
        print(usage())
        return 0
    verb = VERBS.get(args[0])
    if verb is not None:
        module, verb_args = verb.module, args if verb.subcommand else args[1:]
    elif args[0].startswith("-"):  # options before the verb are LightningCLI's own, as they always were
        module, verb_args = LIGHTNING, args
    else:
        raise UserError(f"unknown verb {args[0]!r}; verbs: {', '.join(VERBS)} (see tvssl --help)")
    return int(importlib.import_module(module).main(verb_args) or 0)


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
