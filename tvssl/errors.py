"""One notion of a user mistake for every tvssl command: a one-line message on stderr and exit code 2.

A mistake in what the user asked for (a config contradiction, a missing root, a folder the command must not
write into) is not a crash: the user needs the message, not two tracebacks from inside Lightning. A bug is the
opposite: its traceback is the only useful output, so nothing here may turn one into a message. Hence:

- commands raise ``UserError``;
- the libraries' own bad-input errors (corpus, manifest, dataset layout, media) count wherever they are raised,
  also when a DataLoader worker raised them and torch re-raised them in the main process as text;
- a plain ``ValueError`` or ``FileNotFoundError`` counts only while a command is still checking what it was
  asked to do (``config_checks``), and only when a ``raise`` statement of this project raised it: a ValueError
  from inside numpy or torch, or any error once training has started, keeps its traceback and exit code 1.

``--debug`` (anywhere on the command line) or ``TVSSL_DEBUG=1`` prints the traceback before the message.
"""

from __future__ import annotations

import functools
import linecache
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

EXIT_USER_ERROR = 2
DEBUG_ENV = "TVSSL_DEBUG"

INPUT_ERRORS = frozenset(
    {
        "tvssl.errors.UserError",
        "data_modules.index.CorpusError",
        "data_modules.manifest.ManifestError",
        "data_modules.splits.LayoutError",
        "data_modules.media.MediaError",
        "data_modules.clip_copy.ClipSpecMismatch",
    }
)
"""Qualified names of the error types that always mean bad input; names, so that classifying an error imports
nothing (and matches the text torch makes of an error raised in a DataLoader worker)."""

CONFIG_ERRORS = frozenset({"lightning.fabric.utilities.exceptions.MisconfigurationException"})
"""Errors that Lightning raises only for contradictory settings: user mistakes while a command checks them."""

_PROJECT_DIRS = tuple(
    str(Path(__file__).resolve().parents[1] / pkg) + os.sep for pkg in ("tvssl", "data_modules")
)
_WORKER_TEXT = re.compile(r"Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback", re.DOTALL)


class UserError(Exception):
    """What the user asked for cannot be done; the message says what to change."""


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line(text: str) -> str:
    """A multi-line message (a list of problems) as one line: items joined by "; " after the heading."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out = lines[0] if lines else ""
    for line in lines[1:]:
        item = line.removeprefix("- ").strip()
        out += (" " if out.endswith(":") else "; ") + item
    return out


def _names(kind: type) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in kind.__mro__}


def user_message(exc: BaseException) -> str | None:
    """The one-line message of a bad-input error, wherever it was raised; None for anything else."""
    from_worker = _worker_message(exc)
    if from_worker is not None:
        return from_worker
    if _names(type(exc)) & INPUT_ERRORS:
        return one_line(str(exc))
    return None


def _worker_message(exc: BaseException) -> str | None:
    """The message of a bad-input error that a DataLoader worker raised, from the text torch re-raised."""
    text = str(exc)
    match = _WORKER_TEXT.match(text)
    if match is None:
        return None
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        name, sep, rest = lines[i].partition(": ")
        if name in INPUT_ERRORS and name.rsplit(".", 1)[-1] == match.group(1):
            return one_line("\n".join([rest, *lines[i + 1 :]]) if sep else name)
    return None


def config_error(exc: BaseException) -> str | None:
    """The message of ``exc`` if it says the command was asked something contradictory, else None.

    The explicit cause chain is followed (jsonargparse wraps a datamodule's ValueError in its own), outermost
    first, so a project check that adds context to a lower-level one is the one shown.
    """
    link: BaseException | None = exc
    while link is not None:
        message = user_message(link)
        if message is not None:
            return message
        if _names(type(link)) & CONFIG_ERRORS:
            return one_line(str(link))
        if isinstance(link, (ValueError, FileNotFoundError)) and _raised_by_a_check(link):
            return one_line(str(link))
        link = link.__cause__
    return None


def _raised_by_a_check(exc: BaseException) -> bool:
    """Whether a ``raise`` statement in this project's code raised ``exc`` (not numpy, torch or a bug below)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    if not filename.startswith(_PROJECT_DIRS):
        return False
    return linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise ")


@contextmanager
def config_checks() -> Iterator[None]:
    """Inside: errors that say the request is contradictory become ``UserError``; everything else passes."""
    try:
        yield
    except Exception as exc:
        if user_message(exc) is not None:  # already says what to change
            raise
        message = config_error(exc)
        if message is None:
            raise
        raise UserError(message) from exc


def report(exc: BaseException) -> int | None:
    """Exit code 2 after printing the one-line message when ``exc`` is a user error; None for a bug."""
    message = user_message(exc)
    if message is None:
        return None
    if debug_enabled():
        traceback.print_exception(exc)
    print(f"tvssl: {message}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


def reports_user_errors(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """A verb's ``main`` that returns exit code 2 with the message for a user error, and raises anything else."""

    @functools.wraps(main)
    def run(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except Exception as exc:
            code = report(exc)
            if code is None:
                raise
            return code

    return run
