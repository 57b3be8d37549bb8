"""Frame rendering: a plan becomes RGB frames, one pure function of (plan, size, frame rate, frame index).

Rendering is vectorised numpy and each character is stamped only into its bounding box, so a 160x96, 16 fps
minute takes about one CPU-second. A performer's look comes from its action's ``pose``; a speaker pulses with
its syllable's envelope, so even quiet stretches carry audio-visual synchrony.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from data_modules.synthetic.actions import ACTIONS, Pose
from data_modules.synthetic.plans import seeded_rng
from data_modules.synthetic.production import grade_frame
from data_modules.synthetic.world import Character, SceneStyle, TitlePlan


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside of a unit-radius shape at character coordinates (u, v)."""
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
    """Where the second colour goes; the pattern turns with the character, so a spin is visible."""
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
    """RGB frames ``[height, width, 3]`` uint8 at times (first + i) / fps, graded by the plan's production if it
    has one; the generator reuses no buffers."""
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
        performed: Pose | None = None
        if event is not None:
            performed = ACTIONS[event.action].pose((t - event.start) / event.duration)
        if performed is not None and performed.set_glow > 0:
            glow = performed.set_glow
            frame = (backdrops[shot.scene] * (1 - glow) + 255 * glow).astype(np.uint8)
        else:
            frame = backdrops[shot.scene].copy()
        k = _active(sy_starts, sy_ends, t)
        syllable = plan.syllables[k] if k >= 0 else None
        for place in shot.cast:
            ch = plan.characters[place.character]
            radius = ch.size * height
            if event is not None and performed is not None and event.character == place.character:
                p = performed
            elif syllable is not None and syllable.character == place.character:
                env = math.sin(math.pi * (t - syllable.start) / syllable.duration) ** 2
                p = Pose(scale=1 + 0.12 * env, whiten=0.25 * env)
            else:
                p = Pose()
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
        if plan.production is not None:
            # The grain of frame i is drawn from its own stream, so any range of frames renders alike.
            frame = grade_frame(frame, plan.production, seeded_rng(*plan.seed, 98, i))
        yield frame


def noisy_frames(
    plan: TitlePlan, width: int, height: int, fps: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Camera-like pixel noise on top of the clean render, so a downstream task is not pixel-perfect."""
    for rgb in render_frames(plan, width, height, fps):
        noise = rng.normal(0.0, 4.0, rgb.shape).astype(np.float32)
        yield np.clip(rgb + noise, 0, 255).astype(np.uint8)
