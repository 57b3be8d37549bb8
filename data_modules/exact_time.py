"""Exact numbers of seconds (and other rates) from whatever a config, a CSV cell or a caller hands over.

Slots, windows and title times are compared and multiplied across the index, the sampler and the decoder, so a
duration must mean the same on every machine: ``0.1`` is 1/10, not the float nearest to it. Floats go through
their shortest decimal ``repr`` (``str``), which is the number the user wrote; Fractions stay as they are.
"""

from __future__ import annotations

from fractions import Fraction

ExactInput = Fraction | int | float | str
"""What the helpers accept: a Fraction, an int, a float or decimal text such as ``"0.5"`` or ``"1/3"``."""


def exact_fraction(value: ExactInput, name: str, unit: str) -> Fraction:
    """``value`` as an exact Fraction; ValueError ``"{name} must be a number of {unit}, got ..."`` otherwise.

    Booleans are refused (``True`` is an int to Python, never a duration a user meant), and so are NaN and
    infinities, which ``Fraction`` cannot hold.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number of {unit}, got {value!r}")
    if isinstance(value, Fraction):
        return value
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise ValueError(f"{name} must be a number of {unit}, got {value!r}") from exc


def exact_seconds(value: ExactInput, name: str) -> Fraction:
    """``value`` seconds, exactly; ValueError ``"{name} must be a number of seconds, got ..."`` otherwise."""
    return exact_fraction(value, name, "seconds")
