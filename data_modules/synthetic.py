"""Synthetic long-form titles and downstream sets that behave like the real thing, made in seconds.

The paper's premise is that a title is a closed world: the same characters and sets recur for its whole
length, so negatives drawn from one title are hard, and what is seen and heard corresponds in time. The
generator reproduces exactly that structure, at toy scale, so every stage of the suite can run end to end
without licensed media, and so that an encoder pretrained on it has something real to learn.

Generative model (all randomness from ``numpy.random.SeedSequence`` keyed by seed, kind and title):

* **Characters** (3-5 per title; per show for TV, so episodes of a show share them). A character is a visual
  motif -- a shape (circle, square, diamond, triangle, ring, cross) filled with a two-colour pattern
  (stripes, checker, dots, halves) in its own colours and size -- and a voice: a timbre with its own pitch
  (140-700 Hz), either harmonic (random harmonic weights + vibrato) or FM (carrier:modulator ratio, index).
  Characters have a prominence, so a lead appears more often than the rest.
* **Scenes** (3-6 scene styles per title/show): a backdrop (two-colour gradient at an angle, a texture --
  stripes, checker, blobs, grain -- and a floor line) and an ambience (coloured noise with its own spectral
  slope, low-pass cutoff and level, plus a mains-like hum). The title is cut into shots of 3-8 s; each shot
  picks a scene style (never the previous one) and a cast of 1-3 characters, so every style and character
  recurs over the whole length.
* **Events** (about one every 3 s): a cast member performs an action of the fixed global vocabulary
  ``EVENT_CLASSES`` for 0.8-1.2 s. Each action has a visual signature (a pose as a function of phase u in
  [0, 1]: jump arc, two turns, flash to white that also lights the set, swell, fast shake, split in two,
  three bounces, two blinks, slide away and back, rocking) and a matching sound made with the performer's
  voice (rising pitch, sawtooth sweeps, percussive burst, crescendo with sub-octave, rattle at the shake's
  extremes, two diverging voices, a pulse at each ground contact, beeps while invisible, falling glide,
  warble at the rocking rate). Picture and sound share the phase, so they correspond frame by frame. Each
  title has its own taste in actions.
* **Speech**: between events cast members "talk": runs of syllables of their voice; the speaker pulses (size
  and brightness follow the syllable envelope), so even quiet stretches carry audio-visual synchrony. Events
  and syllables never overlap: at any moment at most one character makes a sound.

The downstream sets (UCF101, HMDB51, ESC-50 in their official layouts) are short clips in which a fresh
random character on a fresh random scene performs one event class two or three times, sometimes with a
talking distractor, plus pixel noise: the same signatures as in the corpus, so pretraining transfers.
(UCF101 clips of one group share actor and set, which is why its splits are by group.)

Rendering is vectorised numpy (each character is stamped into its bounding box), so a 160x96, 16 fps minute
takes about one CPU-second; encoding is libx264 ultrafast with 3 B-frames (as films have), one thread, a
fixed keyframe interval (default 2 s, so slot seeks are cheap) and AAC audio, which makes a seed's files
byte-identical across runs.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import av
import numpy as np

EVENT_CLASSES: tuple[str, ...] = (
    "jump",
    "spin",
    "flash",
    "grow",
    "shake",
    "split",
    "bounce",
    "blink",
    "slide",
    "wave",
)
SHAPES: tuple[str, ...] = ("circle", "square", "diamond", "triangle", "ring", "cross")
PATTERNS: tuple[str, ...] = ("stripes", "checker", "dots", "halves")
TEXTURES: tuple[str, ...] = ("plain", "stripes", "checker", "blobs", "grain")

_KIND_CODES = {"movie": 1, "tv": 2, "ucf101": 101, "hmdb51": 51, "esc50": 50}
_EVENT_LEVEL = 0.45
_SPEECH_LEVEL = 0.16
FLASH_GLOW = 0.35  # a flash also lights up the whole set, like a camera flash


# --------------------------------------------------------------------------------------------- the plan


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

    def summary(self) -> dict:
        """Small JSON-able description, stored in the file's metadata so a title says what it contains."""
        counts = np.bincount([e.action for e in self.events], minlength=len(EVENT_CLASSES))
        return {
            "generator": "tvssl synth",
            "name": self.name,
            "show": self.show,
            "seed": list(self.seed),
            "characters": [c.name for c in self.characters],
            "scenes": [s.name for s in self.scenes],
            "shots": len(self.shots),
            "events": {EVENT_CLASSES[i]: int(n) for i, n in enumerate(counts) if n},
        }


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV in [0, 1] -> RGB bytes; hue wraps."""
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
        size=float(rng.uniform(0.12, 0.18)),
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


@dataclass(frozen=True)
class _World:
    """What a title (or a whole show) shares: characters, sets, who appears how often, taste in actions."""

    characters: tuple[Character, ...]
    scenes: tuple[SceneStyle, ...]
    prominence: np.ndarray
    action_taste: np.ndarray


def _make_world(rng: np.random.Generator, prefix: str) -> _World:
    n_chars = int(rng.integers(3, 6))
    n_scenes = int(rng.integers(3, 7))
    characters = tuple(random_character(rng, f"{prefix}/char{i}") for i in range(n_chars))
    scenes = tuple(random_scene(rng, f"{prefix}/scene{i}") for i in range(n_scenes))
    prominence = 1.0 / np.arange(1, n_chars + 1) ** 0.8
    taste = rng.dirichlet(np.full(len(EVENT_CLASSES), 2.0))
    return _World(characters, scenes, prominence / prominence.sum(), taste)


def _placements(rng: np.random.Generator, members: Sequence[int]) -> tuple[Placement, ...]:
    """Spread the cast across the frame, standing on the lower half so a jump has room."""
    n = len(members)
    order = rng.permutation(n)
    return tuple(
        Placement(
            character=int(members[i]),
            x=float((order[i] + 0.5) / n + rng.uniform(-0.08, 0.08) / n),
            y=float(rng.uniform(0.58, 0.72)),
            wander_freq=float(rng.uniform(0.1, 0.3)),
            wander_phase=float(rng.uniform(0, 2 * np.pi)),
        )
        for i in range(n)
    )


def _fill_shot(
    rng: np.random.Generator,
    start: float,
    end: float,
    cast: Sequence[int],
    actions: Callable[[], int],
    performers: Sequence[int],
    event_prob: float,
    events: list[Event],
    syllables: list[Syllable],
    open_with_event: bool = False,
) -> None:
    """Alternate events (by ``performers``) and speech (by anyone in ``cast``) through [start, end)."""
    t = start + rng.uniform(0.15, 0.6)
    first = True
    while t < end - 0.4:
        if (first and open_with_event) or rng.random() < event_prob:
            first = False
            duration = float(rng.uniform(0.8, 1.2))
            if t + duration > end - 0.1:
                break
            events.append(Event(round(t, 4), round(duration, 4), int(rng.choice(performers)), actions()))
            t += duration + rng.uniform(0.3, 0.9)
        else:
            first = False
            speaker = int(rng.choice(cast))
            for _ in range(int(rng.integers(2, 7))):
                duration = float(rng.uniform(0.12, 0.26))
                if t + duration > end - 0.1:
                    break
                syllables.append(
                    Syllable(round(t, 4), round(duration, 4), speaker, float(rng.uniform(-0.2, 0.2)))
                )
                t += duration + rng.uniform(0.03, 0.1)
            t += rng.uniform(0.3, 0.9)


def _schedule(rng: np.random.Generator, world: _World, seconds: float) -> tuple[tuple, tuple, tuple]:
    """Shots, events and syllables covering [0, seconds)."""
    shots: list[Shot] = []
    events: list[Event] = []
    syllables: list[Syllable] = []
    n_scenes = len(world.scenes)
    n_chars = len(world.characters)
    t = 0.0
    previous = -1
    while t < seconds:
        end = min(seconds, t + rng.uniform(3.0, 8.0))
        if seconds - end < 1.5:
            end = seconds
        scene = int(rng.integers(n_scenes - 1)) if n_scenes > 1 else 0
        if n_scenes > 1 and scene >= previous >= 0:
            scene += 1
        previous = scene
        size = int(rng.integers(1, min(3, n_chars) + 1))
        members = [int(c) for c in rng.choice(n_chars, size=size, replace=False, p=world.prominence)]
        shots.append(Shot(round(t, 4), round(end, 4), scene, _placements(rng, members)))
        _fill_shot(
            rng,
            t,
            end,
            members,
            lambda: int(rng.choice(len(EVENT_CLASSES), p=world.action_taste)),
            members,
            0.6,
            events,
            syllables,
        )
        t = end
    return tuple(shots), tuple(events), tuple(syllables)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def plan_corpus(
    kind: str, titles: int, minutes: float, seed: int = 0, episodes_per_show: int = 3
) -> list[TitlePlan]:
    """The plans of every title of a corpus, in file order; each depends only on (seed, kind, its index)."""
    if kind not in ("movie", "tv"):
        raise ValueError(f"kind must be 'movie' or 'tv', got {kind!r}")
    if titles < 1:
        raise ValueError(f"titles must be >= 1, got {titles}")
    if not minutes > 0:
        raise ValueError(f"minutes must be > 0, got {minutes}")
    if kind == "tv" and episodes_per_show < 1:
        raise ValueError(f"episodes_per_show must be >= 1, got {episodes_per_show}")
    seconds = float(minutes) * 60.0
    plans: list[TitlePlan] = []
    code = _KIND_CODES[kind]
    for index in range(titles):
        if kind == "movie":
            name = f"movie_{index:03d}"
            key = (seed, code, index)
            world = _make_world(_rng(*key, 0), name)
            shots, events, syllables = _schedule(_rng(*key, 1), world, seconds)
            plans.append(
                TitlePlan(name, seconds, key, world.characters, world.scenes, shots, events, syllables)
            )
            continue
        show = f"Show{index + 1:02d}"
        world = _make_world(_rng(seed, code, index, 0), show)
        for episode in range(1, episodes_per_show + 1):
            key = (seed, code, index, episode)
            shots, events, syllables = _schedule(_rng(*key), world, seconds)
            plans.append(
                TitlePlan(
                    f"{show}/S01E{episode:02d}",
                    seconds,
                    key,
                    world.characters,
                    world.scenes,
                    shots,
                    events,
                    syllables,
                    show=show,
                )
            )
    return plans


def plan_clip(
    action: int,
    seconds: float,
    rng: np.random.Generator,
    character: Character | None = None,
    scene: SceneStyle | None = None,
    distractor: bool | None = None,
) -> TitlePlan:
    """A downstream clip: one character performs ``EVENT_CLASSES[action]`` repeatedly on one scene.

    ``character``/``scene`` fix the actor and set (UCF101 groups share them); otherwise they are drawn fresh.
    A distractor character may stand by and talk, but only the actor performs.
    """
    if seconds < 2.0:
        raise ValueError(f"a downstream clip needs at least 2 s to hold an event, got {seconds}")
    actor = character or random_character(rng, "actor")
    style = scene or random_scene(rng, "set")
    if distractor is None:
        distractor = bool(rng.random() < 0.5)
    characters = (actor, random_character(rng, "extra")) if distractor else (actor,)
    cast = list(range(len(characters)))
    shot = Shot(0.0, seconds, 0, _placements(rng, cast))
    events: list[Event] = []
    syllables: list[Syllable] = []
    _fill_shot(rng, 0.0, seconds, cast, lambda: action, [0], 0.75, events, syllables, open_with_event=True)
    key = (int(rng.integers(2**31)),)  # the soundtrack's own noise differs from clip to clip
    return TitlePlan("clip", seconds, key, characters, (style,), (shot,), tuple(events), tuple(syllables))


# --------------------------------------------------------------------------------------------- pictures


@dataclass
class _Pose:
    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0
    whiten: float = 0.0
    visible: bool = True
    split: float = 0.0


def pose(action: str, u: float) -> _Pose:
    """Visual signature of an action at phase ``u`` in [0, 1]; offsets are in character radii."""
    s = math.sin(math.pi * u)
    p = _Pose()
    if action == "jump":
        p.dy = -1.6 * s
    elif action == "spin":
        p.angle = 4 * math.pi * u
    elif action == "flash":
        p.whiten = math.exp(-3 * u)
    elif action == "grow":
        p.scale = 1 + 0.9 * s
    elif action == "shake":
        p.dx = 0.35 * math.sin(16 * math.pi * u)
    elif action == "split":
        p.split = 1.3 * s
    elif action == "bounce":
        p.dy = -1.1 * abs(math.sin(3 * math.pi * u)) * (1 - 0.5 * u)
    elif action == "blink":
        p.visible = not (0.2 <= u < 0.4 or 0.6 <= u < 0.8)
    elif action == "slide":
        p.dx = 2.2 * s
    elif action == "wave":
        p.angle = 0.7 * math.sin(6 * math.pi * u)
    else:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(EVENT_CLASSES)}")
    return p


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.85
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.15
    if shape == "triangle":
        return (v <= 0.6) & (v >= -1.0 + 1.8 * np.abs(u))
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.3)
    if shape == "cross":
        au, av_ = np.abs(u), np.abs(v)
        return ((au <= 0.35) & (av_ <= 1.0)) | ((av_ <= 0.35) & (au <= 1.0))
    raise ValueError(f"unknown shape {shape!r}")


def _pattern_mask(pattern: str, u: np.ndarray, v: np.ndarray, freq: float) -> np.ndarray:
    if pattern == "stripes":
        return np.sin(np.pi * freq * u) > 0
    if pattern == "checker":
        return (np.floor(freq * u) + np.floor(freq * v)) % 2 == 0
    if pattern == "dots":
        fu, fv = np.mod(freq * u, 1.0) - 0.5, np.mod(freq * v, 1.0) - 0.5
        return fu * fu + fv * fv < 0.09
    if pattern == "halves":
        return u > 0
    raise ValueError(f"unknown pattern {pattern!r}")


def _stamp(
    frame: np.ndarray,
    ch: Character,
    cx: float,
    cy: float,
    radius: float,
    angle: float,
    colors: tuple[np.ndarray, np.ndarray],
) -> None:
    """Draw one copy of a character into its bounding box of ``frame`` (in place)."""
    height, width = frame.shape[:2]
    reach = 1.5 * radius
    x0, x1 = max(0, int(cx - reach)), min(width, int(math.ceil(cx + reach)) + 1)
    y0, y1 = max(0, int(cy - reach)), min(height, int(math.ceil(cy + reach)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = ((np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / radius)[None, :]
    ys = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / radius)[:, None]
    c, s = math.cos(angle), math.sin(angle)
    u = c * xs + s * ys
    v = c * ys - s * xs
    inside = _shape_mask(ch.shape, u, v)
    second = _pattern_mask(ch.pattern, u, v, ch.pattern_freq)
    region = frame[y0:y1, x0:x1]
    region[inside & ~second] = colors[0]
    region[inside & second] = colors[1]


def _backdrop(style: SceneStyle, width: int, height: int) -> np.ndarray:
    """Static picture of a scene style: gradient x texture, darker below the floor line."""
    ys = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height
    xs = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width * (width / height)
    g = math.cos(style.angle) * xs + math.sin(style.angle) * ys
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
    top = np.asarray(style.top, np.float32)
    bottom = np.asarray(style.bottom, np.float32)
    img = top * (1 - g[..., None]) + bottom * g[..., None]
    f = style.texture_freq
    if style.texture == "stripes":
        tex = np.sin(2 * np.pi * f * (xs * math.sin(style.angle) - ys * math.cos(style.angle)))
    elif style.texture == "checker":
        tex = ((np.floor(f * xs) + np.floor(f * ys)) % 2) * 2.0 - 1.0
    elif style.texture == "blobs":
        coarse = np.random.default_rng(style.seed).uniform(-1, 1, (6, 10))
        row = np.stack(
            [np.interp(np.linspace(0, 5, height), np.arange(6), coarse[:, j]) for j in range(10)], 1
        )
        tex = np.stack([np.interp(np.linspace(0, 9, width), np.arange(10), r) for r in row])
    elif style.texture == "grain":
        tex = np.random.default_rng(style.seed).uniform(-1, 1, (height, width))
    else:
        tex = np.zeros((height, width), np.float32)
    img = img * (1 + style.texture_contrast * np.broadcast_to(tex, (height, width))[..., None])
    img[int(style.floor * height) :] *= 0.75
    return np.clip(img, 0, 255).astype(np.uint8)


def _active(starts: np.ndarray, ends: np.ndarray, t: float) -> int:
    """Index of the interval containing ``t`` (intervals are sorted and disjoint), or -1."""
    k = int(np.searchsorted(starts, t, side="right")) - 1
    return k if k >= 0 and t < ends[k] else -1


def render_frames(
    plan: TitlePlan, width: int, height: int, fps: float, first: int = 0, count: int | None = None
) -> Iterator[np.ndarray]:
    """RGB frames ``[height, width, 3]`` uint8 at times (first + i) / fps; the generator reuses no buffers."""
    if width < 16 or height < 16:
        raise ValueError(f"frame size {width}x{height} is too small; use at least 16x16")
    total = int(round(plan.seconds * fps))
    count = total - first if count is None else count
    shot_starts = np.array([s.start for s in plan.shots])
    ev_starts = np.array([e.start for e in plan.events])
    ev_ends = np.array([e.start + e.duration for e in plan.events])
    sy_starts = np.array([s.start for s in plan.syllables])
    sy_ends = np.array([s.start + s.duration for s in plan.syllables])
    backdrops: dict[int, np.ndarray] = {}
    palettes = [(np.asarray(c.color, np.float32), np.asarray(c.color2, np.float32)) for c in plan.characters]
    for i in range(first, first + count):
        t = i / fps
        shot = plan.shots[max(0, int(np.searchsorted(shot_starts, t, side="right")) - 1)]
        if shot.scene not in backdrops:
            backdrops[shot.scene] = _backdrop(plan.scenes[shot.scene], width, height)
        k = _active(ev_starts, ev_ends, t)
        event = plan.events[k] if k >= 0 else None
        if event is not None and EVENT_CLASSES[event.action] == "flash":
            glow = FLASH_GLOW * pose("flash", (t - event.start) / event.duration).whiten
            frame = (backdrops[shot.scene] * (1 - glow) + 255 * glow).astype(np.uint8)
        else:
            frame = backdrops[shot.scene].copy()
        k = _active(sy_starts, sy_ends, t)
        syllable = plan.syllables[k] if k >= 0 else None
        for place in shot.cast:
            ch = plan.characters[place.character]
            radius = ch.size * height
            if event is not None and event.character == place.character:
                p = pose(EVENT_CLASSES[event.action], (t - event.start) / event.duration)
            else:
                p = _Pose()
                if syllable is not None and syllable.character == place.character:
                    env = math.sin(math.pi * (t - syllable.start) / syllable.duration) ** 2
                    p.scale, p.whiten = 1 + 0.12 * env, 0.25 * env
            if not p.visible:
                continue
            wobble = 2 * math.pi * place.wander_freq * t + place.wander_phase
            cx = (place.x + 0.02 * math.sin(wobble)) * width + p.dx * radius
            cy = (place.y + 0.01 * math.sin(1.3 * wobble + place.wander_phase)) * height + p.dy * radius
            lo, hi = palettes[place.character]
            colors = (lo + (255 - lo) * p.whiten, hi + (255 - hi) * p.whiten)
            if p.split > 0:
                for side in (-1, 1):
                    _stamp(
                        frame, ch, cx + side * p.split * radius, cy, 0.75 * radius * p.scale, p.angle, colors
                    )
            else:
                _stamp(frame, ch, cx, cy, radius * p.scale, p.angle, colors)
        yield frame


# --------------------------------------------------------------------------------------------- sound


def _tone(voice: Voice, pitch: np.ndarray, sample_rate: int) -> np.ndarray:
    """The voice following a relative pitch contour (one value per sample), peak about 1."""
    t = np.arange(pitch.size) / sample_rate
    f = voice.f0 * pitch * (1 + voice.vibrato_depth * np.sin(2 * np.pi * voice.vibrato_rate * t))
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    if not voice.harmonics:
        return np.sin(phase + voice.fm_index * np.sin(voice.fm_ratio * phase))
    top = float(f.max()) if f.size else voice.f0
    out = np.zeros_like(phase)
    total = 0.0
    for k, w in enumerate(voice.harmonics, start=1):
        if k * top < 0.45 * sample_rate:
            out += w * np.sin(k * phase)
            total += w
    return out / max(total, 1e-9)


def event_sound(
    action: str, voice: Voice, duration: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Sound signature of an action made with ``voice``; sample i has phase i / len, like ``pose``."""
    m = max(1, int(round(duration * sample_rate)))
    u = np.arange(m) / m
    s = np.sin(np.pi * u)
    fade = np.clip(np.minimum(u, 1 - u) / 0.08, 0, 1)
    ones = np.ones(m)

    def tone(pitch: np.ndarray) -> np.ndarray:
        return _tone(voice, pitch, sample_rate)

    if action == "jump":
        sig = tone(1 + 0.8 * s) * np.sqrt(s)
    elif action == "spin":
        sig = tone(1 + 0.5 * np.mod(2 * u, 1.0)) * fade
    elif action == "flash":
        sig = tone(ones) * np.exp(-3 * u) + 0.6 * rng.standard_normal(m) * np.exp(-8 * u)
    elif action == "grow":
        sig = (0.6 * tone(ones) + 0.6 * tone(0.5 * ones) * s) * s
    elif action == "shake":
        sig = tone(ones) * np.abs(np.sin(16 * np.pi * u)) * fade
    elif action == "split":
        sig = 0.6 * (tone(1 + 0.3 * s) + tone(1 - 0.3 * s)) * fade
    elif action == "bounce":
        env = np.zeros(m)
        for j in range(3):
            d = u - j / 3
            env += np.where(d >= 0, np.exp(-12 * np.maximum(d, 0)), 0) * (1 - 0.5 * j / 3)
        sig = tone(1.2 * ones) * env
    elif action == "blink":
        gate = ((u >= 0.2) & (u < 0.4)) | ((u >= 0.6) & (u < 0.8))
        smooth = np.convolve(gate.astype(float), np.ones(max(1, m // 100)) / max(1, m // 100), mode="same")
        sig = tone(1.5 * ones) * smooth
    elif action == "slide":
        sig = tone(1 - 0.35 * s) * fade
    elif action == "wave":
        sig = tone(1 + 0.12 * np.sin(6 * np.pi * u)) * fade
    else:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(EVENT_CLASSES)}")
    return _EVENT_LEVEL * sig


def _syllable_sound(voice: Voice, syllable: Syllable, sample_rate: int) -> np.ndarray:
    m = max(1, int(round(syllable.duration * sample_rate)))
    u = np.arange(m) / m
    return _SPEECH_LEVEL * _tone(voice, 1 + syllable.glide * (u - 0.5), sample_rate) * np.sin(np.pi * u) ** 2


def _ambience(style: SceneStyle, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise (power slope per octave, soft low-pass) plus hum, faded at both ends against clicks."""
    if n <= 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum *= np.maximum(f, 20.0) ** (-style.noise_slope / 2) / (1 + (f / style.noise_cutoff) ** 4)
    noise = np.fft.irfft(spectrum, n)
    noise *= style.noise_level / max(float(np.sqrt(np.mean(noise**2))), 1e-12)
    t = np.arange(n) / sample_rate
    hum = style.hum_level * (
        np.sin(2 * np.pi * style.hum_freq * t) + 0.5 * np.sin(4 * np.pi * style.hum_freq * t)
    )
    edge = min(n // 2, int(0.005 * sample_rate))
    out = noise + hum
    if edge > 0:
        ramp = np.linspace(0, 1, edge)
        out[:edge] *= ramp
        out[-edge:] *= ramp[::-1]
    return out


def render_audio(plan: TitlePlan, sample_rate: int, samples: int | None = None) -> np.ndarray:
    """Mono float32 soundtrack in [-1, 1]; ``samples`` defaults to the plan's length (rounded up)."""
    n = int(math.ceil(plan.seconds * sample_rate)) if samples is None else samples
    out = np.zeros(n)
    rng = _rng(*plan.seed, 99)
    for shot in plan.shots:
        a, b = int(round(shot.start * sample_rate)), min(n, int(round(shot.end * sample_rate)))
        out[a:b] += _ambience(plan.scenes[shot.scene], b - a, sample_rate, rng)
    sounds = [
        (
            e.start,
            event_sound(
                EVENT_CLASSES[e.action], plan.characters[e.character].voice, e.duration, sample_rate, rng
            ),
        )
        for e in plan.events
    ]
    sounds += [
        (s.start, _syllable_sound(plan.characters[s.character].voice, s, sample_rate)) for s in plan.syllables
    ]
    for start, sound in sounds:
        a = int(round(start * sample_rate))
        if a < n:
            out[a : a + sound.size] += sound[: n - a]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------------------- encoding


def _check_size(width: int, height: int) -> None:
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"frame size {width}x{height}: width and height must be even and >= 16 (yuv420p)")


def _atomic_target(path: Path) -> Path:
    """Write beside the final name, then rename: an interrupted run leaves no half file for the index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.partial")


def write_title(
    path: str | os.PathLike,
    plan: TitlePlan,
    width: int = 160,
    height: int = 96,
    fps: int = 16,
    sample_rate: int = 16000,
    gop_seconds: float = 2.0,
) -> Path:
    """Encode one plan as H.264 (ultrafast, yuv420p, keyframe every ``gop_seconds``) + AAC mono in mp4."""
    _check_size(width, height)
    final = Path(path)
    tmp = _atomic_target(final)
    gop = max(1, int(round(gop_seconds * fps)))
    n_frames = int(round(plan.seconds * fps))
    chunk = 1024
    n_audio = int(math.ceil(n_frames * sample_rate / fps / chunk)) * chunk
    audio = render_audio(plan, sample_rate, n_audio)
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            container.metadata["title"] = plan.name
            container.metadata["comment"] = json.dumps(plan.summary(), separators=(",", ":"))
            options = {
                "preset": "ultrafast",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:threads=1:bframes=3:b-adapt=0",
            }
            vstream = container.add_stream("libx264", rate=fps, options=options)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.codec_context.thread_count = 1
            vstream.codec_context.gop_size = gop
            vstream.codec_context.time_base = Fraction(1, fps)
            astream = container.add_stream("aac", rate=sample_rate, layout="mono")
            astream.codec_context.thread_count = 1
            a_next = 0
            for i, rgb in enumerate(render_frames(plan, width, height, fps)):
                limit = min(n_audio, (i * sample_rate) // fps)
                while a_next < limit:
                    _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, sample_rate)
                    a_next += chunk
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                container.mux(vstream.encode(frame))
            while a_next < n_audio:
                _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, sample_rate)
                a_next += chunk
            container.mux(vstream.encode(None))
            container.mux(astream.encode(None))
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _mux_audio(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    samples: np.ndarray,
    pts: int,
    sample_rate: int,
    fmt: str = "fltp",
) -> None:
    """Encode one chunk of mono samples (float in [-1, 1]) starting at sample ``pts``."""
    data = samples[None, :]
    if fmt == "s16":
        data = np.round(np.clip(data, -1, 1) * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    container.mux(stream.encode(frame))


def _write_task(args: tuple) -> str:
    path, plan, kwargs = args
    return str(write_title(path, plan, **kwargs))


def synthesize_corpus(
    out: str | os.PathLike,
    kind: str = "movie",
    titles: int = 4,
    minutes: float = 1.0,
    seed: int = 0,
    width: int = 160,
    height: int = 96,
    fps: int = 16,
    sample_rate: int = 16000,
    episodes_per_show: int = 3,
    gop_seconds: float = 2.0,
    workers: int = 1,
    on_written: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write a long-form corpus: movies ``out/movie_000.mp4`` or TV ``out/Show01/S01E01.mp4``.

    TV writes ``titles`` shows of ``episodes_per_show`` episodes, each ``minutes`` long; the episodes of a
    show share characters and scene styles. ``workers`` > 1 encodes titles in parallel processes; the output
    does not depend on it. Returns the paths in plan order.
    """
    _check_size(width, height)
    if fps < 1 or sample_rate < 8000:
        raise ValueError(
            f"fps must be >= 1 and sample_rate >= 8000, got fps={fps}, sample_rate={sample_rate}"
        )
    if not gop_seconds > 0:
        raise ValueError(f"gop_seconds must be > 0, got {gop_seconds}")
    root = Path(out)
    plans = plan_corpus(kind, titles, minutes, seed, episodes_per_show)
    kwargs = {
        "width": width,
        "height": height,
        "fps": fps,
        "sample_rate": sample_rate,
        "gop_seconds": gop_seconds,
    }
    tasks = [(root / f"{plan.name}.mp4", plan, kwargs) for plan in plans]
    paths: list[Path] = []
    if workers <= 1 or len(tasks) == 1:
        for task in tasks:
            paths.append(Path(_write_task(task)))
            if on_written:
                on_written(paths[-1])
        return paths
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
        for written in pool.map(_write_task, tasks):
            paths.append(Path(written))
            if on_written:
                on_written(paths[-1])
    return paths


# --------------------------------------------------------------------------------------------- downstream


def _check_classes(classes: int) -> list[int]:
    if not 1 <= classes <= len(EVENT_CLASSES):
        raise ValueError(f"classes must be 1..{len(EVENT_CLASSES)} (the event vocabulary), got {classes}")
    return list(range(classes))


def _noisy_frames(
    plan: TitlePlan, width: int, height: int, fps: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Camera-like pixel noise on top of the clean render, so a downstream task is not pixel-perfect."""
    for rgb in render_frames(plan, width, height, fps):
        noise = rng.normal(0.0, 4.0, rgb.shape).astype(np.float32)
        yield np.clip(rgb + noise, 0, 255).astype(np.uint8)


def _write_avi(
    path: Path,
    plan: TitlePlan,
    width: int,
    height: int,
    fps: int,
    rng: np.random.Generator,
    audio_rate: int | None,
) -> None:
    """MPEG-4 part 2 video in AVI (like UCF101/HMDB51), with an MP2 audio track when ``audio_rate`` is set."""
    _check_size(width, height)
    tmp = _atomic_target(path)
    try:
        with av.open(str(tmp), mode="w", format="avi") as container:
            vstream = container.add_stream("mpeg4", rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.codec_context.thread_count = 1
            vstream.codec_context.bit_rate = 600_000
            vstream.codec_context.gop_size = 12
            astream = None
            if audio_rate is not None:
                astream = container.add_stream("mp2", rate=audio_rate, layout="mono")
                astream.codec_context.bit_rate = 64_000
                audio = render_audio(plan, audio_rate)
            a_next, chunk = 0, 1152
            for i, rgb in enumerate(_noisy_frames(plan, width, height, fps, rng)):
                if astream is not None:
                    while a_next < min(audio.size, (i * audio_rate) // fps):
                        _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, audio_rate)
                        a_next += chunk
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode(None))
            if astream is not None:
                while a_next < audio.size:
                    _mux_audio(container, astream, audio[a_next : a_next + chunk], a_next, audio_rate)
                    a_next += chunk
                container.mux(astream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    tmp = _atomic_target(path)
    try:
        with av.open(str(tmp), mode="w", format="wav") as container:
            stream = container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
            for a in range(0, samples.size, 4096):
                _mux_audio(container, stream, samples[a : a + 4096], a, sample_rate, fmt="s16")
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def synthesize_ucf101(
    root: str | os.PathLike,
    classes: int = 5,
    clips_per_group: int = 3,
    groups: int = 6,
    seed: int = 0,
    width: int = 160,
    height: int = 120,
    fps: int = 25,
    seconds: float = 3.5,
) -> list[Path]:
    """UCF101 layout: ``UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` and ``ucfTrainTestlist/``.

    As in UCF101, the clips of one group share actor and set, and splits are by group: split s tests on its
    own block of ``groups // 3`` groups and trains on all others. Classes with an even index (in classInd
    order) carry an MP2 audio track, like the roughly half of real UCF101 classes that have sound.
    """
    if groups < 3:
        raise ValueError(f"groups must be >= 3 (three splits test on disjoint groups), got {groups}")
    if clips_per_group < 1:
        raise ValueError(f"clips_per_group must be >= 1, got {clips_per_group}")
    root = Path(root)
    actions = _check_classes(classes)
    names = sorted(EVENT_CLASSES[a].capitalize() for a in actions)
    code = _KIND_CODES["ucf101"]
    written: list[Path] = []
    files: dict[str, list[tuple[int, str]]] = {}
    for label, name in enumerate(names):
        action = EVENT_CLASSES.index(name.lower())
        files[name] = []
        for g in range(1, groups + 1):
            group_rng = _rng(seed, code, action, g)
            actor = random_character(group_rng, f"g{g:02d}-actor")
            scene = random_scene(group_rng, f"g{g:02d}-set")
            for c in range(1, clips_per_group + 1):
                rng = _rng(seed, code, action, g, c)
                plan = plan_clip(action, seconds, rng, character=actor, scene=scene)
                file = f"v_{name}_g{g:02d}_c{c:02d}.avi"
                path = root / "UCF-101" / name / file
                _write_avi(path, plan, width, height, fps, rng, 44100 if label % 2 == 0 else None)
                files[name].append((g, file))
                written.append(path)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    per_split = groups // 3
    for split in (1, 2, 3):
        test_groups = set(range((split - 1) * per_split + 1, split * per_split + 1))
        train = [
            f"{n}/{f} {i + 1}\n" for i, n in enumerate(names) for g, f in files[n] if g not in test_groups
        ]
        test = [f"{n}/{f}\n" for n in names for g, f in files[n] if g in test_groups]
        (lists / f"trainlist0{split}.txt").write_text("".join(train))
        (lists / f"testlist0{split}.txt").write_text("".join(test))
    return written


def synthesize_hmdb51(
    root: str | os.PathLike,
    classes: int = 5,
    clips_per_class: int = 20,
    seed: int = 0,
    width: int = 160,
    height: int = 120,
    fps: int = 30,
    seconds: float = 3.0,
) -> list[Path]:
    """HMDB51 layout: ``<class>/<name>.avi`` (no audio) and ``testTrainMulti_7030_splits/`` split files.

    Per class and split about 10% of clips are unused (tag 0) and the rest split 70/30 into train (1) and test
    (2), drawn independently per split, as in the official files (lines ``<name>.avi <tag> ``).
    """
    if clips_per_class < 4:
        raise ValueError(
            f"clips_per_class must be >= 4 (train, test and unused in every split), got {clips_per_class}"
        )
    actions = _check_classes(classes)
    root = Path(root)
    code = _KIND_CODES["hmdb51"]
    written: list[Path] = []
    split_dir = root / "testTrainMulti_7030_splits"
    for action in actions:
        name = EVENT_CLASSES[action]
        videos = []
        for c in range(clips_per_class):
            rng = _rng(seed, code, action, c)
            plan = plan_clip(action, seconds, rng)
            video = f"synth{c // 3:02d}_{name}_f_cm_np{1 + c % 3}_fr_med_{c % 3}.avi"
            path = root / name / video
            _write_avi(path, plan, width, height, fps, rng, None)
            written.append(path)
            videos.append(video)
        for split in (1, 2, 3):
            rng = _rng(seed, code, 1000 + split, action)
            order = rng.permutation(clips_per_class)
            unused = max(1, clips_per_class // 10)
            used = clips_per_class - unused
            n_test = max(1, round(0.3 * used))
            tags = np.ones(clips_per_class, dtype=int)
            tags[order[:unused]] = 0
            tags[order[unused : unused + n_test]] = 2
            lines = "".join(f"{v} {t} \n" for v, t in zip(videos, tags))
            split_dir.mkdir(parents=True, exist_ok=True)
            (split_dir / f"{name}_test_split{split}.txt").write_text(lines)
    return written


def synthesize_esc50(
    root: str | os.PathLike,
    classes: int = 5,
    clips_per_class: int = 10,
    seed: int = 0,
    sample_rate: int = 44100,
    seconds: float = 5.0,
) -> list[Path]:
    """ESC-50 layout: ``audio/<fold>-<src>-<take>-<target>.wav`` (5 s, 44.1 kHz mono s16), ``meta/esc50.csv``.

    Clips of a class are dealt round-robin over folds 1-5 (balanced); takes of one source stay in one fold.
    """
    if clips_per_class < 5:
        raise ValueError(f"clips_per_class must be >= 5 (one per fold), got {clips_per_class}")
    targets = _check_classes(classes)
    root = Path(root)
    code = _KIND_CODES["esc50"]
    audio_dir = root / "audio"
    rows: list[list[str]] = []
    written: list[Path] = []
    for target in targets:
        for c in range(clips_per_class):
            fold = c % 5 + 1
            src = 100000 + 10000 * target + (c // 10) * 5 + c % 5
            take = "AB"[(c // 5) % 2]
            rng = _rng(seed, code, target, c)
            plan = plan_clip(target, seconds, rng)
            filename = f"{fold}-{src}-{take}-{target}.wav"
            path = audio_dir / filename
            _write_wav(path, render_audio(plan, sample_rate, int(round(seconds * sample_rate))), sample_rate)
            written.append(path)
            rows.append(
                [filename, str(fold), str(target), EVENT_CLASSES[target], str(target < 2), str(src), take]
            )
    (root / "meta").mkdir(parents=True, exist_ok=True)
    rows.sort(key=lambda r: r[0])
    with open(root / "meta" / "esc50.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    return written


def split_files(kind: str, root: str | os.PathLike, classes: int = 5) -> list[Path]:
    """The list/meta files (not media) that ``synthesize_<kind>(root, classes=...)`` writes."""
    root = Path(root)
    if kind == "ucf101":
        lists = root / "ucfTrainTestlist"
        names = ["classInd.txt"] + [
            f"{part}0{s}.txt" for part in ("trainlist", "testlist") for s in (1, 2, 3)
        ]
        return [lists / n for n in names]
    if kind == "hmdb51":
        split_dir = root / "testTrainMulti_7030_splits"
        return [
            split_dir / f"{EVENT_CLASSES[a]}_test_split{s}.txt" for a in range(classes) for s in (1, 2, 3)
        ]
    if kind == "esc50":
        return [root / "meta" / "esc50.csv"]
    raise ValueError(f"kind must be 'ucf101', 'hmdb51' or 'esc50', got {kind!r}")


def synthesize_downstream(root: str | os.PathLike, seed: int = 0, classes: int = 5) -> dict[str, list[Path]]:
    """All three downstream sets, under ``root/ucf101``, ``root/hmdb51`` and ``root/esc50``."""
    root = Path(root)
    return {
        "ucf101": synthesize_ucf101(root / "ucf101", classes=classes, seed=seed),
        "hmdb51": synthesize_hmdb51(root / "hmdb51", classes=classes, seed=seed),
        "esc50": synthesize_esc50(root / "esc50", classes=classes, seed=seed),
    }
