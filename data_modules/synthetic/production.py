"""A title's production: how its picture was graded and shot, how its sound was recorded and mixed.

Real films differ from one another in ways no scene controls: a colour grade tints every frame, old stock is
grainy with lifted blacks, a recording has its own room tone, tape hiss and lost treble. Every clip of a title
shares its production and clips of two titles almost never do, so between titles the production alone tells
the pairs apart: the low-level shortcut that makes negatives from other titles easy and those from the same
title hard (design section 1: "same characters, same sets, same sound design"). As with characters and sets,
the sound follows from the picture by one rule in every title: the grade's hue sets the room tone's pitch, the
stock's age sets the hiss and how much treble is lost. The downstream clips have none (``TitlePlan.production``
is None), so nothing of it can be used there.

Optional (``plan_corpus(..., productions=True)``, ``tvssl synth --productions``); without it every title renders
byte for byte as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GRADE_STRENGTH = 0.2
"""Largest change of one colour channel's gain: a visible tint that brightness, contrast and saturation jitter
scale but do not remove (none of them turns hues)."""

GRAIN_LEVELS = 10.0
"""Standard deviation of the grain, in 8-bit levels, of the oldest stock (age 1); new stock (age 0) has none."""

LIFT_LEVELS = 28.0
"""How far the oldest stock lifts the blacks (8-bit levels); the picture's range shrinks to match."""

ROOM_TONE_HZ = (700.0, 2100.0)
"""Room tone pitch at grade hue 0 and 1 (log scale), above most voices' fundamentals and below every bandwidth."""

ROOM_TONE_LEVEL = 0.012
"""Room tone amplitude: above the sets' ambience floor, far below speech (0.16) and events (0.45)."""

HISS_LEVEL = 0.012
"""Tape hiss (white, before the band limit) standard deviation of the oldest recording."""

BANDWIDTH_HZ = (7000.0, 3000.0)
"""Where the treble rolls off (24 dB per octave) for new (age 0) and the oldest (age 1) recordings."""


@dataclass(frozen=True)
class Production:
    """``grade_hue`` in [0, 1): the tint's hue and the room tone's pitch; ``age`` in [0, 1]: grain, lifted blacks,
    hiss and lost treble."""

    grade_hue: float
    age: float


def random_production(rng: np.random.Generator) -> Production:
    """A fresh production: hue and age uniform."""
    return Production(grade_hue=float(rng.random()), age=float(rng.random()))


def channel_gains(production: Production) -> np.ndarray:
    """RGB gains of the grade: a tint toward the grade's hue, each gain within ``1 +- GRADE_STRENGTH``."""
    angle = 2 * math.pi * production.grade_hue
    offsets = (0.0, -2 * math.pi / 3, 2 * math.pi / 3)
    return np.array([1 + GRADE_STRENGTH * math.cos(angle + o) for o in offsets], np.float32)


def grade_frame(frame: np.ndarray, production: Production, rng: np.random.Generator) -> np.ndarray:
    """The graded RGB frame (uint8): tint, lifted blacks and monochrome grain drawn from ``rng``."""
    lift = LIFT_LEVELS * production.age
    out = frame.astype(np.float32) * (channel_gains(production) * (1 - lift / 255.0)) + lift
    if production.age > 0:
        grain = rng.standard_normal(frame.shape[:2], dtype=np.float32) * (GRAIN_LEVELS * production.age)
        out += grain[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def room_tone_hz(production: Production) -> float:
    """The room tone's pitch: log-uniform over ``ROOM_TONE_HZ`` with the grade's hue."""
    low, high = ROOM_TONE_HZ
    return low * (high / low) ** production.grade_hue


def bandwidth_hz(production: Production) -> float:
    """Where the recording's treble rolls off: linear in age over ``BANDWIDTH_HZ``."""
    new, old = BANDWIDTH_HZ
    return new + (old - new) * production.age


def master(
    samples: np.ndarray, production: Production, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """The soundtrack as the production recorded it: room tone and hiss added, then the band limit over all."""
    n = samples.size
    t = np.arange(n) / sample_rate
    tone = room_tone_hz(production)
    out = samples + ROOM_TONE_LEVEL * (np.sin(2 * np.pi * tone * t) + 0.3 * np.sin(4 * np.pi * tone * t))
    out = out + HISS_LEVEL * production.age * rng.standard_normal(n)
    # A power of two (the FFT's cost does not depend on n's factors) with room for the filter's ring, so the
    # track's end does not wrap onto its start.
    size = 1 << (n + 4096).bit_length()
    f = np.fft.rfftfreq(size, 1.0 / sample_rate)
    spectrum = np.fft.rfft(out, size) / (1 + (f / bandwidth_hz(production)) ** 4)
    return np.fft.irfft(spectrum, size)[:n]
