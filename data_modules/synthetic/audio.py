"""Audio rendering: a plan becomes a mono soundtrack, sample-aligned with ``render_frames``.

Each shot's set contributes its ambience (coloured noise plus a mains-like hum), each event its action's sound
in the performer's voice, each syllable a short glide of the speaker's voice. Events and syllables never
overlap in the plan, so at any moment at most one character is heard, as in dialogue. A title with a production
is then recorded through it (``production.master``: room tone, hiss, band limit).
"""

from __future__ import annotations

import math

import numpy as np

from data_modules.synthetic.actions import EVENT_CLASSES, Phase, action_named
from data_modules.synthetic.plans import seeded_rng
from data_modules.synthetic.production import master
from data_modules.synthetic.world import SceneStyle, Syllable, TitlePlan, Voice

_EVENT_LEVEL = 0.45
_SPEECH_LEVEL = 0.16  # talk sits well below events, so an event stands out on the soundtrack too


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
        if k * top < 0.45 * sample_rate:  # drop harmonics above Nyquist instead of letting them alias
            out += w * np.sin(k * phase)
            total += w
    return out / max(total, 1e-9)


def event_sound(
    action: str, voice: Voice, duration: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Sound signature of an action made with ``voice``; sample i has phase i / len, like ``pose``."""
    samples = max(1, int(round(duration * sample_rate)))
    phase = Phase.of(samples, lambda pitch: _tone(voice, pitch, sample_rate), rng)
    return _EVENT_LEVEL * action_named(action).sound(phase)


def _syllable_sound(voice: Voice, syllable: Syllable, sample_rate: int) -> np.ndarray:
    """One syllable: the voice gliding across it under a sin^2 envelope (the same one the speaker pulses by)."""
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
    """Mono float32 soundtrack in [-1, 1], recorded as the plan's production (if any) records it; ``samples``
    defaults to the plan's length (rounded up)."""
    n = int(math.ceil(plan.seconds * sample_rate)) if samples is None else samples
    out = np.zeros(n)
    rng = seeded_rng(*plan.seed, 99)
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
    if plan.production is not None:
        out = master(out, plan.production, sample_rate, seeded_rng(*plan.seed, 97))
    return np.clip(out, -1.0, 1.0).astype(np.float32)
