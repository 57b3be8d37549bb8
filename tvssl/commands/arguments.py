"""Value types shared by the verbs' argparse front ends, so every verb rejects bad numbers the same way."""

from __future__ import annotations

import argparse
from fractions import Fraction

from data_modules.exact_time import exact_seconds


def seconds(text: str) -> Fraction:
    """A positive duration, kept exact (``0.5`` is 1/2, not a float)."""
    try:
        value = exact_seconds(text, "seconds")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected seconds such as 2 or 0.5, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return value


def positive(text: str) -> int:
    """A whole number >= 1 (counts of workers, frames, pixels, clips)."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value
