"""The event vocabulary: each action's picture and sound, defined side by side so they cannot drift apart.

An action is seen and heard at the same phase ``u`` in [0, 1] of the event, so a downstream classifier (and a
pretrained encoder) can tie what moves to what sounds frame by frame. ``ACTIONS`` is the registry: its order
is the label order of every downstream set, and ``EVENT_CLASSES`` is derived from it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

FLASH_GLOW = 0.35  # a flash also lights up the whole set, like a camera flash


@dataclass(frozen=True)
class Pose:
    """How a character is drawn at one instant; offsets are in character radii.

    ``set_glow`` brightens the whole frame, not just the performer: the one visual effect that reaches beyond
    the character's bounding box.
    """

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0
    whiten: float = 0.0
    visible: bool = True
    split: float = 0.0
    set_glow: float = 0.0


@dataclass(frozen=True)
class Phase:
    """An event's samples seen as phase, plus the performer's voice: what every action's sound is built from.

    Sample i has phase ``u[i] = i / len``, the same phase ``Action.pose`` takes, which is what keeps sound and
    picture in step. ``tone`` sings a relative pitch contour (one value per sample) in the performer's voice,
    so the same action sounds different from each character yet keeps its shape.
    """

    u: np.ndarray
    s: np.ndarray  # sin(pi u): silent at both ends, loudest midway
    fade: np.ndarray  # short ramps at both ends, against clicks
    ones: np.ndarray
    tone: Callable[[np.ndarray], np.ndarray]
    rng: np.random.Generator

    @classmethod
    def of(cls, samples: int, tone: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator) -> Phase:
        u = np.arange(samples) / samples
        fade = np.clip(np.minimum(u, 1 - u) / 0.08, 0, 1)
        return cls(u=u, s=np.sin(np.pi * u), fade=fade, ones=np.ones(samples), tone=tone, rng=rng)


class Action(ABC):
    """One event class: ``pose(u)`` is its visual signature, ``sound(phase)`` the matching sound (peak ~1).

    A new action is one subclass added to ``ACTIONS`` (at the end, so existing labels keep their ids).
    """

    name: ClassVar[str]

    @abstractmethod
    def pose(self, u: float) -> Pose:
        """How the performer looks at phase ``u`` in [0, 1] of the event."""

    @abstractmethod
    def sound(self, ph: Phase) -> np.ndarray:
        """The performer's sound over the whole event, one value per sample of ``ph``."""


class Jump(Action):
    """An arc up and down; the pitch rises with the height."""

    name = "jump"

    def pose(self, u: float) -> Pose:
        return Pose(dy=-1.6 * math.sin(math.pi * u))

    def sound(self, ph: Phase) -> np.ndarray:
        return ph.tone(1 + 0.8 * ph.s) * np.sqrt(ph.s)


class Spin(Action):
    """Two full turns; one rising sawtooth sweep per turn."""

    name = "spin"

    def pose(self, u: float) -> Pose:
        return Pose(angle=4 * math.pi * u)

    def sound(self, ph: Phase) -> np.ndarray:
        return ph.tone(1 + 0.5 * np.mod(2 * ph.u, 1.0)) * ph.fade


class Flash(Action):
    """A flash to white that decays and lights the set; a percussive burst that decays with it."""

    name = "flash"

    def pose(self, u: float) -> Pose:
        whiten = math.exp(-3 * u)
        return Pose(whiten=whiten, set_glow=FLASH_GLOW * whiten)

    def sound(self, ph: Phase) -> np.ndarray:
        burst = 0.6 * ph.rng.standard_normal(ph.u.size) * np.exp(-8 * ph.u)
        return ph.tone(ph.ones) * np.exp(-3 * ph.u) + burst


class Grow(Action):
    """A swell to almost twice the size; a crescendo with a sub-octave that grows with it."""

    name = "grow"

    def pose(self, u: float) -> Pose:
        return Pose(scale=1 + 0.9 * math.sin(math.pi * u))

    def sound(self, ph: Phase) -> np.ndarray:
        return (0.6 * ph.tone(ph.ones) + 0.6 * ph.tone(0.5 * ph.ones) * ph.s) * ph.s


class Shake(Action):
    """Eight fast side-to-side swings; a rattle loudest at each swing's extreme."""

    name = "shake"

    def pose(self, u: float) -> Pose:
        return Pose(dx=0.35 * math.sin(16 * math.pi * u))

    def sound(self, ph: Phase) -> np.ndarray:
        return ph.tone(ph.ones) * np.abs(np.sin(16 * np.pi * ph.u)) * ph.fade


class Split(Action):
    """Two smaller copies move apart and back; two voices diverge in pitch and meet again."""

    name = "split"

    def pose(self, u: float) -> Pose:
        return Pose(split=1.3 * math.sin(math.pi * u))

    def sound(self, ph: Phase) -> np.ndarray:
        return 0.6 * (ph.tone(1 + 0.3 * ph.s) + ph.tone(1 - 0.3 * ph.s)) * ph.fade


class Bounce(Action):
    """Three hops of falling height; a decaying pulse at each ground contact."""

    name = "bounce"

    def pose(self, u: float) -> Pose:
        return Pose(dy=-1.1 * abs(math.sin(3 * math.pi * u)) * (1 - 0.5 * u))

    def sound(self, ph: Phase) -> np.ndarray:
        env = np.zeros(ph.u.size)
        for j in range(3):
            d = ph.u - j / 3
            env += np.where(d >= 0, np.exp(-12 * np.maximum(d, 0)), 0) * (1 - 0.5 * j / 3)
        return ph.tone(1.2 * ph.ones) * env


class Blink(Action):
    """Gone twice; a beep exactly while invisible (both read the same intervals)."""

    name = "blink"
    hidden: ClassVar[tuple[tuple[float, float], ...]] = ((0.2, 0.4), (0.6, 0.8))

    def pose(self, u: float) -> Pose:
        return Pose(visible=not any(a <= u < b for a, b in self.hidden))

    def sound(self, ph: Phase) -> np.ndarray:
        gate = np.zeros(ph.u.size, dtype=bool)
        for a, b in self.hidden:
            gate |= (ph.u >= a) & (ph.u < b)
        width = max(1, ph.u.size // 100)
        smooth = np.convolve(gate.astype(float), np.ones(width) / width, mode="same")
        return ph.tone(1.5 * ph.ones) * smooth


class Slide(Action):
    """A slide away and back; the pitch glides down and back up."""

    name = "slide"

    def pose(self, u: float) -> Pose:
        return Pose(dx=2.2 * math.sin(math.pi * u))

    def sound(self, ph: Phase) -> np.ndarray:
        return ph.tone(1 - 0.35 * ph.s) * ph.fade


class Wave(Action):
    """Rocking three times; a warble at the rocking rate."""

    name = "wave"

    def pose(self, u: float) -> Pose:
        return Pose(angle=0.7 * math.sin(6 * math.pi * u))

    def sound(self, ph: Phase) -> np.ndarray:
        return ph.tone(1 + 0.12 * np.sin(6 * np.pi * ph.u)) * ph.fade


ACTIONS: tuple[Action, ...] = (
    Jump(),
    Spin(),
    Flash(),
    Grow(),
    Shake(),
    Split(),
    Bounce(),
    Blink(),
    Slide(),
    Wave(),
)
EVENT_CLASSES: tuple[str, ...] = tuple(a.name for a in ACTIONS)
_BY_NAME = {a.name: a for a in ACTIONS}


def action_named(name: str) -> Action:
    """The registered action called ``name``; an unknown name is an error that lists the vocabulary."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown action {name!r}; known: {', '.join(EVENT_CLASSES)}") from None


def pose(action: str, u: float) -> Pose:
    """Visual signature of ``action`` at phase ``u`` in [0, 1]; offsets are in character radii."""
    return action_named(action).pose(u)
