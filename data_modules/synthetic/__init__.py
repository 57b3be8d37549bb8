"""Synthetic long-form titles and downstream sets that behave like the real thing, made in seconds.

The paper's premise is that a title is a closed world: the same characters and sets recur for its whole
length, so negatives drawn from one title are hard, and what is seen and heard corresponds in time. The
generator reproduces exactly that structure, at toy scale, so every stage of the suite can run end to end
without licensed media, and so that an encoder pretrained on it has something real to learn.

Generative model (all randomness from ``numpy.random.SeedSequence`` keyed by seed, kind and title):

* **Characters** (1-2 per title; per show for TV, so episodes of a show share them). A character is a visual
  motif -- a shape (circle, square, diamond, triangle, ring, cross) filled with a two-colour pattern
  (stripes, checker, dots, halves) in its own colours, 22-30 % of the frame height across -- and a voice: a
  timbre with its own pitch (140-700 Hz), either harmonic (random harmonic weights + vibrato) or FM
  (carrier:modulator ratio, index). Characters have a prominence, so a lead appears more often than the rest.
* **Sets** (3-5 scene styles per title/show, and 3-5 more per later act): a backdrop (two-colour gradient
  at an angle, a texture -- stripes, checker, blobs, grain -- and a floor line) and an ambience (coloured
  noise with its own spectral slope, low-pass cutoff and level, plus a mains-like hum).
* **Scenes**: the title is told in scenes of 20-60 s; a scene stays on one set (never the previous scene's)
  and its events are two kinds of action drawn from the title's taste. A scene is cut into shots of 3-8 s,
  each showing one character. So clips close in time share place, ambience and activity, while the
  characters recur over the whole length.
* **Acts**: scenes run in acts of 150-210 s; each act after the first brings 3-5 sets of its own and a taste in
  actions of its own (the characters stay), so clips in one act share more than clips minutes apart. Titles of
  150 s or less are one act.
* **Events** (nine in ten of the things a shot holds; speech the rest): the character performs an action of
  the fixed global vocabulary ``EVENT_CLASSES`` for 0.8-1.2 s. Each action has a visual signature (a pose as a
  function of phase u in [0, 1]: jump arc, two turns, flash to white that also lights the set, swell, fast
  shake, split in two, three bounces, two blinks, slide away and back, rocking) and a matching sound made with
  the performer's voice (rising pitch, sawtooth sweeps, percussive burst, crescendo with sub-octave, rattle at
  the shake's extremes, two diverging voices, a pulse at each ground contact, beeps while invisible, falling
  glide, warble at the rocking rate). Picture and sound share the phase, so they correspond frame by frame.
  Each title has its own taste in actions.
* **Speech**: between events cast members "talk": runs of syllables of their voice; the speaker pulses (size
  and brightness follow the syllable envelope), so even quiet stretches carry audio-visual synchrony. Events
  and syllables never overlap: at any moment at most one character makes a sound.
* **Productions** (optional, ``productions=True``; per title, per show for TV): a colour grade and film age in
  the picture (tint, lifted blacks, grain) and a room tone and recording age in the sound (hiss, lost treble),
  the sound following from the picture by one rule. Shared by every clip of a title, so they tell titles apart
  and never clips of one title; the downstream clips have none.

The downstream sets (UCF101, HMDB51, ESC-50 in their official layouts) are short clips in which a fresh
random character on a fresh random scene performs one event class two or three times, sometimes with a
talking distractor, plus pixel noise: the same signatures as in the corpus, so pretraining transfers.
(UCF101 clips of one group share actor and set, which is why its splits are by group.)

One concept per module:

* ``actions``: the event vocabulary, each action's pose and sound side by side (``ACTIONS``, ``EVENT_CLASSES``);
* ``world``: characters, scene styles and the plan data (``TitlePlan`` and its parts);
* ``plans``: seeding and scheduling (``plan_corpus``, ``plan_clip``);
* ``production``: a title's production, and grading a frame and mastering a track through it;
* ``video`` / ``audio``: rendering a plan to frames / to a soundtrack;
* ``writer``: encoding and muxing (H.264/AAC mp4, MPEG-4 avi, PCM wav);
* ``corpus``: long-form corpora (``synthesize_corpus``);
* ``layouts``: the official downstream layouts (``synthesize_ucf101`` and friends).

Rendering is vectorised numpy (each character is stamped into its bounding box), so a 160x96, 16 fps minute
takes about one CPU-second; encoding is libx264 ultrafast with 3 B-frames (as films have), one thread, a
fixed keyframe interval (default 2 s, so slot seeks are cheap) and AAC audio, which makes a seed's files
byte-identical across runs.
"""

from __future__ import annotations

from data_modules.synthetic.actions import ACTIONS, EVENT_CLASSES, FLASH_GLOW, Action, Pose, pose
from data_modules.synthetic.audio import event_sound, render_audio
from data_modules.synthetic.corpus import synthesize_corpus
from data_modules.synthetic.layouts import (
    split_files,
    synthesize_downstream,
    synthesize_esc50,
    synthesize_hmdb51,
    synthesize_ucf101,
)
from data_modules.synthetic.plans import plan_clip, plan_corpus
from data_modules.synthetic.production import Production, random_production
from data_modules.synthetic.video import render_frames
from data_modules.synthetic.world import (
    PATTERNS,
    SHAPES,
    TEXTURES,
    Character,
    Event,
    Placement,
    SceneStyle,
    Shot,
    Syllable,
    TitlePlan,
    Voice,
    random_character,
    random_scene,
)
from data_modules.synthetic.writer import write_title

__all__ = [
    "ACTIONS",
    "EVENT_CLASSES",
    "FLASH_GLOW",
    "PATTERNS",
    "SHAPES",
    "TEXTURES",
    "Action",
    "Character",
    "Event",
    "Placement",
    "Pose",
    "Production",
    "SceneStyle",
    "Shot",
    "Syllable",
    "TitlePlan",
    "Voice",
    "event_sound",
    "plan_clip",
    "plan_corpus",
    "pose",
    "random_character",
    "random_production",
    "random_scene",
    "render_audio",
    "render_frames",
    "split_files",
    "synthesize_corpus",
    "synthesize_downstream",
    "synthesize_esc50",
    "synthesize_hmdb51",
    "synthesize_ucf101",
    "write_title",
]
