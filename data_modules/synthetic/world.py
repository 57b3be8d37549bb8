"""Who and where: the characters and scene styles a title is made of, and the plan that stages them.

Everything here is plain frozen data, so a ``TitlePlan`` can be pickled to a worker process and rendering is
a pure function of it. How a character sounds and how a set hums follow from how they look, by one rule in
every title (see ``random_character`` and ``random_scene``): that cross-modal regularity is what a pretrained
encoder can learn and carry over to unseen titles and the downstream sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from data_modules.synthetic.actions import EVENT_CLASSES
from data_modules.synthetic.production import Production

SHAPES: tuple[str, ...] = ("circle", "square", "diamond", "triangle", "ring", "cross")
PATTERNS: tuple[str, ...] = ("stripes", "checker", "dots", "halves")
TEXTURES: tuple[str, ...] = ("plain", "stripes", "checker", "blobs", "grain")
CHARACTER_SIZE = (0.22, 0.30)
"""A character's radius as a share of the frame height: large enough that a 56-pixel crop shows its motion."""


@dataclass(frozen=True)
class Voice:
    """A character's timbre: pitch, harmonic weights (empty for FM voices), vibrato and FM signature."""

    f0: float
    harmonics: tuple[float, ...]
    vibrato_rate: float
    vibrato_depth: float
    fm_ratio: float
    fm_index: float


@dataclass(frozen=True)
class Character:
    """A recurring visual motif with its own voice; ``size`` is the radius as a fraction of frame height."""

    name: str
    shape: str
    pattern: str
    pattern_freq: float
    color: tuple[int, int, int]
    color2: tuple[int, int, int]
    size: float
    voice: Voice


@dataclass(frozen=True)
class SceneStyle:
    """A recurring set: backdrop look and ambience sound."""

    name: str
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    angle: float
    texture: str
    texture_freq: float
    texture_contrast: float
    floor: float
    noise_slope: float
    noise_cutoff: float
    noise_level: float
    hum_freq: float
    hum_level: float
    seed: int


@dataclass(frozen=True)
class Placement:
    """Where a cast member stands in a shot (fractions of width/height) and how it idles around that spot."""

    character: int
    x: float
    y: float
    wander_freq: float
    wander_phase: float


@dataclass(frozen=True)
class Shot:
    """A stretch [start, end) seconds on one scene style with a fixed cast."""

    start: float
    end: float
    scene: int
    cast: tuple[Placement, ...]


@dataclass(frozen=True)
class Event:
    """Character ``character`` performs ``EVENT_CLASSES[action]`` during [start, start + duration)."""

    start: float
    duration: float
    character: int
    action: int


@dataclass(frozen=True)
class Syllable:
    """One syllable of speech: the voice glides by ``glide`` (relative pitch) across the syllable."""

    start: float
    duration: float
    character: int
    glide: float


@dataclass(frozen=True)
class TitlePlan:
    """Everything needed to render one title; rendering is a pure function of the plan."""

    name: str
    seconds: float
    seed: tuple[int, ...]
    characters: tuple[Character, ...]
    scenes: tuple[SceneStyle, ...]
    shots: tuple[Shot, ...]
    events: tuple[Event, ...]
    syllables: tuple[Syllable, ...]
    show: str | None = None
    production: Production | None = None

    def summary(self) -> dict[str, Any]:
        """Small JSON-able description, stored in the file's metadata so a title says what it contains."""
        counts = np.bincount([e.action for e in self.events], minlength=len(EVENT_CLASSES))
        made = {} if self.production is None else {"production": asdict(self.production)}
        return {
            "generator": "tvssl synth",
            "name": self.name,
            "show": self.show,
            "seed": list(self.seed),
            "characters": [c.name for c in self.characters],
            "scenes": [s.name for s in self.scenes],
            "shots": len(self.shots),
            "events": {EVENT_CLASSES[i]: int(n) for i, n in enumerate(counts) if n},
            **made,
        }


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV in [0, 1] -> RGB bytes; hue wraps, so a complementary hue is just ``h + 0.5``."""
    h = (h % 1.0) * 6.0
    i = int(h) % 6
    f = h - int(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return tuple(int(round(255 * c)) for c in rgb)  # type: ignore[return-value]


def random_character(rng: np.random.Generator, name: str) -> Character:
    """A fresh character: bright saturated motif (stands out from the muted backdrops) and its voice.

    As with real sound sources, how a character sounds follows from what it looks like, the same way in
    every title: hue sets the pitch (140 Hz at hue 0 up to 700 Hz), shape sets the timbre (circle,
    diamond, ring harmonic; square, triangle, cross FM) and the pattern's frequency sets the vibrato
    rate. This cross-modal regularity is what a pretrained encoder can learn and carry to unseen titles
    and the downstream sets.
    """
    hue = rng.random()
    color = _hsv(hue, rng.uniform(0.65, 1.0), rng.uniform(0.8, 1.0))
    color2 = _hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.4, 1.0), rng.uniform(0.15, 0.95))
    shape = str(rng.choice(SHAPES))
    pattern_freq = float(rng.uniform(1.2, 2.5))
    if SHAPES.index(shape) % 2 == 0:
        rolloff = rng.uniform(0.5, 2.0)
        harmonics = tuple(float(rng.uniform(0.2, 1.0) * k**-rolloff) for k in range(1, 7))
        fm_ratio, fm_index = 0.0, 0.0
    else:
        harmonics = ()
        fm_ratio = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0]))
        fm_index = float(rng.uniform(0.5, 3.0))
    voice = Voice(
        f0=float(140.0 * 5.0**hue * rng.uniform(0.97, 1.03)),
        harmonics=harmonics,
        vibrato_rate=float(2.4 * pattern_freq),
        vibrato_depth=float(rng.uniform(0.003, 0.025)),
        fm_ratio=fm_ratio,
        fm_index=fm_index,
    )
    return Character(
        name=name,
        shape=shape,
        pattern=str(rng.choice(PATTERNS)),
        pattern_freq=pattern_freq,
        color=color,
        color2=color2,
        size=float(rng.uniform(*CHARACTER_SIZE)),
        voice=voice,
    )


def random_scene(rng: np.random.Generator, name: str) -> SceneStyle:
    """A fresh scene style: muted backdrop colours and an ambience that follows from them.

    The same rule holds in every title: the backdrop's hue sets the noise cutoff, its brightness the
    spectral slope (dark sets rumble, bright ones hiss) and the texture's frequency the hum.
    """
    hue = rng.random()
    value = rng.uniform(0.3, 0.7)
    texture_freq = float(rng.uniform(3.0, 10.0))
    return SceneStyle(
        name=name,
        top=_hsv(hue, rng.uniform(0.15, 0.6), value),
        bottom=_hsv(hue + rng.uniform(-0.15, 0.15), rng.uniform(0.15, 0.6), rng.uniform(0.15, 0.5)),
        angle=float(rng.uniform(0, 2 * np.pi)),
        texture=str(rng.choice(TEXTURES)),
        texture_freq=texture_freq,
        texture_contrast=float(rng.uniform(0.05, 0.15)),
        floor=float(rng.uniform(0.7, 0.85)),
        noise_slope=float(2.0 * (0.7 - value) / 0.4),
        noise_cutoff=float(1000.0 + 6000.0 * hue),
        noise_level=float(rng.uniform(0.005, 0.02)),
        hum_freq=float(50.0 + 10.0 * (texture_freq - 3.0)),
        hum_level=float(rng.uniform(0.002, 0.008)),
        seed=int(rng.integers(2**31)),
    )
