"""Scheduling: who is on screen, where, and when they act or talk, for a whole title or one downstream clip.

All randomness comes from ``numpy.random.SeedSequence`` keyed by (seed, kind code, index, ...), so a title
depends only on its own key: titles can be planned and encoded in any order, in any process, and come out the
same. A title is one or two characters, who recur over its whole length, and a few sets. It is told in scenes of
tens of seconds, as films are: a scene stays on one set (never the previous scene's) and its characters do two
kinds of action in it. Scenes make up acts of a few minutes, and each act after the first moves to sets of its
own with a taste in actions of its own. So clips close in time share place, ambience and activity, clips in one
act share its places and business, and clips in different acts share only the characters: the structure that
makes a narrow window's negatives harder than a wide one's, at every width up to the title's. A shot
shows one character, who acts most of the time; events and syllables never overlap, so at any moment at most one
character makes a sound and the sound can be attributed to what is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from data_modules.synthetic.actions import EVENT_CLASSES
from data_modules.synthetic.production import Production, random_production
from data_modules.synthetic.world import (
    Character,
    Event,
    Placement,
    SceneStyle,
    Shot,
    Syllable,
    TitlePlan,
    random_character,
    random_scene,
)

# Part of every seed key, so a movie, a TV show and each downstream set never share a random stream.
KIND_CODES: dict[str, int] = {"movie": 1, "tv": 2, "ucf101": 101, "hmdb51": 51, "esc50": 50}

CHARACTERS_PER_TITLE = (1, 2)
"""Fewest and most characters of a title (or show), inclusive. Few, so that the clips of one title look and sound
alike and only where (the set) and what happens in them tells them apart: the hard negatives the (k, w) policy is
about."""

SETS_PER_TITLE = (3, 5)
"""Fewest and most scene styles (sets) of a title (or show), inclusive: enough that a title's scenes move between
places and a set comes back after others, as in a film."""

SCENE_SECONDS = (20.0, 60.0)
"""Shortest and longest scene: a window of 64 slots of 0.5 s stays inside one or two scenes, an act spans
several."""

ACT_SECONDS = (150.0, 210.0)
"""Shortest and longest act (its last scene may run past it). An act holds 3 to 10 scenes, so a window of 256
slots of 0.5 s (128 s) stays inside one or two acts, and one of 512 spans about half of an 8-minute title of two
to four: windows of hundreds of slots still differ from the whole title, as in a film the paper's widest window
(2048 slots of 2 s) does. A title of 150 s or less (the demo's 1.5 minutes, a smoke TV episode) is one act."""

ACTIONS_PER_SCENE = 2
"""Kinds of event in one scene, drawn from the title's taste: nearby clips tend to show the same kind of thing."""

CAST_PER_SHOT = 1
"""Characters on screen in a shot: one, so that what is heard can only come from what is seen."""

EVENT_SHARE = 0.9
"""Chance that the next thing in a shot is an event rather than a line of speech: most clips hold an event."""


def seeded_rng(*key: int) -> np.random.Generator:
    """The generator of one key; different keys give independent streams."""
    return np.random.default_rng(np.random.SeedSequence(list(key)))


@dataclass(frozen=True)
class _World:
    """What a title (or a whole show) shares: characters, sets, who appears how often, taste in actions."""

    characters: tuple[Character, ...]
    scenes: tuple[SceneStyle, ...]
    prominence: np.ndarray
    action_taste: np.ndarray


def _set_count(rng: np.random.Generator) -> int:
    """How many sets a title (or show) has, and each later act brings."""
    return int(rng.integers(SETS_PER_TITLE[0], SETS_PER_TITLE[1] + 1))


def _sets(rng: np.random.Generator, count: int, prefix: str) -> tuple[SceneStyle, ...]:
    """``count`` fresh sets named ``<prefix>/scene<i>``."""
    return tuple(random_scene(rng, f"{prefix}/scene{i}") for i in range(count))


def _taste(rng: np.random.Generator) -> np.ndarray:
    """A taste in actions (a title's, or an act's): how often each kind of event is picked for a scene."""
    return rng.dirichlet(np.full(len(EVENT_CLASSES), 2.0))


def _make_world(rng: np.random.Generator, prefix: str) -> _World:
    """A few characters (a lead appears most), a few scene styles and the title's own taste in actions."""
    n_chars = int(rng.integers(CHARACTERS_PER_TITLE[0], CHARACTERS_PER_TITLE[1] + 1))
    n_scenes = _set_count(rng)
    characters = tuple(random_character(rng, f"{prefix}/char{i}") for i in range(n_chars))
    scenes = _sets(rng, n_scenes, prefix)
    prominence = 1.0 / np.arange(1, n_chars + 1) ** 0.8
    return _World(characters, scenes, prominence / prominence.sum(), _taste(rng))


def _act(rng: np.random.Generator, prefix: str) -> tuple[tuple[SceneStyle, ...], np.ndarray]:
    """The sets and the taste in actions of an act after the first: new places, new business, as a film moves on."""
    scenes = _sets(rng, _set_count(rng), prefix)
    return scenes, _taste(rng)


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


def _other_than(rng: np.random.Generator, n: int, previous: int) -> int:
    """A uniform index in [0, n) other than ``previous`` (any when n == 1 or there is none yet)."""
    if n == 1:
        return 0
    pick = int(rng.integers(n - 1 if previous >= 0 else n))
    return pick + 1 if 0 <= previous <= pick else pick


def _schedule(
    rng: np.random.Generator, world: _World, seconds: float, act_rng: np.random.Generator, name: str
) -> tuple[tuple[Shot, ...], tuple[Event, ...], tuple[Syllable, ...], tuple[SceneStyle, ...]]:
    """Acts of ``ACT_SECONDS``, each a run of scenes of ``SCENE_SECONDS`` cut into shots of 3-8 s, with events and
    syllables, covering [0, seconds); also the sets that acts after the first brought in.

    The acts' lengths, sets and tastes come from ``act_rng``, apart from the stream that schedules the scenes, so
    a title of one act is scheduled exactly as it would be without acts."""
    shots: list[Shot] = []
    events: list[Event] = []
    syllables: list[Syllable] = []
    added: list[SceneStyle] = []
    n_chars = len(world.characters)
    sets, offset, taste = len(world.scenes), 0, world.action_taste
    act, act_end = 1, act_rng.uniform(*ACT_SECONDS)
    t = 0.0
    place = -1
    while t < seconds:
        if t >= act_end:
            act += 1
            scenes, taste = _act(act_rng, f"{name}/act{act}")
            sets, offset, place = len(scenes), len(world.scenes) + len(added), -1
            added.extend(scenes)
            act_end = t + act_rng.uniform(*ACT_SECONDS)
        scene_end = min(seconds, t + rng.uniform(*SCENE_SECONDS))
        if seconds - scene_end < SCENE_SECONDS[0] / 2:
            scene_end = seconds
        place = _other_than(rng, sets, place)
        activity = rng.choice(len(EVENT_CLASSES), size=ACTIONS_PER_SCENE, replace=False, p=taste)
        while t < scene_end:
            end = min(scene_end, t + rng.uniform(3.0, 8.0))
            if scene_end - end < 1.5:
                end = scene_end
            size = min(CAST_PER_SHOT, n_chars)
            members = [int(c) for c in rng.choice(n_chars, size=size, replace=False, p=world.prominence)]
            shots.append(Shot(round(t, 4), round(end, 4), offset + place, _placements(rng, members)))
            _fill_shot(
                rng,
                t,
                end,
                members,
                lambda kinds=activity: int(rng.choice(kinds)),
                members,
                EVENT_SHARE,
                events,
                syllables,
            )
            t = end
    return tuple(shots), tuple(events), tuple(syllables), tuple(added)


def _title(
    name: str,
    seconds: float,
    key: tuple[int, ...],
    world: _World,
    scenes: np.random.Generator,
    production: Production | None,
    show: str | None = None,
) -> TitlePlan:
    """One title of ``world``, its scenes drawn from ``scenes`` and its acts from the key's own stream."""
    shots, events, syllables, added = _schedule(scenes, world, seconds, seeded_rng(*key, 2), name)
    return TitlePlan(
        name,
        seconds,
        key,
        world.characters,
        world.scenes + added,
        shots,
        events,
        syllables,
        show=show,
        production=production,
    )


def plan_corpus(
    kind: str,
    titles: int,
    minutes: float,
    seed: int = 0,
    episodes_per_show: int = 3,
    productions: bool = False,
) -> list[TitlePlan]:
    """The plans of every title of a corpus, in file order; each depends only on (seed, kind, its index).

    ``productions`` gives every movie, and every TV show (its episodes share it), a ``Production`` drawn from a
    stream of its own, so everything else in the plans is what it is without them."""
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
    code = KIND_CODES[kind]
    for index in range(titles):
        if kind == "movie":
            name, key = f"movie_{index:03d}", (seed, code, index)
            made = random_production(seeded_rng(*key, 3)) if productions else None
            world = _make_world(seeded_rng(*key, 0), name)
            plans.append(_title(name, seconds, key, world, seeded_rng(*key, 1), made))
            continue
        show = f"Show{index + 1:02d}"
        world = _make_world(seeded_rng(seed, code, index, 0), show)
        made = random_production(seeded_rng(seed, code, index, 0, 3)) if productions else None
        for episode in range(1, episodes_per_show + 1):
            key = (seed, code, index, episode)
            name = f"{show}/S01E{episode:02d}"
            plans.append(_title(name, seconds, key, world, seeded_rng(*key), made, show))
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
