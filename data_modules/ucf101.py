"""UCF101 in its official layout: ``UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` plus ``ucfTrainTestlist/``.

``classInd.txt`` holds ``<1-based id> <Class>``; ``trainlist0N.txt`` holds ``<Class>/<file>.avi <1-based id>``;
``testlist0N.txt`` holds ``<Class>/<file>.avi`` (the label comes from the folder via classInd). Every check names
the file and line at fault, because a silently mislabelled split would poison every number of the table.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_modules.downstream import VideoSplitDataModule
from data_modules.splits import LayoutError, Sample, SplitSamples, read_lines

DATASET = "UCF101"
VIDEO_DIR = "UCF-101"
LIST_DIR = "ucfTrainTestlist"
CLASS_INDEX = "classInd.txt"
# The per-split list names; ``.format(split=s)`` for s in SPLITS.
TRAIN_LIST = "trainlist0{split}.txt"
TEST_LIST = "testlist0{split}.txt"
SPLITS = (1, 2, 3)
HINT = (
    f"Expected the official UCF101 layout: <root>/{VIDEO_DIR}/<Class>/<video>.avi and "
    f"<root>/{LIST_DIR}/{{classInd,trainlist0N,testlist0N}}.txt."
)


def _read_class_index(path: Path, problems: list[str]) -> dict[str, tuple[int, int]]:
    """Class name -> (1-based id, line number) from classInd.txt."""
    classes: dict[str, tuple[int, int]] = {}
    ids: dict[int, int] = {}
    for number, text in read_lines(path):
        fields = text.split()
        if len(fields) != 2 or not fields[0].isdigit():
            problems.append(f"{path}:{number}: expected '<1-based id> <ClassName>', got {text!r}")
            continue
        class_id, name = int(fields[0]), fields[1]
        if name in classes:
            problems.append(f"{path}:{number}: class {name!r} repeats line {classes[name][1]}")
            continue
        if class_id in ids:
            problems.append(f"{path}:{number}: id {class_id} repeats line {ids[class_id]}")
            continue
        classes[name] = (class_id, number)
        ids[class_id] = number
    if not classes:
        problems.append(f"{path}: no classes listed")
    elif sorted(ids) != list(range(1, len(ids) + 1)):
        missing = sorted(set(range(1, max(ids) + 1)) - set(ids))
        problems.append(f"{path}: ids must run 1..{len(ids)} without gaps; missing {missing[:10]}")
    return classes


def _read_list(
    path: Path,
    video_dir: Path,
    classes: dict[str, tuple[int, int]],
    class_index: Path,
    with_labels: bool,
    problems: list[str],
) -> dict[str, tuple[int, int]]:
    """Relative video path -> (0-based label, line number) of one train or test list."""
    listing: dict[str, set[str]] = {}
    entries: dict[str, tuple[int, int]] = {}
    form = "'<Class>/<video>.avi <1-based id>'" if with_labels else "'<Class>/<video>.avi'"
    for number, text in read_lines(path):
        where = f"{path}:{number}"
        fields = text.split()
        parts = fields[0].split("/") if fields else []
        if len(fields) != (2 if with_labels else 1) or len(parts) != 2 or not all(parts):
            problems.append(f"{where}: expected {form}, got {text!r}")
            continue
        folder, name = parts
        if folder not in classes:
            problems.append(f"{where}: class folder {folder!r} is not listed in {class_index}")
            continue
        class_id, class_line = classes[folder]
        if with_labels:
            if not fields[1].isdigit():
                problems.append(f"{where}: label {fields[1]!r} is not a 1-based class id")
                continue
            if int(fields[1]) != class_id:
                problems.append(
                    f"{where}: label {fields[1]} disagrees with {class_index}:{class_line}, "
                    f"which gives {folder!r} id {class_id}"
                )
                continue
        if folder not in listing:
            folder_path = video_dir / folder
            listing[folder] = set(os.listdir(folder_path)) if folder_path.is_dir() else set()
        if name not in listing[folder]:
            problems.append(f"{where}: no file {video_dir / folder / name}")
            continue
        if fields[0] in entries:
            problems.append(f"{where}: {fields[0]} repeats line {entries[fields[0]][1]}")
            continue
        entries[fields[0]] = (class_id - 1, number)
    return entries


def parse_ucf101(root: str | os.PathLike, split: int) -> SplitSamples:
    """Train and test samples of official split ``split`` (1-3); labels are classInd ids minus one."""
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"UCF101 split must be 1, 2 or 3, got {split}")
    video_dir = root / VIDEO_DIR
    list_dir = root / LIST_DIR
    class_index = list_dir / CLASS_INDEX
    train_list = list_dir / TRAIN_LIST.format(split=split)
    test_list = list_dir / TEST_LIST.format(split=split)
    missing = [str(p) for p in (video_dir, class_index, train_list, test_list) if not p.exists()]
    if missing:
        raise LayoutError(DATASET, root, [f"missing {p}" for p in missing], HINT)
    problems: list[str] = []
    classes = _read_class_index(class_index, problems)
    if problems:
        raise LayoutError(DATASET, root, problems, HINT)
    train = _read_list(train_list, video_dir, classes, class_index, True, problems)
    test = _read_list(test_list, video_dir, classes, class_index, False, problems)
    for rel, (_, test_line) in test.items():
        if rel in train:
            problems.append(
                f"{rel} is in both {train_list}:{train[rel][1]} and {test_list}:{test_line} (split {split})"
            )
    if not problems and not train:
        problems.append(f"{train_list}: no training videos listed")
    if not problems and not test:
        problems.append(f"{test_list}: no test videos listed")
    if problems:
        raise LayoutError(DATASET, root, problems, HINT)
    names = [name for name, _ in sorted(classes.items(), key=lambda item: item[1][0])]

    def samples(entries: dict[str, tuple[int, int]]) -> list[Sample]:
        return [Sample(video_dir / rel, label, Path(rel).stem) for rel, (label, _) in entries.items()]

    return SplitSamples(train=samples(train), test=samples(test), classes=names)


class UCF101DataModule(VideoSplitDataModule):
    """UCF101 action recognition (video encoder), one of the three official splits.

    Constructor arguments: see ``VideoSplitDataModule``; ``root`` is the folder holding ``UCF-101/`` and
    ``ucfTrainTestlist/`` (default: the ``UCF101_ROOT`` environment variable).
    """

    dataset_name = DATASET
    env_var = "UCF101_ROOT"
    expected_layout = f"{VIDEO_DIR}/ and {LIST_DIR}/"
    modality = "video"

    def parse(self, root: Path) -> SplitSamples:
        return parse_ucf101(root, self.split)
