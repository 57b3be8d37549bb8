"""A title's production (``data_modules.synthetic.production``): drawn per movie and per TV show, shared by every
clip of a title, visible in the picture and audible in the sound by one rule, and absent everywhere else."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from data_modules.synthetic import plan_clip, plan_corpus, render_audio, render_frames, synthesize_corpus
from data_modules.synthetic.plans import seeded_rng
from data_modules.synthetic.production import (
    GRAIN_LEVELS,
    HISS_LEVEL,
    LIFT_LEVELS,
    Production,
    bandwidth_hz,
    channel_gains,
    grade_frame,
    master,
    room_tone_hz,
)
from tvssl.commands import synth

SR = 16000


def test_productions_change_nothing_in_a_plan_but_its_production() -> None:
    for kind in ("movie", "tv"):
        plain = plan_corpus(kind, 3, 0.5, seed=4)
        made = plan_corpus(kind, 3, 0.5, seed=4, productions=True)
        assert all(p.production is None for p in plain)
        assert [p.production is not None for p in made] == [True] * len(made)
        for a, b in zip(plain, made, strict=True):
            assert (a.characters, a.scenes, a.shots, a.events, a.syllables) == (
                b.characters,
                b.scenes,
                b.shots,
                b.events,
                b.syllables,
            )
    movies = plan_corpus("movie", 4, 0.5, seed=4, productions=True)
    assert len({p.production for p in movies}) == 4
    episodes = plan_corpus("tv", 2, 0.5, seed=4, episodes_per_show=3, productions=True)
    by_show = {p.show: {e.production for e in episodes if e.show == p.show} for p in episodes}
    assert [len(v) for v in by_show.values()] == [1, 1]  # a show's episodes share its production
    assert len({next(iter(v)) for v in by_show.values()}) == 2
    assert plan_clip(0, 3.0, seeded_rng(1)).production is None  # downstream clips have none


def test_the_grade_tints_the_picture_lifts_its_blacks_and_adds_grain() -> None:
    flat = np.full((64, 112, 3), 100, np.uint8)
    new = Production(grade_hue=0.0, age=0.0)
    assert np.array_equal(grade_frame(flat, new, seeded_rng(0))[0, 0], np.round(100 * channel_gains(new)))
    assert channel_gains(new)[0] == pytest.approx(1.2) and channel_gains(new)[1:] == pytest.approx([0.9, 0.9])
    blue = Production(grade_hue=2 / 3, age=0.0)
    assert int(np.argmax(channel_gains(blue))) == 2
    old = Production(grade_hue=0.0, age=1.0)
    graded = grade_frame(flat, old, seeded_rng(0)).astype(np.float64)
    expected = 100 * channel_gains(old) * (1 - LIFT_LEVELS / 255) + LIFT_LEVELS
    assert graded.mean(axis=(0, 1)) == pytest.approx(expected, abs=0.6)
    assert graded[..., 0].std() == pytest.approx(GRAIN_LEVELS, rel=0.1)
    black = grade_frame(np.zeros_like(flat), old, seeded_rng(0))
    # Blacks are lifted (the grain clipped at 0 adds a little).
    assert black.mean() == pytest.approx(LIFT_LEVELS, abs=0.6)


def test_a_graded_title_renders_the_same_frames_in_any_range_and_shares_its_grade() -> None:
    (plan,) = plan_corpus("movie", 1, 0.2, seed=2, productions=True)
    assert plan.production is not None
    full = np.stack(list(render_frames(plan, 112, 64, 16)))
    part = np.stack(list(render_frames(plan, 112, 64, 16, first=30, count=7)))
    assert np.array_equal(full[30:37], part)
    bare = np.stack(list(render_frames(plan_corpus("movie", 1, 0.2, seed=2)[0], 112, 64, 16)))
    ratio = full.reshape(-1, 3).mean(0) / bare.reshape(-1, 3).mean(0)
    gains = channel_gains(plan.production)
    assert np.argsort(ratio).tolist() == np.argsort(gains).tolist()  # the tint shows over the whole title


def _band_power(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spectrum[(f >= low) & (f < high)].mean())


def test_the_room_tone_follows_the_grades_hue_and_age_takes_the_treble() -> None:
    silence = np.zeros(4 * SR)
    for hue in (0.0, 0.5, 0.9):
        recorded = master(silence, Production(grade_hue=hue, age=0.0), SR, seeded_rng(0))
        f = np.fft.rfftfreq(silence.size, 1 / SR)
        peak = f[np.argmax(np.abs(np.fft.rfft(recorded)))]
        assert peak == pytest.approx(room_tone_hz(Production(hue, 0.0)), abs=0.5)
    assert room_tone_hz(Production(0.0, 0)) == 700 and room_tone_hz(Production(1.0, 0)) == pytest.approx(2100)
    assert float(np.abs(master(silence, Production(0.3, 0.0), SR, seeded_rng(0))[SR:]).max()) < 0.02
    treble = []
    for age in (0.25, 0.6, 1.0):
        hiss = master(silence, Production(grade_hue=0.0, age=age), SR, seeded_rng(1))
        hiss_only = hiss - master(silence, Production(grade_hue=0.0, age=0.0), SR, seeded_rng(1))
        f = np.linspace(0, SR / 2, 4001)
        kept = np.sqrt(np.mean((1 + (f / bandwidth_hz(Production(0.0, age))) ** 4) ** -2.0))
        assert hiss_only.std() == pytest.approx(HISS_LEVEL * age * kept, rel=0.05)  # white hiss, band-limited
        treble.append(_band_power(hiss_only, 5500, 7500) / _band_power(hiss_only, 200, 600))
    assert treble[0] > 2 * treble[1] > 4 * treble[2]
    assert bandwidth_hz(Production(0, 1.0)) == 3000 and bandwidth_hz(Production(0, 0.0)) == 7000


def test_a_produced_title_is_recorded_through_its_production_sample_aligned() -> None:
    (plan,) = plan_corpus("movie", 1, 0.2, seed=3, productions=True)
    (bare,) = plan_corpus("movie", 1, 0.2, seed=3)
    assert plan.production is not None
    made, dry = render_audio(plan, SR), render_audio(bare, SR)
    assert made.shape == dry.shape and made.dtype == np.float32
    # The events are still where they were: the produced track follows the dry one, plus room tone and hiss.
    assert np.corrcoef(made, dry)[0, 1] > 0.9
    tone = room_tone_hz(plan.production)
    assert _band_power(made - dry, tone - 3, tone + 3) > 100 * _band_power(made - dry, tone + 50, tone + 150)


def test_synth_writes_productions_into_titles_and_refuses_them_for_downstream_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (path,) = synthesize_corpus(
        tmp_path / "m", "movie", titles=1, minutes=0.1, width=64, height=48, productions=True
    )
    with av.open(str(path)) as container:
        summary = json.loads(container.metadata["comment"])
    (plan,) = plan_corpus("movie", 1, 0.1, productions=True)
    assert summary["production"] == {"grade_hue": plan.production.grade_hue, "age": plan.production.age}
    (plain,) = synthesize_corpus(tmp_path / "p", "movie", titles=1, minutes=0.1, width=64, height=48)
    with av.open(str(plain)) as container:
        assert "production" not in json.loads(container.metadata["comment"])
    code = synth.main([str(tmp_path / "d"), "--kind", "esc50", "--productions"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--productions" in err[0] and "esc50" in err[0]
    assert not (tmp_path / "d").exists()
