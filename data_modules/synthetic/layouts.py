"""UCF101, HMDB51 and ESC-50 in their official layouts, so the real readers parse the synthetic sets unchanged.

Every clip is a fresh random character on a fresh random set performing one event class two or three times,
sometimes beside a talking distractor, plus camera noise: the same signatures as in the corpus, so pretraining
transfers. The folder, list and csv names are the readers' own constants (``data_modules.ucf101``, ``hmdb51``,
``esc50``), so writer and reader cannot disagree about a layout. The readers are imported where a set is
written, not at module level: they pull in torch and Lightning, which ``tvssl synth`` and the corpus encoder
processes otherwise never load.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from data_modules.atomic_write import write_atomic
from data_modules.synthetic.actions import EVENT_CLASSES
from data_modules.synthetic.audio import render_audio
from data_modules.synthetic.plans import KIND_CODES, plan_clip, seeded_rng
from data_modules.synthetic.world import random_character, random_scene
from data_modules.synthetic.writer import write_avi, write_wav


def _check_classes(classes: int) -> list[int]:
    """The first ``classes`` actions of the vocabulary; a downstream class is always one event class."""
    if not 1 <= classes <= len(EVENT_CLASSES):
        raise ValueError(f"classes must be 1..{len(EVENT_CLASSES)} (the event vocabulary), got {classes}")
    return list(range(classes))


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
    from data_modules import ucf101

    if groups < 3:
        raise ValueError(f"groups must be >= 3 (three splits test on disjoint groups), got {groups}")
    if clips_per_group < 1:
        raise ValueError(f"clips_per_group must be >= 1, got {clips_per_group}")
    root = Path(root)
    actions = _check_classes(classes)
    names = sorted(EVENT_CLASSES[a].capitalize() for a in actions)
    code = KIND_CODES["ucf101"]
    written: list[Path] = []
    files: dict[str, list[tuple[int, str]]] = {}
    for label, name in enumerate(names):
        action = EVENT_CLASSES.index(name.lower())
        files[name] = []
        for g in range(1, groups + 1):
            group_rng = seeded_rng(seed, code, action, g)
            actor = random_character(group_rng, f"g{g:02d}-actor")
            scene = random_scene(group_rng, f"g{g:02d}-set")
            for c in range(1, clips_per_group + 1):
                rng = seeded_rng(seed, code, action, g, c)
                plan = plan_clip(action, seconds, rng, character=actor, scene=scene)
                file = f"v_{name}_g{g:02d}_c{c:02d}.avi"
                path = root / ucf101.VIDEO_DIR / name / file
                write_avi(path, plan, width, height, fps, rng, 44100 if label % 2 == 0 else None)
                files[name].append((g, file))
                written.append(path)
    lists = root / ucf101.LIST_DIR
    write_atomic(lists / ucf101.CLASS_INDEX, "".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    per_split = groups // len(ucf101.SPLITS)
    for split in ucf101.SPLITS:
        test_groups = set(range((split - 1) * per_split + 1, split * per_split + 1))
        train = [
            f"{n}/{f} {i + 1}\n" for i, n in enumerate(names) for g, f in files[n] if g not in test_groups
        ]
        test = [f"{n}/{f}\n" for n in names for g, f in files[n] if g in test_groups]
        write_atomic(lists / ucf101.TRAIN_LIST.format(split=split), "".join(train))
        write_atomic(lists / ucf101.TEST_LIST.format(split=split), "".join(test))
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
    from data_modules import hmdb51

    if clips_per_class < 4:
        raise ValueError(
            f"clips_per_class must be >= 4 (train, test and unused in every split), got {clips_per_class}"
        )
    actions = _check_classes(classes)
    root = Path(root)
    code = KIND_CODES["hmdb51"]
    written: list[Path] = []
    split_dir = root / hmdb51.SPLIT_DIR
    for action in actions:
        name = EVENT_CLASSES[action]
        videos = []
        for c in range(clips_per_class):
            rng = seeded_rng(seed, code, action, c)
            plan = plan_clip(action, seconds, rng)
            video = f"synth{c // 3:02d}_{name}_f_cm_np{1 + c % 3}_fr_med_{c % 3}.avi"
            path = root / name / video
            write_avi(path, plan, width, height, fps, rng, None)
            written.append(path)
            videos.append(video)
        for split in hmdb51.SPLITS:
            rng = seeded_rng(seed, code, 1000 + split, action)
            order = rng.permutation(clips_per_class)
            unused = max(1, clips_per_class // 10)
            used = clips_per_class - unused
            n_test = max(1, round(0.3 * used))
            tags = np.ones(clips_per_class, dtype=int)
            tags[order[:unused]] = 0
            tags[order[unused : unused + n_test]] = 2
            lines = "".join(f"{v} {t} \n" for v, t in zip(videos, tags))
            write_atomic(split_dir / f"{name}{hmdb51.SPLIT_SUFFIX.format(split=split)}", lines)
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
    from data_modules import esc50

    n_folds = len(esc50.FOLDS)
    if clips_per_class < n_folds:
        raise ValueError(f"clips_per_class must be >= {n_folds} (one per fold), got {clips_per_class}")
    targets = _check_classes(classes)
    root = Path(root)
    code = KIND_CODES["esc50"]
    audio_dir = root / esc50.AUDIO_DIR
    rows: list[list[str]] = []
    written: list[Path] = []
    for target in targets:
        for c in range(clips_per_class):
            fold = esc50.FOLDS[c % n_folds]
            src = 100000 + 10000 * target + (c // (2 * n_folds)) * n_folds + c % n_folds
            take = "AB"[(c // n_folds) % 2]
            rng = seeded_rng(seed, code, target, c)
            plan = plan_clip(target, seconds, rng)
            filename = f"{fold}-{src}-{take}-{target}.wav"
            path = audio_dir / filename
            write_wav(path, render_audio(plan, sample_rate, int(round(seconds * sample_rate))), sample_rate)
            written.append(path)
            rows.append(
                [filename, str(fold), str(target), EVENT_CLASSES[target], str(target < 2), str(src), take]
            )
    rows.sort(key=lambda r: r[0])
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(esc50.HEADER)
    writer.writerows(rows)
    write_atomic(root / esc50.META_CSV, table.getvalue())
    return written


def split_files(kind: str, root: str | os.PathLike, classes: int = 5) -> list[Path]:
    """The list/meta files (not media) that ``synthesize_<kind>(root, classes=...)`` writes.

    ``tvssl synth`` records them beside the media, so a rerun knows which files are its own.
    """
    root = Path(root)
    if kind == "ucf101":
        from data_modules import ucf101

        lists = root / ucf101.LIST_DIR
        names = [ucf101.CLASS_INDEX] + [
            template.format(split=s)
            for template in (ucf101.TRAIN_LIST, ucf101.TEST_LIST)
            for s in ucf101.SPLITS
        ]
        return [lists / n for n in names]
    if kind == "hmdb51":
        from data_modules import hmdb51

        split_dir = root / hmdb51.SPLIT_DIR
        return [
            split_dir / f"{EVENT_CLASSES[a]}{hmdb51.SPLIT_SUFFIX.format(split=s)}"
            for a in range(classes)
            for s in hmdb51.SPLITS
        ]
    if kind == "esc50":
        from data_modules import esc50

        return [root / esc50.META_CSV]
    raise ValueError(f"kind must be 'ucf101', 'hmdb51' or 'esc50', got {kind!r}")


def _write_set(task: tuple[str, Path, dict]) -> list[Path]:
    """One downstream set in a worker process (module level, so it pickles under spawn)."""
    kind, root, kwargs = task
    writer = {"ucf101": synthesize_ucf101, "hmdb51": synthesize_hmdb51, "esc50": synthesize_esc50}[kind]
    return writer(root, **kwargs)


def synthesize_downstream(
    root: str | os.PathLike,
    seed: int = 0,
    classes: int = 5,
    clips: int | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: int | None = None,
    workers: int = 1,
    on_set_written: Callable[[Path], None] | None = None,
) -> dict[str, list[Path]]:
    """All three downstream sets, under ``root/ucf101``, ``root/hmdb51`` and ``root/esc50``.

    ``clips`` (per class) sizes all three alike: HMDB51 and ESC-50 get that many clips per class, UCF101 that
    many in groups of two (at least six groups, a multiple of three so the three splits test on equal blocks).
    None keeps each set's small default. ``width`` / ``height`` size the video clips (None: each set's
    default), ``fps`` their frame rate (None: UCF101 25, HMDB51 30). ``workers`` > 1 writes the sets in parallel processes; the files do not depend on it.
    ``on_set_written`` gets each set's folder as it is finished (a progress bar's unit: the sets take minutes).
    """
    root = Path(root)
    size = {k: v for k, v in (("width", width), ("height", height), ("fps", fps)) if v is not None}
    if clips is None:
        ucf: dict[str, int] = {}
        per_class: dict[str, int] = {}
    else:
        ucf = {"groups": max(6, clips // 2 // 3 * 3), "clips_per_group": 2}
        per_class = {"clips_per_class": clips}
    common = {"classes": classes, "seed": seed}
    tasks = [
        ("ucf101", root / "ucf101", {**common, **ucf, **size}),
        ("hmdb51", root / "hmdb51", {**common, **per_class, **size}),
        ("esc50", root / "esc50", {**common, **per_class}),
    ]
    done = on_set_written or (lambda _: None)
    written: dict[str, list[Path]] = {}
    if workers <= 1:
        for task in tasks:
            written[task[0]] = _write_set(task)
            done(task[1])
    else:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)), mp_context=get_context("spawn")
        ) as pool:
            futures = {pool.submit(_write_set, task): task for task in tasks}
            for future in as_completed(futures):
                written[futures[future][0]] = future.result()
                done(futures[future][1])
    return {task[0]: written[task[0]] for task in tasks}
