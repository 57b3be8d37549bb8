"""The synthetic generator: files decode as specified, are deterministic, keep the paper's structure
(recurring characters, shows sharing them, sight and sound in sync); downstream sets match official layouts.
"""

from __future__ import annotations

import colorsys
import csv
import hashlib
import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from data_modules.media import probe
from data_modules.synthetic import (
    EVENT_CLASSES,
    Voice,
    event_sound,
    plan_clip,
    plan_corpus,
    pose,
    render_audio,
    render_frames,
    synthesize_corpus,
    synthesize_downstream,
    synthesize_esc50,
    synthesize_hmdb51,
    synthesize_ucf101,
)
from data_modules.synthetic.plans import (
    ACT_SECONDS,
    ACTIONS_PER_SCENE,
    CAST_PER_SHOT,
    CHARACTERS_PER_TITLE,
    SCENE_SECONDS,
    SETS_PER_TITLE,
    _make_world,
    _schedule,
    seeded_rng,
)
from data_modules.synthetic.world import TitlePlan
from tvssl.commands import synth

W, H, FPS, SR = 96, 64, 16, 16000


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    return frames, audio


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_title_has_the_promised_streams_duration_and_keyframes(tmp_path: Path) -> None:
    (path,) = synthesize_corpus(tmp_path, "movie", titles=1, minutes=0.1, width=W, height=H, gop_seconds=2)
    assert path == tmp_path / "movie_000.mp4"
    info = probe(path)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert (info.sample_rate, info.channels) == (SR, 1)
    assert info.start == 0 and info.duration == Fraction(6)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        keys = [
            float(p.pts * stream.time_base) for p in c.demux(stream) if p.is_keyframe and p.pts is not None
        ]
        summary = json.loads(c.metadata["comment"])
    assert keys == [0.0, 2.0, 4.0]
    assert (
        summary["name"] == "movie_000"
        and CHARACTERS_PER_TITLE[0] <= len(summary["characters"]) <= CHARACTERS_PER_TITLE[1]
    )
    frames, audio = _decode(path)
    assert frames.shape == (6 * FPS, H, W, 3)
    assert audio.size >= 6 * SR


def test_tv_layout_and_episodes_of_a_show_share_characters_and_scenes(tmp_path: Path) -> None:
    plans = plan_corpus("tv", titles=2, minutes=1, seed=3, episodes_per_show=2)
    assert [p.name for p in plans] == ["Show01/S01E01", "Show01/S01E02", "Show02/S01E01", "Show02/S01E02"]
    show1, show1b, show2, _ = plans
    assert show1.characters == show1b.characters and show1.scenes == show1b.scenes
    assert show1.shots != show1b.shots  # same world, different story
    assert {c.voice for c in show1.characters}.isdisjoint({c.voice for c in show2.characters})
    used = {p.character for s in show1.shots for p in s.cast} | {
        p.character for s in show1b.shots for p in s.cast
    }
    assert used == set(range(len(show1.characters)))  # the show's characters recur across its episodes

    paths = synthesize_corpus(
        tmp_path, "tv", titles=2, minutes=0.05, seed=3, width=W, height=H, episodes_per_show=2
    )
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [f"{p.name}.mp4" for p in plans]
    meta = []
    for path in paths:
        with av.open(str(path)) as c:
            meta.append(json.loads(c.metadata["comment"]))
    assert meta[0]["show"] == meta[1]["show"] == "Show01" and meta[2]["show"] == "Show02"
    assert meta[0]["characters"] == meta[1]["characters"] != meta[2]["characters"]


def _scenes(plan: TitlePlan) -> list[tuple[int, float, float]]:
    """(set, start, end) of each run of shots on one set: consecutive scenes never share a set."""
    runs: list[list[float]] = []
    for shot in plan.shots:
        if runs and runs[-1][0] == shot.scene:
            runs[-1][2] = shot.end
        else:
            runs.append([shot.scene, shot.start, shot.end])
    return [(int(s), a, b) for s, a, b in runs]


def _act_of(plan: TitlePlan, scene: int) -> int:
    """The act a set belongs to: 1 for the title's own sets, N for those named ``<title>/actN/...``."""
    parts = plan.scenes[scene].name.split("/")
    return int(parts[-2][3:]) if parts[-2].startswith("act") else 1


def test_movies_have_their_own_characters_and_are_told_in_scenes_and_acts() -> None:
    seconds = 480.0
    plans = plan_corpus("movie", titles=8, minutes=seconds / 60, seed=0)
    voices = [{c.voice for c in p.characters} for p in plans]
    assert all(a.isdisjoint(b) for i, a in enumerate(voices) for b in voices[i + 1 :])
    assert {len(p.characters) for p in plans} <= set(
        range(CHARACTERS_PER_TITLE[0], CHARACTERS_PER_TITLE[1] + 1)
    )
    per_act = set()
    for plan in plans:
        assert all(1.5 <= s.end - s.start <= 9.5 for s in plan.shots[:-1])
        assert all(len(shot.cast) == CAST_PER_SHOT for shot in plan.shots)
        scenes = _scenes(plan)
        lengths = [b - a for _, a, b in scenes]
        assert all(SCENE_SECONDS[0] <= n <= SCENE_SECONDS[1] for n in lengths[:-1])
        assert SCENE_SECONDS[0] / 2 <= lengths[-1] <= SCENE_SECONDS[1] + SCENE_SECONDS[0] / 2
        places = [s for s, _, _ in scenes]
        assert len(set(places)) >= 3 and len(places) > len(set(places))  # places change and come back
        for _, start, end in scenes:
            kinds = {e.action for e in plan.events if start <= e.start < end}
            assert len(kinds) <= ACTIONS_PER_SCENE  # a scene does one or two kinds of thing
        assert len({e.action for e in plan.events}) > ACTIONS_PER_SCENE  # the title does more
        # acts: runs of scenes, each on sets of its own (the first on the title's), in order, of ACT_SECONDS
        acts = [_act_of(plan, s) for s in places]
        assert acts == sorted(acts) and acts[0] == 1 and 2 <= acts[-1] <= 4
        starts = [next(a for (_, a, _), n in zip(scenes, acts) if n == act) for act in range(1, acts[-1] + 1)]
        spans = np.diff([*starts, seconds])
        assert all(ACT_SECONDS[0] <= n <= ACT_SECONDS[1] + SCENE_SECONDS[1] for n in spans[:-1])
        for act in range(1, acts[-1] + 1):
            own = [i for i in range(len(plan.scenes)) if _act_of(plan, i) == act]
            per_act.add(len(own))
            used = {s for s, n in zip(places, acts) if n == act}
            assert used <= set(own) and (len(used) >= 2 or act == acts[-1])  # places change within an act
        # the characters recur in every part of the title
        halves = [
            {p.character for s in plan.shots if (s.start < seconds / 2) == first for p in s.cast}
            for first in (True, False)
        ]
        assert halves[0] == halves[1] == set(range(len(plan.characters)))
        # someone acts for about half the title (events of about 1 s, gaps of 0.3-0.9 s), talks now and then
        assert sum(e.duration for e in plan.events) >= 0.4 * seconds and plan.shots[-1].end == seconds
    assert per_act == set(range(SETS_PER_TITLE[0], SETS_PER_TITLE[1] + 1))


def test_a_title_of_one_act_is_scheduled_as_without_acts() -> None:
    """The acts draw from a stream of their own: while the first act outlasts the title, other act draws
    change nothing (the demo's 1.5-minute titles and the smoke TV episodes are one act each)."""
    world = _make_world(seeded_rng(0, 1, 0, 0), "t")
    for seconds in (90.0, ACT_SECONDS[0]):
        plans = [_schedule(seeded_rng(0, 1, 0, 1), world, seconds, seeded_rng(a), "t") for a in range(5)]
        assert all(p == plans[0] for p in plans) and plans[0][3] == ()
    longer = [_schedule(seeded_rng(0, 1, 0, 1), world, 480.0, seeded_rng(a), "t") for a in range(2)]
    assert longer[0][3] and longer[0] != longer[1]


def test_same_seed_same_content_other_seed_other_content(tmp_path: Path) -> None:
    kwargs = {"titles": 1, "minutes": 0.05, "width": W, "height": H}
    (a,) = synthesize_corpus(tmp_path / "a", "movie", seed=5, **kwargs)
    (b,) = synthesize_corpus(tmp_path / "b", "movie", seed=5, workers=2, **kwargs)
    (c,) = synthesize_corpus(tmp_path / "c", "movie", seed=6, **kwargs)
    fa, sa = _decode(a)
    fb, sb = _decode(b)
    fc, sc = _decode(c)
    assert np.array_equal(fa, fb) and np.array_equal(sa, sb)
    assert _digest(a) == _digest(b)  # single-threaded encoders: byte-identical files
    assert not np.array_equal(fa, fc) and not np.array_equal(sa[: sc.size], sc[: sa.size])


def _frame_signals(frames: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame i: mean absolute change since frame i-1, and audio RMS over [(i-1)/fps, i/fps)."""
    n = len(frames)
    motion = np.zeros(n)
    motion[1:] = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    hop = SR // FPS
    rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1))
    energy = np.zeros(n)
    energy[1:] = rms[:-1]
    return motion, energy


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(np.float64)


def test_sight_and_sound_change_together_at_the_scheduled_times(tmp_path: Path) -> None:
    (path,) = synthesize_corpus(tmp_path, "movie", titles=1, minutes=0.5, seed=1, width=W, height=H)
    (plan,) = plan_corpus("movie", titles=1, minutes=0.5, seed=1)
    frames, audio = _decode(path)
    motion, energy = _frame_signals(frames, audio)
    n = len(frames)
    usable = np.ones(n, bool)
    usable[0] = False
    for shot in plan.shots:  # a cut changes every pixel: not an event
        k = int(np.ceil(shot.start * FPS))
        usable[max(0, k - 1) : k + 2] = False
    # The schedule says when someone acts or talks; both modalities must light up then, and not elsewhere.
    shown = np.zeros(n, bool)
    times = np.arange(n) / FPS
    for item in (*plan.events, *plan.syllables):
        shown |= (times >= item.start) & (times < item.start + item.duration)
    active = shown | np.roll(shown, 1)  # motion i and energy i span frames i-1 and i
    assert active[usable].mean() > 0.2 and (~active[usable]).mean() > 0.2
    assert energy[usable & active].mean() > 4 * energy[usable & ~active].mean()
    assert motion[usable & active].mean() > 2 * motion[usable & ~active].mean()

    # And the decoded streams agree with each other: their rank correlation peaks with no time shift.
    def corr(lag: int) -> float:
        i = np.arange(max(0, -lag), min(n, n - lag))
        i = i[usable[i] & usable[i + lag]]
        return float(np.corrcoef(_ranks(motion[i]), _ranks(energy[i + lag]))[0, 1])

    scores = {lag: corr(lag) for lag in range(-16, 17)}
    assert max(scores, key=scores.get) in (-1, 0, 1)
    assert scores[0] > 0.4 and max(scores[-16], scores[16]) < scores[0] / 2


@pytest.mark.parametrize("action", range(len(EVENT_CLASSES)), ids=EVENT_CLASSES)
def test_every_event_class_shows_and_sounds_when_performed(action: int) -> None:
    plan = plan_clip(action, 2.5, np.random.default_rng(action), distractor=False)
    event = plan.events[0]
    assert event.action == action and event.start >= 0.15
    frames = np.stack(list(render_frames(plan, W, H, FPS)))
    audio = render_audio(plan, SR)
    motion, energy = _frame_signals(frames, audio)
    first, last = int(np.ceil(event.start * FPS)), int(np.ceil((event.start + event.duration) * FPS))
    before = slice(1, first)
    during = slice(first + 1, last)
    assert energy[during].mean() > 2.5 * energy[before].mean()
    assert motion[during].mean() > 3 * motion[before].mean()


def _min_pairwise_distance(rows: list[np.ndarray]) -> float:
    x = np.array(rows)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def test_event_classes_have_distinct_visual_and_sound_signatures() -> None:
    """Each class is recognisable by itself: its pose trace and its loudness + pitch trace unlike the rest."""
    poses = []
    for name in EVENT_CLASSES:
        trace = [pose(name, u) for u in np.linspace(0, 1, 33)]
        poses.append(
            np.array([(p.dx, p.dy, p.angle, p.scale, p.whiten, p.visible, p.split) for p in trace]).ravel()
        )
    assert _min_pairwise_distance(poses) > 1.0

    voice = Voice(f0=300.0, harmonics=(1.0,), vibrato_rate=5.0, vibrato_depth=0.0, fm_ratio=0.0, fm_index=0.0)
    sounds = []
    for name in EVENT_CLASSES:
        windows = event_sound(name, voice, 1.0, SR, np.random.default_rng(0)).reshape(40, -1)
        loudness = np.sqrt((windows**2).mean(1))
        loudness /= loudness.max()
        spectrum = np.abs(np.fft.rfft(windows * np.hanning(windows.shape[1]), n=8192, axis=1))
        peak = np.fft.rfftfreq(8192, 1 / SR)[spectrum.argmax(1)]
        sounds.append(np.concatenate([loudness, np.log2(np.maximum(peak, 1) / 300) * (loudness > 0.1)]))
    assert _min_pairwise_distance(sounds) > 1.0


def test_ucf101_layout_lists_and_group_splits(tmp_path: Path) -> None:
    paths = synthesize_ucf101(
        tmp_path, classes=3, clips_per_group=2, groups=3, width=64, height=48, seconds=2.0
    )
    assert len(paths) == 3 * 3 * 2
    lists = tmp_path / "ucfTrainTestlist"
    index = [line.split() for line in (lists / "classInd.txt").read_text().splitlines()]
    assert [i for i, _ in index] == ["1", "2", "3"] and [n for _, n in index] == sorted(n for _, n in index)
    ids = {name: int(i) for i, name in index}
    for path in paths:
        assert re.fullmatch(r"v_([A-Za-z]+)_g(\d\d)_c(\d\d)\.avi", path.name)
        assert path.parent.name in ids and path.parent.parent == tmp_path / "UCF-101"
    with_audio = set()
    for path in paths:
        with av.open(str(path)) as c:
            assert c.format.name == "avi" and c.streams.video[0].codec_context.name == "mpeg4"
            assert (c.streams.video[0].width, c.streams.video[0].height) == (64, 48)
            if c.streams.audio:
                assert c.streams.audio[0].codec_context.name == "mp2"
                with_audio.add(path.parent.name)
    assert 0 < len(with_audio) < 3
    for split in (1, 2, 3):
        train = [line.split() for line in (lists / f"trainlist0{split}.txt").read_text().splitlines()]
        test = [line.split() for line in (lists / f"testlist0{split}.txt").read_text().splitlines()]
        assert all(len(f) == 2 and int(f[1]) == ids[f[0].split("/")[0]] for f in train)
        assert all(len(f) == 1 for f in test)
        for rel in [f[0] for f in train + test]:
            assert (tmp_path / "UCF-101" / rel).is_file()
        train_groups = {re.search(r"_g(\d\d)_", f[0]).group(1) for f in train}
        test_groups = {re.search(r"_g(\d\d)_", f[0]).group(1) for f in test}
        assert train_groups and test_groups and train_groups.isdisjoint(test_groups)
        assert test_groups == {f"{split:02d}"}
        assert len(train) + len(test) == len(paths)


def test_hmdb51_layout_without_audio_and_tagged_splits(tmp_path: Path) -> None:
    paths = synthesize_hmdb51(tmp_path, classes=2, clips_per_class=10, width=64, height=48, seconds=2.0)
    classes = sorted({p.parent.name for p in paths})
    assert classes == sorted(EVENT_CLASSES[:2])
    for path in paths:
        with av.open(str(path)) as c:
            assert c.format.name == "avi" and len(c.streams.video) == 1 and not c.streams.audio
    for name in classes:
        videos = {p.name for p in paths if p.parent.name == name}
        for split in (1, 2, 3):
            text = (tmp_path / "testTrainMulti_7030_splits" / f"{name}_test_split{split}.txt").read_text()
            rows = [line.split() for line in text.splitlines()]
            assert {r[0] for r in rows} == videos and all(len(r) == 2 for r in rows)
            tags = [r[1] for r in rows]
            assert set(tags) == {"0", "1", "2"} and tags.count("1") > tags.count("2")


def test_esc50_layout_csv_and_balanced_folds(tmp_path: Path) -> None:
    paths = synthesize_esc50(tmp_path, classes=2, clips_per_class=10)
    with open(tmp_path / "meta" / "esc50.csv", newline="") as handle:
        assert handle.readline() == "filename,fold,target,category,esc10,src_file,take\n"
    with open(tmp_path / "meta" / "esc50.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["filename"] for r in rows) == sorted(p.name for p in paths)
    for row in rows:
        assert row["filename"] == f"{row['fold']}-{row['src_file']}-{row['take']}-{row['target']}.wav"
        assert row["category"] == EVENT_CLASSES[int(row["target"])]
    for target in ("0", "1"):
        folds = [r["fold"] for r in rows if r["target"] == target]
        assert sorted(folds) == sorted(["1", "2", "3", "4", "5"] * 2)
    sources = {}
    for row in rows:
        assert (
            sources.setdefault(row["src_file"], row["fold"]) == row["fold"]
        )  # takes of a source share a fold
    with av.open(str(paths[0])) as c:
        stream = c.streams.audio[0]
        assert not c.streams.video
        assert (stream.codec_context.name, stream.sample_rate, stream.channels) == ("pcm_s16le", 44100, 1)
        assert sum(f.samples for f in c.decode(stream)) == 5 * 44100


@pytest.mark.slow
def test_downstream_sets_parse_with_the_datamodule_readers(tmp_path: Path) -> None:
    ucf = pytest.importorskip("data_modules.ucf101")
    hmdb = pytest.importorskip("data_modules.hmdb51")
    esc = pytest.importorskip("data_modules.esc50")
    synthesize_ucf101(
        tmp_path / "u", classes=2, clips_per_group=1, groups=3, width=64, height=48, seconds=2.0
    )
    synthesize_hmdb51(tmp_path / "h", classes=2, clips_per_class=4, width=64, height=48, seconds=2.0)
    synthesize_esc50(tmp_path / "e", classes=2, clips_per_class=5)
    for split in (1, 2, 3):
        assert ucf.parse_ucf101(tmp_path / "u", split).test
        assert hmdb.parse_hmdb51(tmp_path / "h", split).test
    assert len(esc.parse_esc50(tmp_path / "e", 1).test) == 2


def test_cli_refuses_a_foreign_folder_and_keeps_its_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    args = [str(out), "--titles", "1", "--minutes", "0.05", "--width", "64", "--height", "48"]
    assert synth.main(args) == 2
    assert "not made by tvssl synth" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
    assert synth.main([*args, "--force"]) == 0
    assert (out / "thesis.txt").read_text() == "precious" and (out / "movie_000.mp4").is_file()


def test_cli_writes_marker_reruns_and_prints_the_next_command(tmp_path: Path, capsys) -> None:
    out = tmp_path / "corpus"
    base = [str(out), "--kind", "tv", "--minutes", "0.05", "--width", "64", "--height", "48"]
    assert synth.main([*base, "--titles", "2", "--episodes", "2", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"tvssl index {out} --out {out / 'manifest.csv'}" in printed
    marker = json.loads((out / synth.MARKER).read_text())
    assert marker["complete"] and marker["params"]["kind"] == "tv"
    assert marker["files"] == [
        "Show01/S01E01.mp4",
        "Show01/S01E02.mp4",
        "Show02/S01E01.mp4",
        "Show02/S01E02.mp4",
    ]
    # A rerun into its own folder is allowed and removes titles the new run no longer makes.
    assert synth.main([*base, "--titles", "1", "--episodes", "1"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == ["Show01/S01E01.mp4"]


def test_cli_rerun_of_a_downstream_set_drops_stale_classes_and_bad_settings_leave_no_trace(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "hmdb"
    base = [str(out), "--kind", "hmdb51", "--clips", "4", "--width", "32", "--height", "32"]
    assert synth.main([*base, "--classes", "2"]) == 0
    splits = out / "testTrainMulti_7030_splits"
    assert len(list(splits.iterdir())) == 6 and (out / EVENT_CLASSES[1]).is_dir()
    assert synth.main([*base, "--classes", "1"]) == 0  # the reader must not see a class without videos
    assert sorted(p.name for p in splits.iterdir()) == [
        f"{EVENT_CLASSES[0]}_test_split{s}.txt" for s in (1, 2, 3)
    ]
    assert not (out / EVENT_CLASSES[1]).exists()

    fresh = tmp_path / "fresh"
    assert synth.main([str(fresh), "--width", "63"]) == 2
    assert "even" in capsys.readouterr().err and not fresh.exists()


def test_how_a_character_or_set_sounds_follows_from_how_it_looks() -> None:
    """The cross-modal regularity pretraining can learn: the same rule in every title, not a per-title pairing."""
    from data_modules.synthetic import SHAPES, random_character, random_scene

    rng = np.random.default_rng(11)
    characters = [random_character(rng, f"c{i}") for i in range(200)]
    hues = np.array([colorsys.rgb_to_hsv(*(c / 255 for c in ch.color))[0] for ch in characters])
    pitch = np.log(np.array([ch.voice.f0 for ch in characters]))
    assert np.corrcoef(hues, pitch)[0, 1] > 0.95
    for ch in characters:
        assert (SHAPES.index(ch.shape) % 2 == 0) == bool(ch.voice.harmonics)
        assert ch.voice.vibrato_rate == pytest.approx(2.4 * ch.pattern_freq)
    scenes = [random_scene(rng, f"s{i}") for i in range(200)]
    top_hue = np.array([colorsys.rgb_to_hsv(*(c / 255 for c in s.top))[0] for s in scenes])
    cutoff = np.array([s.noise_cutoff for s in scenes])
    assert np.corrcoef(top_hue, cutoff)[0, 1] > 0.99
    brightness = np.array([max(s.top) / 255 for s in scenes])
    assert np.corrcoef(brightness, [s.noise_slope for s in scenes])[0, 1] < -0.99


def test_downstream_sets_written_in_parallel_are_the_same_files(tmp_path: Path) -> None:
    kwargs = {"seed": 2, "classes": 2, "clips": 6, "width": 32, "height": 24}
    finished: dict[str, list[Path]] = {"one": [], "two": []}
    one = synthesize_downstream(tmp_path / "one", on_set_written=finished["one"].append, **kwargs)
    two = synthesize_downstream(tmp_path / "two", workers=2, on_set_written=finished["two"].append, **kwargs)
    assert list(one) == list(two) == ["ucf101", "hmdb51", "esc50"]
    # Each set is reported once, when its files are all there (in the order the workers finish them).
    for name, sets in finished.items():
        assert sorted(sets) == sorted(tmp_path / name / kind for kind in one)
    for kind in one:
        assert [p.relative_to(tmp_path / "one") for p in one[kind]] == [
            p.relative_to(tmp_path / "two") for p in two[kind]
        ]
        assert [_digest(p) for p in one[kind]] == [_digest(p) for p in two[kind]]
    with av.open(str(one["hmdb51"][0])) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (32, 24)
